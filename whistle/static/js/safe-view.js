// Opening a reporter's attachment on a member's case page without handing it to a viewer
// that could be attacked through it. The kind is read from the bytes, never from the name or
// type the sender chose. Bitmaps are decoded to pixels and drawn on a canvas (an SVG, which
// is a document with scripts and links, is never rendered); plain text is shown as text;
// a PDF is drawn by pdf.js in a sandboxed frame with no network; anything else is offered
// only after a warning, under a neutral name ending in .bin.
import { offerDownload } from "/static/js/attachments.js";

const MAX_CANVAS_WIDTH = 1200;
const MAX_TEXT_BYTES = 1024 * 1024;

function startsWith(bytes, signature, at = 0) {
  return signature.every((b, i) => bytes[at + i] === b);
}

const ascii = (s) => [...s].map((c) => c.charCodeAt(0));

/** "png" | "jpeg" | "gif" | "webp" | "bmp" | "pdf" | "text" | "other", from the bytes. */
export function sniff(bytes, meta) {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return "jpeg";
  if (startsWith(bytes, ascii("GIF8"))) return "gif";
  if (startsWith(bytes, ascii("RIFF")) && startsWith(bytes, ascii("WEBP"), 8)) return "webp";
  if (startsWith(bytes, ascii("BM"))) return "bmp";
  if (startsWith(bytes, ascii("%PDF-"))) return "pdf";
  if (bytes.length <= MAX_TEXT_BYTES && /^text\/plain\b/.test(meta.type || "") && utf8(bytes) !== null) return "text";
  return "other";
}

function utf8(bytes) {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

async function canvasOf(bytes, kind) {
  // createImageBitmap decodes pixels only: no document, no script, no request.
  const bitmap = await createImageBitmap(new Blob([bytes], { type: `image/${kind}` }));
  const scale = Math.min(1, MAX_CANVAS_WIDTH / bitmap.width);
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.className = "safe-image";
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas;
}

function warnedDownload(bytes, t, neutralName) {
  const box = document.createElement("div");
  box.className = "safe-download";
  const warning = document.createElement("p");
  warning.className = "warning";
  warning.textContent = t.safeWarning;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link";
  button.textContent = t.safeDownload.replace("{name}", neutralName);
  button.addEventListener("click", () => offerDownload(bytes, neutralName));
  box.append(warning, button);
  return box;
}

const sources = {}; // pdf.js and its worker as text, fetched once from this site

async function source(name) {
  if (!sources[name]) {
    const response = await fetch(`/static/vendor/${name}`);
    if (!response.ok) throw new Error(name);
    sources[name] = await response.text();
  }
  return sources[name];
}

/** A frame drawing the PDF with pdf.js: sandboxed (scripts, but an opaque origin: nothing
 * of this page or session), under a CSP with no network; the library, its worker and the
 * bytes go in by postMessage (committee/pdf_viewer.py, pdf-frame.js). */
function viewPdf(bytes) {
  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "allow-scripts");
  frame.className = "safe-pdf";
  frame.title = "PDF";
  const onMessage = async (event) => {
    if (event.source !== frame.contentWindow) return;
    if (event.data && event.data.ready) {
      const message = { pdfjs: await source("pdf.mjs"), worker: await source("pdf.worker.mjs"), bytes: bytes.slice() };
      // The frame's origin is opaque, so it cannot be named: the message goes to this frame's window only.
      frame.contentWindow.postMessage(message, "*", [message.bytes.buffer]);
    } else if (event.data && "rendered" in event.data) {
      frame.dataset.rendered = String(event.data.rendered);
      if (event.data.error) console.error("pdf frame:", event.data.error);
      window.removeEventListener("message", onMessage);
    }
  };
  window.addEventListener("message", onMessage);
  frame.src = "/committee/pdf-viewer";
  return frame;
}

/** A node showing ``bytes`` safely (or explaining why it is not shown), with the download
 * after a warning; ``index`` names the neutral file (attachment-3.bin). */
export async function safeView(bytes, meta, t, index) {
  const view = document.createElement("div");
  view.className = "safe-view";
  const kind = sniff(bytes, meta);
  if (["png", "jpeg", "gif", "webp", "bmp"].includes(kind)) {
    try {
      view.append(await canvasOf(bytes, kind));
    } catch {
      view.append(Object.assign(document.createElement("p"), { textContent: t.safeUndecodable }));
    }
  } else if (kind === "text") {
    const pre = document.createElement("pre");
    pre.className = "safe-text";
    pre.textContent = utf8(bytes); // text only, never parsed as HTML
    view.append(pre);
  } else if (kind === "pdf") {
    view.append(viewPdf(bytes));
  } else {
    view.append(Object.assign(document.createElement("p"), { textContent: t.safeNotShown }));
  }
  view.dataset.kind = kind;
  view.append(warnedDownload(bytes, t, `attachment-${index}.bin`));
  return view;
}
