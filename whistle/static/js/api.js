// Small helpers for the reporter API: JSON and multipart requests, errors in the page's language.

/** An API failure whose message is already translated by the server (or the page). */
export class ApiError extends Error {
  constructor(message, status = 0, code = "") {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function pageLanguage() {
  const lang = new URLSearchParams(window.location.search).get("lang");
  return lang ? `?lang=${encodeURIComponent(lang)}` : "";
}

async function decode(response) {
  if (response.ok) {
    const type = response.headers.get("Content-Type") || "";
    return type.includes("json") ? response.json() : response;
  }
  let info = {};
  try { info = await response.json(); } catch (_) { /* not JSON: keep the generic message */ }
  throw new ApiError(info.message || response.statusText, response.status, info.error || "");
}

async function send(path, init) {
  let response;
  try {
    response = await fetch(path + pageLanguage(), Object.assign({
      credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
    }, init));
  } catch (err) {
    const msg = document.querySelector("[data-msg-network]");
    throw new ApiError(msg ? msg.dataset.msgNetwork : String(err));
  }
  return decode(response);
}

/** POST a JSON body; resolves to the parsed JSON answer (or the raw Response for binary). */
export function postJSON(path, body) {
  return send(path, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body) });
}

/** GET JSON. */
export function getJSON(path) {
  return send(path, { method: "GET" });
}

/** POST a submission: with files, multipart (a JSON "submission" field plus binary parts
 * named by attachment id); without, the same JSON as the body, which the server parses
 * with less work than a multipart body. */
export function postSubmission(path, submission, parts) {
  if (!parts.length) return postJSON(path, submission);
  const fd = new FormData();
  fd.append("submission", JSON.stringify(submission));
  for (const [id, blob] of parts) fd.append(id, blob, id);
  return send(path, { method: "POST", body: fd });
}

/** Show a status line (polite live region); errors get the error style. */
export function setStatus(element, text, isError = false) {
  if (!element) return;
  element.textContent = text || "";
  element.classList.toggle("error", Boolean(isError));
}
