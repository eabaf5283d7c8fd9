// Answers a survey from this browser: written answers are sealed here (envelope kind
// "survey", crypto/FORMAT.md §3) to the committee and the survey's owning unit, closed
// answers travel as small integers, and a small proof of work goes with them (§7).
// Without JavaScript the same form posts to the server, which seals in memory instead.
import * as wc from "/static/js/whistle-crypto.js";
import { getJSON, postJSON, ApiError, setStatus } from "/static/js/api.js";
import { proofOfWork } from "/static/js/pow.js";

const form = document.getElementById("survey-form");

/** Closed answers {item: value} and whether a bribery question was answered yes. */
function closedAnswers() {
  const answers = {};
  let bribery = false;
  for (const group of form.querySelectorAll("fieldset[data-item]")) {
    const checked = group.querySelector('input[type="radio"]:checked');
    if (!checked) continue;
    const value = Number(checked.value);
    answers[group.dataset.item] = value;
    if (group.dataset.bribery === "true" && value === 1) bribery = true;
  }
  return { answers, bribery };
}

/** Written answers, in item order (the body the server would seal without JavaScript). */
function writtenAnswers() {
  const texts = [];
  for (const area of form.querySelectorAll("textarea[data-item]")) {
    const text = area.value.trim();
    if (text) texts.push({ item: Number(area.dataset.item), text });
  }
  return texts.sort((a, b) => a.item - b.item);
}

async function onSubmit(event) {
  event.preventDefault();
  const status = document.getElementById("survey-status");
  const button = form.querySelector('button[type="submit"]');
  const surveyId = form.dataset.survey;
  const { answers, bribery } = closedAnswers();
  const texts = writtenAnswers();
  if (Object.keys(answers).length === 0 && texts.length === 0) {
    setStatus(status, form.dataset.msgEmpty, true);
    return;
  }
  button.disabled = true;
  setStatus(status, form.dataset.msgWorking);
  try {
    await wc.ready();
    const submission = { answers };
    if (texts.length) {
      const info = await getJSON(`/api/v1/surveys/${surveyId}`);
      const sealed = wc.seal("survey", { survey: surveyId }, { answers: texts },
        info.recipients.map((r) => wc.unb64u(r.public_key)));
      submission.envelope = sealed.envelope;
    }
    submission.pow = await proofOfWork();
    const result = await postJSON(`/api/v1/surveys/${surveyId}/responses`, submission);
    showThanks(Boolean(result.offer_report || bribery));
  } catch (err) {
    setStatus(status, err instanceof ApiError ? err.message : form.dataset.msgFailed, true);
    button.disabled = false;
  }
}

function showThanks(offerReport) {
  form.reset();
  document.getElementById("survey-section").hidden = true;
  document.getElementById("offer-report").hidden = !offerReport;
  const thanks = document.getElementById("survey-thanks");
  thanks.hidden = false;
  thanks.focus();
}

if (form) {
  form.dataset.enhanced = "true";
  form.addEventListener("submit", onSubmit);
}
