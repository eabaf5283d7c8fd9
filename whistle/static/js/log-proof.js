// log-proof.js: the follow-up page checks, in the browser, that the report is in the
// committee's public log (docs/transparency-log.md). From the receipt's lookup token it
// computes the log commitment only the receipt holder can compute (crypto/FORMAT.md §2),
// fetches the intake entry and its inclusion proof, and verifies the entry, the proof, the
// checkpoint's signature and the witnesses' cosignatures against the keys the transparency
// page publishes. Nothing is stored; the result is a sentence and a text to keep.
import * as wc from "/static/js/whistle-crypto.js";
import * as tlog from "/static/js/tlog-verify.js";

const LABEL = "whistle/v1/log-commitment";
const DAY_SECONDS = 86400;

/** The log commitment of a 32-byte lookup token: b64u(derive(lookup, label)). */
export function commitmentOf(lookup) {
  return wc.b64u(wc.derive(lookup, LABEL));
}

async function fetchJSON(path) {
  const response = await fetch(path, { credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

/**
 * Check the log for the report of `lookup` (bytes). Resolves to one of
 *   {state: "pending"} | {state: "missing"} | {state: "unsigned", day} |
 *   {state: "verified", day, index, size, witnesses: [names], witnessed: bool, text} |
 *   {state: "failed", text}
 * `text` is what the reporter keeps for the superior body: commitment, entry, proof and the
 * checkpoint with its cosignatures, each as the server sent it.
 */
export async function checkReport(lookup) {
  await tlog.ready();
  const commitment = commitmentOf(lookup);
  const answer = await fetchJSON(`/log/intake?commitment=${encodeURIComponent(commitment)}`);
  if (answer === null) return { state: "missing" };
  if (answer.status === "pending") return { state: "pending" };
  if (!answer.checkpoint) return { state: "unsigned", day: answer.day };
  const text = [
    `commitment: ${commitment}`, `entry index: ${answer.index}`, `entry: ${answer.entry}`,
    `tree size: ${answer.size}`, `inclusion proof: ${answer.proof.join(" ")}`, "checkpoint:", answer.checkpoint,
  ].join("\n");
  try {
    const published = await fetchJSON("/transparency/audit-head.json");
    const log = (published && published.log) || {};
    const witnesses = (log.witnesses || []).map((w) => tlog.parseVkey(w.vkey));
    let opened = null;
    for (const vkey of log.vkeys || []) {
      try {
        opened = tlog.openCheckpoint(answer.checkpoint, tlog.parseVkey(vkey), witnesses, 0);
        break;
      } catch (_) { /* another key of the committee, perhaps */ }
    }
    if (!opened) throw new tlog.VerifyError();
    const entryBytes = tlog.unb64(answer.entry);
    const entry = JSON.parse(new TextDecoder().decode(entryBytes));
    if (entry.action !== "intake" || !entry.detail || entry.detail.commitment !== commitment) {
      throw new tlog.VerifyError();
    }
    const size = opened.checkpoint.size;
    if (size !== answer.size) throw new tlog.VerifyError();
    tlog.verifyInclusion(tlog.leafHash(entryBytes), answer.index, size,
      answer.proof.map((h) => tlog.unb64(h)), opened.checkpoint.root);
    const now = Date.now() / 1000;
    const fresh = Object.entries(opened.cosignatures)
      .filter(([, t]) => now - t <= (log.max_age_days || 7) * DAY_SECONDS).map(([name]) => name);
    return { state: "verified", day: entry.day, index: answer.index, size, witnesses: fresh,
      witnessed: fresh.length >= (log.quorum || 0) && fresh.length > 0, text };
  } catch (_) {
    return { state: "failed", text };
  }
}
