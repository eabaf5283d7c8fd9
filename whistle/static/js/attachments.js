// A downloaded attachment, decrypted here: the same for a reporter following up (followup.js)
// and a member reading a case (committee-case.js, which shows it safely first: safe-view.js).
import * as wc from "/static/js/whistle-crypto.js";

const REVOKE_AFTER_MS = 10000; // long enough for the browser to start saving the file

/** The plaintext of the ciphertext in ``response``, opened with the item's content key. It
 * exists only in this page's memory. */
export async function decryptAttachment(response, contentKey, meta) {
  const cipher = new Uint8Array(await response.arrayBuffer());
  return wc.decryptStream(wc.attachmentKey(contentKey, meta.id), cipher, meta.size);
}

/** Hand ``plain`` to the browser as a download named ``name``, typed as opaque bytes. */
export function offerDownload(plain, name) {
  const url = URL.createObjectURL(new Blob([plain], { type: "application/octet-stream" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
}

/** Decrypt and offer the attachment named as the sender named it (the reporter's own files
 * and the committee's replies, on the follow-up page). */
export async function saveAttachment(response, contentKey, meta) {
  offerDownload(await decryptAttachment(response, contentKey, meta), meta.name || "attachment");
}
