// A survey's written answers, decrypted in the member's browser with their own key. The
// server holds only the sealed envelopes; each fetch is recorded in the audit log.
import * as wc from "/static/js/whistle-crypto.js";
import { api, requireKey } from "/static/js/committee-keys.js";

const root = document.getElementById("survey-texts");
const t = root.dataset; // translated strings, rendered by the server
const status = document.getElementById("texts-status");

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text; // text only: answers are never parsed as HTML
  if (cls) node.className = cls;
  return node;
}

async function main() {
  const keyPair = await requireKey();
  status.textContent = t.opening;
  const { envelopes, questions } = await api(`/committee/api/surveys/${root.dataset.survey}/texts`);
  const list = el("ol", undefined, "conversation");
  for (const envelope of envelopes) {
    const li = el("li", undefined, "message");
    try {
      const { body } = wc.openEnvelope(envelope, keyPair);
      for (const answer of Array.isArray(body.answers) ? body.answers : []) {
        if (typeof answer.text !== "string") continue;
        li.append(el("p", questions[String(answer.item)] || "", "meta"), el("div", answer.text, "text"));
      }
    } catch (_) {
      li.append(el("p", t.unreadable, "error"));
    }
    list.append(li);
  }
  root.replaceChildren(envelopes.length ? list : el("p", t.none));
  status.textContent = "";
}

main().catch((err) => {
  status.textContent = `${t.failed} (${err.message || err})`;
  status.classList.add("error");
});
