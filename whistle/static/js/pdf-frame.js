// Inside the sandboxed PDF frame (committee/pdf_viewer.py): an opaque origin with no network.
// The parent posts {pdfjs, worker, bytes}: the pdf.js library and worker as source text and
// the PDF's bytes. Pages are drawn on canvases; no text layer, no links, no forms, no scripts.
(function () {
  "use strict";
  const MAX_PAGES = 50;
  const WIDTH = 900;
  let started = false;

  function blobUrl(text) {
    return URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
  }

  async function render(message) {
    // The worker's code is loaded on this thread first: pdf.js then parses here instead of
    // starting a Worker (which an opaque-origin frame cannot start from its own blob).
    await import(blobUrl(message.worker));
    const pdfjs = await import(blobUrl(message.pdfjs));
    const doc = await pdfjs.getDocument({
      data: message.bytes,
      isEvalSupported: false, // the CSP allows no eval
      enableXfa: false,
      disableFontFace: true, // glyphs drawn as paths: no font loading
      useSystemFonts: false,
      stopAtErrors: false,
      standardFontDataUrl: null,
      cMapUrl: null,
      wasmUrl: null,
      iccUrl: null,
    }).promise;
    const pages = document.getElementById("pages");
    for (let n = 1; n <= Math.min(doc.numPages, MAX_PAGES); n += 1) {
      const page = await doc.getPage(n);
      const base = page.getViewport({ scale: 1 });
      const viewport = page.getViewport({ scale: WIDTH / base.width });
      const canvas = document.createElement("canvas");
      canvas.width = Math.round(viewport.width);
      canvas.height = Math.round(viewport.height);
      pages.append(canvas);
      await page.render({ canvas, canvasContext: canvas.getContext("2d"), viewport, annotationMode: pdfjs.AnnotationMode.DISABLE }).promise;
    }
    document.body.dataset.pages = String(doc.numPages);
  }

  window.addEventListener("message", (event) => {
    // Only the page that framed us, and only once.
    if (event.source !== window.parent || started) return;
    started = true;
    render(event.data).then(
      () => window.parent.postMessage({ rendered: true }, "*"),
      (error) => window.parent.postMessage({ rendered: false, error: String(error) }, "*"),
    );
  });
  window.parent.postMessage({ ready: true }, "*");
})();
