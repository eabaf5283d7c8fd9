// Enrolment: the member's key pair is created here; the private half leaves this browser
// only wrapped under a passphrase the server never sees.
import * as wc from "/static/js/whistle-crypto.js";

const form = document.getElementById("enrol-form");
const FINGERPRINT_ITEM = "whistle-enrol-fingerprint";

async function onSubmit(event) {
  if (form.dataset.needsKey !== "true" || form.dataset.keyReady === "true") return;
  event.preventDefault();
  const status = document.getElementById("enrol-status");
  const pass = form.querySelector("#key_passphrase").value;
  if (pass.length < 12 || pass !== form.querySelector("#key_passphrase2").value) {
    status.textContent = form.dataset.msgPassphrase;
    status.classList.add("error");
    return;
  }
  if (pass === form.querySelector("#password").value) {
    status.textContent = form.dataset.msgSame;
    status.classList.add("error");
    return;
  }
  status.classList.remove("error");
  status.textContent = form.dataset.msgWorking;
  await wc.ready();
  const pair = wc.generateKeyPair();
  const wrapped = await wc.wrapPrivateKey(pair, pass, {
    opslimit: Number(form.dataset.opslimit), memlimit: Number(form.dataset.memlimit) });
  form.querySelector('input[name="public_key"]').value = wc.b64u(pair.publicKey);
  form.querySelector('input[name="wrapped_key"]').value = wrapped;
  // The page after enrolment shows this, computed here from the key this browser made, for
  // the new member to read to the colleague who confirms them.
  sessionStorage.setItem(FINGERPRINT_ITEM, wc.fingerprint(pair.publicKey));
  // The key passphrase fields carry no name: they are never submitted.
  form.dataset.keyReady = "true";
  form.submit(); // validation already passed: this submit event was the one it let through
}

if (form) form.addEventListener("submit", onSubmit);

// After enrolment: show the browser's own fingerprint; if the server names another key, say so.
const shown = document.getElementById("fingerprint");
const computed = sessionStorage.getItem(FINGERPRINT_ITEM);
if (shown && computed) {
  sessionStorage.removeItem(FINGERPRINT_ITEM);
  shown.textContent = computed;
  if (shown.dataset.server !== computed) document.getElementById("fingerprint-mismatch").hidden = false;
}
