// A downloaded attachment, decrypted here and handed to the browser as a file: the same for
// a reporter following up (followup.js) and a member reading a case (committee-case.js).
import * as wc from "/static/js/whistle-crypto.js";

const REVOKE_AFTER_MS = 10000; // long enough for the browser to start saving the file

/** Decrypt the ciphertext in ``response`` with the item's content key and offer it as a
 * download named as the sender named it. The plaintext exists only in this page's memory. */
export async function saveAttachment(response, contentKey, meta) {
  const cipher = new Uint8Array(await response.arrayBuffer());
  const plain = wc.decryptStream(wc.attachmentKey(contentKey, meta.id), cipher, meta.size);
  const url = URL.createObjectURL(new Blob([plain], { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = meta.name || "attachment";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
}
