// A custodian discloses an approved identity: this browser opens the identity's content key
// with the custodian's own key and re-seals it to the member who asked. The name itself is
// never decrypted here, and never reaches the server.
import * as wc from "/static/js/whistle-crypto.js";
import { api, requireKey } from "/static/js/committee-keys.js";

const root = document.getElementById("identity-requests");

async function disclose(button, keyPair) {
  const status = button.parentElement.querySelector(".status");
  const t = root.dataset;
  button.disabled = true;
  status.classList.remove("error");
  status.textContent = t.opening;
  try {
    const info = await api(`/committee/api/identity-requests/${button.dataset.request}`);
    let contentKey;
    const mine = wc.kid(keyPair.publicKey);
    if (info.item.envelope.recipients.some((r) => r.kid === mine)) {
      contentKey = wc.openContentKey(info.item.envelope, keyPair);
    } else if (info.item.granted_key) {
      contentKey = wc.openSealedKey(info.item.granted_key, keyPair);
    } else {
      throw new Error(t.unreadable);
    }
    const sealedKey = wc.sealKeyTo(contentKey, wc.unb64u(info.requester.public_key));
    await api(`/committee/api/cases/${info.case}/identity-grant`, {
      method: "POST", json: { request: info.request, sealed_key: sealedKey },
    });
    status.textContent = t.done;
  } catch (err) {
    status.textContent = `${t.failed} ${err instanceof wc.CryptoError ? t.unreadable : (err.message || "")}`;
    status.classList.add("error");
    button.disabled = false;
  }
}

async function main() {
  const buttons = root ? Array.from(root.querySelectorAll("button.disclose")) : [];
  if (buttons.length === 0) return;
  const keyPair = await requireKey();
  for (const button of buttons) button.addEventListener("click", () => disclose(button, keyPair));
}

main();
