// Follow-up in the browser: the receipt code is stretched here and never sent. Only the
// derived lookup token goes to the server; replies are opened with the derived key pair.
import * as wc from "/static/js/whistle-crypto.js";
import { getJSON, postJSON, postSubmission, ApiError, setStatus } from "/static/js/api.js";
import { proofOfWork } from "/static/js/pow.js";
import { saveAttachment } from "/static/js/attachments.js";
import { checkReport } from "/static/js/log-proof.js";
import { watchFiles } from "/static/js/scrub-ui.js";
import { downloadLabel } from "/static/js/filesize.js";

const codeForm = document.getElementById("code-form");
const strings = document.getElementById("case-strings");
let session = null; // { locator, lookup, keys } for this page only, never stored

function fill(template, slots) {
  const node = document.getElementById(template).content.cloneNode(true);
  for (const [name, value] of Object.entries(slots)) {
    const el = node.querySelector(`[data-slot="${name}"]`);
    if (el) el.textContent = value; // text only: nothing from a message is parsed as HTML
  }
  return node;
}

async function openCase(code) {
  const salt = await getJSON(`/api/v1/receipts/${code.locator}/salt`);
  let saltBytes;
  try {
    saltBytes = wc.unb64u(salt.salt);
  } catch (_) {
    saltBytes = null;
  }
  // A cost below the site's floor is refused before anything is derived or sent.
  wc.checkReceiptCost(saltBytes, salt.opslimit, salt.memlimit);
  const keys = await wc.deriveReporterKeys(code.digits, saltBytes, salt.opslimit, salt.memlimit);
  session = { locator: code.locator, lookup: wc.b64u(keys.lookup), keys };
  let view;
  try {
    view = await loadCase();
  } catch (err) {
    await showDeletedCase(keys.lookup);
    throw err;
  }
  showLog(document.querySelector('#case-area [data-slot="log"]'), keys.lookup);
  return view;
}

function logSentence(result) {
  const d = strings.dataset;
  const day = (template) => template.replace("{day}", result.day);
  if (result.state === "verified") {
    const witnesses = result.witnessed
      ? d.logWitnessed.replace("{names}", result.witnesses.join(", ")) : d.logUnwitnessed;
    return `${day(d.logVerified)} ${witnesses}`;
  }
  return { pending: d.logPending, unsigned: day(d.logUnsigned || ""), missing: d.logMissing,
    failed: d.logFailed }[result.state];
}

// The log check runs after the case is shown: a slow or failing log never hides the case.
async function showLog(section, lookup) {
  if (!section) return;
  let result;
  try {
    result = await checkReport(lookup);
  } catch (_) {
    result = { state: "failed" };
  }
  section.querySelector('[data-slot="log-result"]').textContent = logSentence(result);
  if (result.text) {
    section.querySelector('[data-slot="log-text"]').value = result.text;
    section.querySelector('[data-slot="log-keep"]').hidden = false;
  }
}

// No case for this receipt: if the log still has its report, say so, with the proof.
async function showDeletedCase(lookup) {
  let result;
  try {
    result = await checkReport(lookup);
  } catch (_) {
    return;
  }
  if (result.state !== "verified" && result.state !== "unsigned") return;
  const box = document.getElementById("log-deleted");
  box.querySelector('[data-slot="log-result"]').textContent = strings.dataset.logDeleted.replace("{day}", result.day);
  box.querySelector('[data-slot="log-text"]').value = result.text || "";
  box.hidden = false;
}

function credentials() {
  return { locator: session.locator, lookup: session.lookup };
}

async function loadCase() {
  const view = await postJSON("/api/v1/followup", credentials());
  render(view);
  return view;
}

function downloadButton(meta, contentKey) {
  const node = fill("tpl-file", { download: downloadLabel(meta, strings.dataset) });
  node.querySelector("button").addEventListener("click", async () => {
    await saveAttachment(await postJSON(`/api/v1/followup/attachments/${meta.id}`, credentials()), contentKey, meta);
  });
  return node;
}

/** The timeline's steps, with the deadline of a step not yet taken (as the no-JS page). */
function renderSteps(list, steps) {
  const s = strings.dataset;
  for (const step of steps) {
    const state = step.done ? (step.on ? s.doneOn.replace("{day}", step.on) : s.done) : s.notYet;
    const node = fill("tpl-step", { label: step.label, state, detail: step.detail || "", due: step.due_text || "" });
    const li = node.querySelector("li");
    li.classList.add(step.done ? "done" : (step.current ? "current" : "upcoming"));
    li.dataset.step = step.key;
    if (step.current) li.setAttribute("aria-current", "step");
    if (!step.detail) li.querySelector(".step-detail").remove();
    if (!step.due_text) li.querySelector(".step-due").remove();
    else if (!step.overdue) li.querySelector(".overdue-flag").remove();
    list.appendChild(node);
  }
}

function render(view) {
  const area = document.getElementById("case-area");
  area.replaceChildren(document.getElementById("tpl-case").content.cloneNode(true));
  area.querySelector('[data-slot="status"]').textContent = view.status_label;
  renderSteps(area.querySelector('[data-slot="steps"]'), view.steps);
  const conversation = area.querySelector('[data-slot="conversation"]');
  for (const item of view.items) {
    let opened;
    try {
      opened = wc.openEnvelope(item.envelope, { publicKey: session.keys.publicKey, secretKey: session.keys.secretKey });
    } catch (_) {
      continue; // not readable with this code: never shown
    }
    const who = item.kind === "reply" ? strings.dataset.fromCommittee : strings.dataset.fromYou;
    const node = fill("tpl-message", { who, on: item.on, text: opened.body.text || "" });
    node.querySelector("li").classList.add(item.kind);
    const files = node.querySelector('[data-slot="files"]');
    for (const meta of opened.body.attachments || []) files.appendChild(downloadButton(meta, opened.contentKey));
    conversation.appendChild(node);
  }
  area.querySelector('[data-slot="empty"]').hidden = conversation.children.length > 0;
  const messageForm = area.querySelector('[data-slot="message-form"]');
  if (view.status === "purged") { // nothing added to a purged case could ever be read
    messageForm.hidden = true;
    area.querySelector('[data-slot="message-closed"]').hidden = false;
  }
  const chosen = watchFiles(messageForm.querySelector('input[type="file"]'));
  messageForm.addEventListener("submit", (ev) => sendMessage(ev, view, chosen));
  area.querySelector("#forget-case").addEventListener("click", forgetCase);
  document.getElementById("code-section").hidden = true;
  area.hidden = false;
  area.querySelector("#case-title").focus();
}

/** Drop everything this tab knows of the case: keys, the page's content, the typed code. */
function forgetCase() {
  session = null;
  const area = document.getElementById("case-area");
  area.replaceChildren();
  area.hidden = true;
  codeForm.reset();
  document.getElementById("code").value = "";
  document.getElementById("code-status").textContent = "";
  document.getElementById("code-section").hidden = false;
  document.getElementById("code").focus();
}

async function sendMessage(event, view, chosen) {
  event.preventDefault();
  const form = event.currentTarget;
  const status = form.querySelector('[data-slot="message-status"]');
  const text = form.querySelector("textarea").value.trim();
  const files = Array.from(form.querySelector('input[type="file"]').files || []);
  if (!text && files.length === 0) {
    setStatus(status, form.dataset.msgEmpty, true);
    return;
  }
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  try {
    setStatus(status, form.dataset.msgSealing);
    const contentKey = wc.randomBytes(32);
    const parts = [];
    const attachments = [];
    for (const file of await chosen.prepared()) { // stripped as they were chosen (scrub-ui.js)
      const id = wc.randomId();
      parts.push([id, await wc.encryptFile(wc.attachmentKey(contentKey, id), file.blob)]);
      attachments.push({ id, name: file.name, type: file.type || "application/octet-stream", size: file.blob.size });
    }
    // Sealed to the committee's keys and to this reporter, so the conversation stays readable.
    const send = async (recipients) => {
      const keys = recipients.map((r) => wc.unb64u(r.public_key)).concat([session.keys.publicKey]);
      const sealed = wc.seal("message", { case: view.case }, { text, attachments }, keys, { contentKey });
      const pow = await proofOfWork(); // a small proof of work per message (FORMAT.md §7)
      return postSubmission("/api/v1/followup/messages", Object.assign(credentials(), { envelope: sealed.envelope, pow }), parts);
    };
    try {
      await send(view.recipients);
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== "recipients_changed") throw err;
      // A grant changed since the case was opened: read the recipients again and seal once
      // more (the same text and files), rather than fail the same way on every try.
      view.recipients = (await postJSON("/api/v1/followup", credentials())).recipients;
      await send(view.recipients);
    }
    await loadCase();
    const newStatus = document.querySelector('#case-area [data-slot="message-status"]');
    setStatus(newStatus, form.dataset.msgSent);
  } catch (err) {
    setStatus(status, err instanceof ApiError ? err.message : form.dataset.msgFailed, true);
    button.disabled = false;
  }
}

async function onCodeSubmit(event) {
  event.preventDefault();
  const status = document.getElementById("code-status");
  const input = document.getElementById("code");
  let code;
  await wc.ready();
  try {
    code = wc.ReceiptCode.parse(input.value); // a typo is caught here, before any request
  } catch (_) {
    setStatus(status, codeForm.dataset.msgBadCode, true);
    input.setAttribute("aria-invalid", "true");
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  const button = codeForm.querySelector('button[type="submit"]');
  button.disabled = true;
  setStatus(status, codeForm.dataset.msgOpening);
  try {
    await openCase(code);
    input.value = "";
  } catch (err) {
    const message = err instanceof ApiError ? err.message
      : err instanceof wc.FormatError ? codeForm.dataset.msgWeakCost : strings.dataset.msgNoMatch;
    setStatus(status, message, true);
  } finally {
    button.disabled = false;
  }
}

if (codeForm) {
  codeForm.dataset.enhanced = "true";
  codeForm.addEventListener("submit", onCodeSubmit);
}
