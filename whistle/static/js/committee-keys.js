// The member's private key in the browser. It is unlocked with the member's passphrase
// (never sent anywhere) and then kept in sessionStorage sealed under a random key that only
// the server-side session holds: logging out or timing out locks it for good.
import * as wc from "/static/js/whistle-crypto.js";

const STORE = "whistle.member-key";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/** fetch() for the committee API: same origin, CSRF header, errors as exceptions. */
export async function api(path, { method = "GET", json, form } = {}) {
  const headers = { "X-CSRFToken": csrfToken() };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  const response = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  if (!response.ok) {
    let info = {};
    try { info = await response.json(); } catch (_) { /* keep empty */ }
    const err = new Error(info.message || response.statusText);
    err.status = response.status;
    throw err;
  }
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response;
}

async function sessionKey() {
  const { key } = await api("/committee/api/session-key", { method: "POST" });
  return wc.unb64u(key);
}

/** The unlocked key pair, or null if the member has not unlocked it in this session. */
export async function unlockedKey() {
  await wc.ready();
  const sealed = sessionStorage.getItem(STORE);
  if (!sealed) return null;
  try {
    const secretKey = wc.secretOpen(sealed, await sessionKey());
    const publicKey = (await wc.ready()).crypto_scalarmult_base(secretKey);
    return { publicKey, secretKey };
  } catch (_) {
    sessionStorage.removeItem(STORE); // a previous session's key: useless now
    return null;
  }
}

/** Unlock with the passphrase; throws CryptoError on a wrong one. */
export async function unlock(passphrase) {
  await wc.ready();
  const me = await api("/committee/api/me");
  if (!me.wrapped_key) throw new Error("no key");
  const pair = await wc.unwrapPrivateKey(me.wrapped_key, passphrase);
  sessionStorage.setItem(STORE, wc.secretSeal(pair.secretKey, await sessionKey()));
  return pair;
}

/** Forget the unlocked key in this tab. */
export function lock() {
  sessionStorage.removeItem(STORE);
}

/** Wire the unlock form of the committee layout; resolves with the key pair once unlocked. */
export async function requireKey() {
  const pair = await unlockedKey();
  if (pair) return pair;
  const section = document.getElementById("unlock");
  const form = document.getElementById("unlock-form");
  const status = document.getElementById("unlock-status");
  section.hidden = false;
  form.querySelector("input").focus();
  return new Promise((resolve) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      status.textContent = form.dataset.msgWorking;
      status.classList.remove("error");
      try {
        const unlocked = await unlock(form.querySelector("input").value);
        form.reset();
        section.hidden = true;
        status.textContent = "";
        resolve(unlocked);
      } catch (_) {
        status.textContent = form.dataset.msgWrong;
        status.classList.add("error");
      }
    });
  });
}

// Logging out clears the tab's copy too (the server forgets the session key anyway).
for (const form of document.querySelectorAll("form.logout")) form.addEventListener("submit", lock);
