// Helps a reporter keep the receipt code: copy and print buttons, and a warning before the
// page is left while the code is shown and the "written down" box is not ticked. The code
// is only in this page: never stored, never sent anywhere.
let guarded = false;

function warnBeforeLeaving(event) {
  const kept = document.getElementById("receipt-kept");
  const code = document.getElementById("receipt-code");
  if (kept && !kept.checked && code && code.textContent.trim()) {
    event.preventDefault();
    event.returnValue = ""; // older browsers ask for a value; the message is the browser's own
  }
}

async function copyCode(status, button) {
  const code = document.getElementById("receipt-code");
  try {
    await navigator.clipboard.writeText(code.textContent.trim());
    status.textContent = button.dataset.copied;
  } catch (_) {
    // No clipboard access (an older browser, or a page not counted as secure): select the
    // code, so that the reporter's own copy command takes it.
    window.getSelection().selectAllChildren(code);
    status.textContent = button.dataset.copyFailed;
  }
}

/** Switch on the receipt's tools; called once the code is on the page. */
export function keepReceipt() {
  const tools = document.getElementById("receipt-tools");
  if (!tools || guarded) return;
  guarded = true;
  const status = document.getElementById("receipt-tool-status");
  const copy = document.getElementById("receipt-copy");
  copy.addEventListener("click", () => copyCode(status, copy));
  document.getElementById("receipt-print").addEventListener("click", () => window.print());
  tools.hidden = false;
  window.addEventListener("beforeunload", warnBeforeLeaving);
}

// The server-rendered receipt (report sent without the browser-side sealing) shows at once.
const shown = document.getElementById("receipt-code");
if (shown && shown.textContent.trim() && !shown.closest("[hidden]")) keepReceipt();
