// A case, decrypted in the member's browser: the report, the conversation, internal notes,
// attachments; replies and notes are sealed here; a grant re-seals the content keys here.
import * as wc from "/static/js/whistle-crypto.js";
import { api, requireKey } from "/static/js/committee-keys.js";
import { decryptAttachment } from "/static/js/attachments.js";
import { safeView } from "/static/js/safe-view.js";
import { downloadLabel } from "/static/js/filesize.js";

const root = document.getElementById("case-content");
const caseId = root.dataset.case;
const t = root.dataset; // translated strings, rendered by the server
let keyPair;
let view;
const contentKeys = new Map(); // item id -> content key (memory only)

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text; // text only: report content is never parsed as HTML
  if (cls) node.className = cls;
  return node;
}

function contentKeyOf(item) {
  const mine = wc.kid(keyPair.publicKey);
  if (item.envelope.recipients.some((r) => r.kid === mine)) return wc.openContentKey(item.envelope, keyPair);
  if (item.granted_key) return wc.openSealedKey(item.granted_key, keyPair);
  throw new wc.CryptoError();
}

let attachmentsOpened = 0;

/** A button that decrypts the attachment and shows it safely below itself (safe-view.js):
 * never handed to the browser's own viewers, downloaded only after a warning. */
function openButton(meta, contentKey, li) {
  const button = el("button", downloadLabel(meta, t), "link");
  button.type = "button";
  button.addEventListener("click", async () => {
    const plain = await decryptAttachment(await api(`/committee/api/attachments/${meta.id}`), contentKey, meta);
    attachmentsOpened += 1;
    li.querySelector(".safe-view")?.remove();
    li.append(await safeView(plain, meta, t, attachmentsOpened));
  });
  return button;
}

function renderReport(body, contentKey) {
  const section = document.getElementById("report-body");
  section.replaceChildren();
  const dl = el("dl", undefined, "fields");
  for (const [key, label] of [["accused_name", t.accusedName], ["accused_post", t.accusedPost],
    ["period", t.period], ["place", t.place]]) {
    if (!body[key]) continue;
    dl.append(el("dt", label), el("dd", body[key]));
  }
  section.append(dl, el("h3", t.narrative), el("div", body.narrative || "", "text"));
  if ((body.attachments || []).length) section.append(el("h3", t.attachments), fileList(body.attachments, contentKey));
}

function fileList(files, contentKey) {
  const ul = el("ul", undefined, "files");
  for (const meta of files || []) {
    const li = el("li");
    li.append(openButton(meta, contentKey, li));
    ul.append(li);
  }
  return ul;
}

/** Keys a colleague re-sealed to me are checked here, the first time the case opens: the
 * server cannot check them. One that does not open its item is reported (the server flags
 * the grant, the case list shows it, the audit log records it), never passed over. */
function grantedKeyFails(item) {
  const mine = wc.kid(keyPair.publicKey);
  if (!item.granted_key || item.envelope.recipients.some((r) => r.kid === mine)) return false;
  try {
    wc.openBody(item.envelope, wc.openSealedKey(item.granted_key, keyPair));
    return false;
  } catch (_) {
    return true;
  }
}

function render() {
  const conversation = document.getElementById("conversation");
  const notes = document.getElementById("notes");
  conversation.replaceChildren();
  notes.replaceChildren();
  for (const item of view.items) {
    let key;
    let body;
    try {
      key = contentKeyOf(item);
      body = wc.openBody(item.envelope, key);
    } catch (_) {
      const li = el("li", t.unreadable, "message error");
      (item.kind === "note" ? notes : conversation).append(li);
      continue;
    }
    contentKeys.set(item.id, key);
    if (item.kind === "report") {
      renderReport(body, key);
      continue;
    }
    const li = el("li", undefined, `message ${item.kind}`);
    const who = { message: t.fromReporter, reply: t.fromCommittee, note: t.note }[item.kind];
    li.append(el("p", `${who} · ${item.on}`, "meta"), el("div", body.text || "", "text"), fileList(body.attachments, key));
    (item.kind === "note" ? notes : conversation).append(li);
  }
  renderIdentity();
  showReporterKey(reporterKeyCheck());
  document.getElementById("content-status").textContent = "";
  document.getElementById("case-work").hidden = false;
}

/** A real name sealed to this member (custodian) or disclosed to them, in its own section.
 * Shown only if it is bound to this case's report (its header names the report's nonce). */
function renderIdentity() {
  const dl = document.getElementById("identity-body");
  if (!dl) return;
  dl.replaceChildren();
  const report = view.items.find((i) => i.kind === "report");
  for (const item of view.identity || []) {
    let body;
    try {
      body = wc.openBody(item.envelope, contentKeyOf(item));
    } catch (_) {
      dl.append(el("dd", t.unreadable, "error"));
      continue;
    }
    if (!report || item.envelope.header.report !== report.envelope.nonce) {
      dl.append(el("dd", dl.dataset.mismatch, "error"));
      continue;
    }
    dl.append(el("dt", dl.dataset.name), el("dd", body.name || ""),
      el("dt", dl.dataset.contact), el("dd", body.contact || ""));
  }
}

/**
 * Is the reporter key the server gave the one this case's report binds (FORMAT.md §3 v2)?
 * "bound", "unbound" (a version 1 report binds none), "mismatch", or "unverifiable" when the
 * report did not open here: its header is authenticated only by opening it.
 */
function reporterKeyCheck() {
  const report = view.items.find((i) => i.kind === "report");
  if (!report || !contentKeys.has(report.id)) return "unverifiable";
  try {
    return wc.reporterKeyBinding(report.envelope, wc.unb64u(view.reporter_public_key));
  } catch (_) {
    return "mismatch"; // a malformed report or key: nothing to seal a reply to
  }
}

/** The warning above the reply form, in the member's language; hidden when the key is bound. */
function showReporterKey(check) {
  const warning = document.getElementById("reporter-key-warning");
  const text = { mismatch: t.reporterKeyMismatch, unverifiable: t.reporterKeyUnverifiable,
    unbound: t.reporterKeyUnchecked }[check];
  warning.textContent = text || "";
  warning.classList.toggle("error", check === "mismatch" || check === "unverifiable");
  warning.hidden = !text;
}

/** Refuse a reply to a key the report does not bind: say so, send nothing, have it audited. */
async function refuseReply(status, check) {
  showReporterKey(check);
  status.textContent = check === "mismatch" ? t.reporterKeyMismatch : t.reporterKeyUnverifiable;
  status.classList.add("error");
  try {
    await api(`/committee/api/cases/${caseId}/refused-reply`, { method: "POST", json: { reason: `reporter_key_${check}` } });
  } catch (_) {
    // The refusal stands whether or not it could be recorded.
  }
}

async function load() {
  view = await api(`/committee/api/cases/${caseId}`);
  render();
  if (view.items.some(grantedKeyFails)) {
    const status = document.getElementById("content-status");
    status.textContent = t.badKey;
    status.classList.add("error");
    await api(`/committee/api/cases/${caseId}/bad-key`, { method: "POST", json: {} });
  }
}

async function sealAndSend(form, kind) {
  const status = form.querySelector(".status");
  const text = form.querySelector("textarea").value.trim();
  const input = form.querySelector('input[type="file"]');
  const files = input ? Array.from(input.files || []) : [];
  if (!text && files.length === 0) {
    status.textContent = t.empty;
    status.classList.add("error");
    return;
  }
  const check = kind === "reply" ? reporterKeyCheck() : "bound";
  if (check === "mismatch" || check === "unverifiable") {
    await refuseReply(status, check);
    return;
  }
  status.classList.remove("error");
  status.textContent = t.sealing;
  const contentKey = wc.randomBytes(32);
  const fd = new FormData();
  const attachments = [];
  for (const file of files) {
    const id = wc.randomId();
    fd.append(id, await wc.encryptFile(wc.attachmentKey(contentKey, id), file), id);
    attachments.push({ id, name: file.name, type: file.type || "application/octet-stream", size: file.size });
  }
  // Replies reach the reporter (their receipt key) and the case's holders; notes only the holders.
  const recipients = view.recipients.map((r) => wc.unb64u(r.public_key));
  if (kind === "reply") recipients.push(wc.unb64u(view.reporter_public_key));
  const sealed = wc.seal(kind, { case: caseId }, { text, attachments }, recipients, { contentKey });
  fd.append("submission", JSON.stringify({ kind, envelope: sealed.envelope }));
  try {
    await api(`/committee/api/cases/${caseId}/items`, { method: "POST", form: fd });
    form.reset();
    status.textContent = kind === "reply" ? t.replySent : t.noteSaved;
    await load();
  } catch (err) {
    status.textContent = err.message || t.failed;
    status.classList.add("error");
  }
}

async function grant(form) {
  const status = form.querySelector(".status");
  const username = form.querySelector("select").value;
  const { members } = await api(`/committee/api/cases/${caseId}/grantable`);
  const target = members.find((m) => m.username === username);
  if (!target) {
    status.textContent = t.grantRefused;
    status.classList.add("error");
    return;
  }
  const keys = {};
  for (const item of view.items) keys[item.id] = wc.sealKeyTo(contentKeys.get(item.id), wc.unb64u(target.public_key));
  try {
    await api(`/committee/api/cases/${caseId}/grants`, { method: "POST", json: { username, keys } });
    status.classList.remove("error");
    status.textContent = t.granted;
    await load();
  } catch (err) {
    status.textContent = err.status === 403 ? (err.message || t.grantRefused) : (err.message || t.failed);
    status.classList.add("error");
    // Items came in since the page read them: read them again, so the next try seals them too.
    if (err.code === "recipients_changed") await load();
  }
}

async function main() {
  keyPair = await requireKey();
  document.getElementById("content-status").textContent = t.opening;
  await load();
  document.getElementById("reply-form").addEventListener("submit", (e) => { e.preventDefault(); sealAndSend(e.currentTarget, "reply"); });
  document.getElementById("note-form").addEventListener("submit", (e) => { e.preventDefault(); sealAndSend(e.currentTarget, "note"); });
  const grantForm = document.getElementById("grant-form");
  if (grantForm) grantForm.addEventListener("submit", (e) => { e.preventDefault(); grant(e.currentTarget); });
}

main().catch((err) => {
  const status = document.getElementById("content-status");
  status.textContent = `${t.failed} (${err.message || err})`;
  status.classList.add("error");
});
