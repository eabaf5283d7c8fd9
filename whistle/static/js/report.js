// Seals a report in this browser and sends only ciphertext (crypto/FORMAT.md).
// Without JavaScript the same form posts to the server, which seals it in memory instead.
import * as wc from "/static/js/whistle-crypto.js";
import { postJSON, postSubmission, ApiError, setStatus } from "/static/js/api.js";
import { proofOfWork } from "/static/js/pow.js";
import { watchFiles } from "/static/js/scrub-ui.js";
import { keepReceipt } from "/static/js/receipt.js";

const form = document.getElementById("report-form");
// Files are stripped of hidden metadata as soon as they are chosen (scrub-ui.js).
const chosen = form ? watchFiles(form.querySelector('input[type="file"]')) : null;

/** The clear routing header: enum codes only, exactly what the no-JS path builds. */
function routingHeader(data) {
  const header = { channel: form.dataset.channel };
  for (const name of ["department", "category", "accused_rank", "money_band", "frequency", "evidence"]) {
    header[name] = String(data.get(name) || "");
  }
  if (form.dataset.notice) header.notice = form.dataset.notice; // a comment on a pre-appointment notice
  const accused = String(data.get("accused_member") || "");
  if (accused) header.accused_member = accused; // a committee member named: kept from the case
  return header;
}

/** The optional real name, or null to stay anonymous (same rules as forms.read_identity). */
function identityOf(data) {
  const name = String(data.get("identity_name") || "").trim().slice(0, 100);
  const contact = String(data.get("identity_contact") || "").trim().slice(0, 200);
  if (contact && !name) throw new ApiError(form.dataset.msgNameMissing);
  return name ? { name, contact } : null;
}

/** The sealed body fields (same names and trimming as whistle/reporter/forms.py). */
function reportBody(data) {
  const body = {};
  for (const name of ["accused_name", "accused_post", "period", "place"]) {
    body[name] = String(data.get(name) || "").trim().slice(0, 200);
  }
  body.narrative = String(data.get("narrative") || "").trim();
  return body;
}

function chosenFiles() {
  return Array.from(form.querySelector('input[type="file"]').files || []);
}

function checkFiles(files) {
  if (files.length > Number(form.dataset.maxFiles)) throw new ApiError(form.dataset.msgTooMany);
  for (const f of files) {
    if (f.size > Number(form.dataset.maxFileBytes)) throw new ApiError(form.dataset.msgTooBig);
  }
}

/**
 * Encrypt the files once (they do not depend on the receipt code) and return them with a
 * `seal(reporterPublicKey)` that seals the report for one receipt code: the report binds
 * its reporter's key (FORMAT.md §3, version 2), so it is sealed again for each new code.
 */
async function sealReport(data) {
  const header = routingHeader(data);
  const identity = identityOf(data);
  const { recipients, identity_recipients: identityRecipients } = await postJSON("/api/v1/recipients", header);
  const contentKey = wc.randomBytes(32);
  const parts = [];
  const attachments = [];
  for (const file of await chosen.prepared()) {
    const id = wc.randomId();
    const stream = await wc.encryptFile(wc.attachmentKey(contentKey, id), file.blob);
    parts.push([id, stream]);
    attachments.push({ id, name: file.name, type: file.type || "application/octet-stream", size: file.blob.size });
  }
  const body = Object.assign(reportBody(data), { attachments });
  const seal = (reporterPublicKey) => {
    const sealed = wc.seal("report", wc.bindReporterKey(header, reporterPublicKey), body,
      recipients.map((r) => wc.unb64u(r.public_key)), { contentKey });
    // A real name travels in its own envelope, bound to this report by its nonce and sealed to
    // the committee key and the custodians only: never to the members who handle the report,
    // never to the receipt key (FORMAT.md §3).
    const sealedIdentity = identity === null ? null : wc.seal("identity", { report: sealed.envelope.nonce },
      identity, identityRecipients.map((r) => wc.unb64u(r.public_key))).envelope;
    return { envelope: sealed.envelope, identity: sealedIdentity };
  };
  return { seal, parts };
}

/**
 * Submit under a new receipt code. The server hands out the locator (and a token that lets
 * us use it), so nobody can probe which locators are taken; the secret part of the code is
 * drawn here and never sent. Returns the code and the day the report was received.
 */
async function submitWithNewCode(prepared, status) {
  const { locator, token } = await postJSON("/api/v1/locators", {});
  const code = wc.ReceiptCode.generate(locator);
  const salt = wc.randomBytes(16);
  const opslimit = Number(form.dataset.opslimit);
  const memlimit = Number(form.dataset.memlimit);
  const keys = await wc.deriveReporterKeys(code.digits, salt, opslimit, memlimit);
  const sealed = prepared.seal(keys.publicKey);
  setStatus(status, form.dataset.msgUploading);
  const submission = {
    locator, locator_token: token, salt: wc.b64u(salt), kdf: { opslimit, memlimit },
    lookup: wc.b64u(keys.lookup), reporter_public_key: wc.b64u(keys.publicKey),
    envelope: sealed.envelope,
  };
  if (sealed.identity) submission.identity = sealed.identity;
  submission.pow = await proofOfWork(); // a small proof of work per attempt (FORMAT.md §7)
  const result = await postSubmission("/api/v1/reports", submission, prepared.parts);
  return { code, receivedOn: result.received_on };
}

async function onSubmit(event) {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const status = document.getElementById("report-status");
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    const files = chosenFiles();
    checkFiles(files);
    setStatus(status, form.dataset.msgSealing);
    await wc.ready();
    const prepared = await sealReport(new FormData(form));
    let outcome;
    for (let tries = 0; ; tries++) {
      try {
        outcome = await submitWithNewCode(prepared, status);
        break;
      } catch (err) {
        // 409: someone took the locator after it was handed to us (rare): ask for another.
        if (!(err instanceof ApiError && err.status === 409) || tries >= 3) throw err;
      }
    }
    showReceipt(outcome);
  } catch (err) {
    setStatus(status, err instanceof ApiError ? err.message : form.dataset.msgFailed, true);
    button.disabled = false;
  }
}

function showReceipt({ code, receivedOn }) {
  form.reset();
  chosen.reset();
  document.getElementById("report-section").hidden = true;
  const receipt = document.getElementById("receipt");
  document.getElementById("receipt-code").textContent = code.grouped();
  document.getElementById("receipt-date").textContent = receivedOn;
  receipt.hidden = false;
  keepReceipt();
  receipt.focus();
}

if (form) {
  form.dataset.enhanced = "true";
  form.addEventListener("submit", onSubmit);
}
