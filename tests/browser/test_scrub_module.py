"""static/js/scrub.js in Chromium, under the app's real CSP: the same files as tests/test_scrub.py
lose the same metadata, and still open."""

import base64
import io
import zipfile

import docx as python_docx
import pytest
from PIL import Image

from tests import scrub_samples as samples

SCRUB = """async ([name, type, data]) => {
  const { scrubFile } = await import("/static/js/scrub.js");
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const result = await scrubFile(new File([bytes], name, { type }));
  const out = new Uint8Array(await result.blob.arrayBuffer());
  let text = "";
  for (let i = 0; i < out.length; i += 32768) text += String.fromCharCode(...out.subarray(i, i + 32768));
  return { bytes: btoa(text), status: result.status, found: result.found, removed: result.removed, name: result.name };
}"""


@pytest.fixture
def scrub_in_browser(page, live_server):
    page.goto(live_server + "/")

    def run(name: str, type_: str, data: bytes) -> dict:
        result = page.evaluate(SCRUB, [name, type_, base64.b64encode(data).decode()])
        result["bytes"] = base64.b64decode(result["bytes"])
        result["found"] = [tuple(pair) for pair in result["found"]]
        return result

    return run


def test_jpeg(scrub_in_browser):
    result = scrub_in_browser("photo.jpg", "image/jpeg", samples.jpeg(orientation=6))
    assert result["status"] == "cleaned"
    for marker in samples.MARKERS["photo.jpg"] + [b"shot by"]:
        assert marker not in result["bytes"]
    with Image.open(io.BytesIO(result["bytes"])) as im:
        assert im.size == (64, 48) and dict(im.getexif()) == {0x0112: 6}
    assert ("gps", "31.2°N 121.5°E") in result["found"] and ("camera", "Huawei P40") in result["found"]
    assert ("author", samples.ARTIST) in result["found"]


def test_png_webp_gif(scrub_in_browser):
    for name, maker, size, marker in (
        ("scan.png", samples.png, (40, 30), samples.PNG_AUTHOR),
        ("pic.webp", samples.webp, (20, 10), samples.ARTIST),
        ("anim.gif", samples.gif, (12, 8), samples.ARTIST),
    ):
        result = scrub_in_browser(name, "", maker())
        assert result["status"] == "cleaned", name
        assert marker.encode() not in result["bytes"], name
        with Image.open(io.BytesIO(result["bytes"])) as im:
            assert im.size == size and not im.info.get("exif")
    assert samples.XMP_AUTHOR.encode() not in scrub_in_browser("pic.webp", "", samples.webp())["bytes"]


def test_pdf(scrub_in_browser):
    result = scrub_in_browser("memo.pdf", "application/pdf", samples.pdf())
    assert result["status"] == "cleaned" and b"pdf-lib" not in result["bytes"]
    samples.check_clean("memo.pdf", result["bytes"])
    assert ("author", samples.PDF_AUTHOR) in result["found"] and ("author", samples.XMP_AUTHOR) in result["found"]


def test_docx_and_odt(scrub_in_browser):
    result = scrub_in_browser("minutes.docx", "", samples.docx())
    with zipfile.ZipFile(io.BytesIO(result["bytes"])) as z:
        everything = b"".join(z.read(name) for name in z.namelist())
    for marker in samples.MARKERS["minutes.docx"] + [b"rsid"]:
        assert marker not in everything
    assert python_docx.Document(io.BytesIO(result["bytes"])).paragraphs[0].text == samples.DOCUMENT_TEXT
    assert ("company", samples.DOCX_COMPANY) in result["found"]
    odt = scrub_in_browser("minutes.odt", "", samples.odt())
    with zipfile.ZipFile(io.BytesIO(odt["bytes"])) as z:
        assert z.infolist()[0].filename == "mimetype" and z.infolist()[0].compress_type == zipfile.ZIP_STORED
        content = z.read("content.xml") + z.read("meta.xml")
    assert samples.DOCUMENT_TEXT.encode() in content and samples.DOCX_REVIEWER.encode() not in content


def test_unsupported_and_damaged_files_come_back_unchanged(scrub_in_browser):
    zipped = scrub_in_browser("archive.zip", "application/zip", samples.docx())
    assert zipped["status"] == "unsupported" and zipped["bytes"] == samples.docx()
    cut = samples.pdf()[:300]
    damaged = scrub_in_browser("memo.pdf", "application/pdf", cut)
    assert damaged["status"] == "unreadable" and damaged["bytes"] == cut


def test_files_cut_anywhere_never_break_the_page(scrub_in_browser):
    for name, data in (
        ("photo.jpg", samples.jpeg()),
        ("scan.png", samples.png()),
        ("pic.webp", samples.webp()),
        ("anim.gif", samples.gif()),
        ("minutes.docx", samples.docx()),
    ):
        for cut in (12, len(data) // 3, len(data) - 3):
            result = scrub_in_browser(name, "", data[:cut])
            assert result["status"] in ("cleaned", "unreadable"), (name, cut)
            if result["status"] == "unreadable":
                assert result["bytes"] == data[:cut]
