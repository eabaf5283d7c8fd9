"""`whistle cases decrypt --safe`: a PNG, a PDF and a DOCX (when LibreOffice is installed) become
PDFs of page images only, converted cut off from the network; the originals stay beside them."""

import io
import shutil
import subprocess
import zipfile

import pytest
from PIL import Image

from whistle.custody import safeconvert

needs_poppler = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
needs_isolation = pytest.mark.skipif(safeconvert.isolation_prefix() is None, reason="unshare -n unavailable")


def pdf_with_text(text: str, title: str) -> bytes:
    """A one-page PDF with a real text layer and a document title (written out by hand, so the
    test needs no PDF library)."""
    stream = f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) /Author ({title}) >>".encode(),
    ]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for n, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def text_of(pdf) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def info_of(pdf) -> str:
    return subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout


@needs_poppler
@needs_isolation
def test_pdf_becomes_pixels_only(tmp_path):
    source = tmp_path / "001-01-report.pdf"
    source.write_bytes(pdf_with_text("SECRET-TEXT-LAYER", "SECRET-TITLE"))
    assert "SECRET-TEXT-LAYER" in text_of(source) and "SECRET-TITLE" in info_of(source)  # the test can fail
    outcome = safeconvert.convert(source)
    assert outcome.safe_pdf == tmp_path / "001-01-report.pdf.safe.pdf", outcome.notes
    assert source.exists()  # the original is kept beside it
    safe = outcome.safe_pdf.read_bytes()
    assert text_of(outcome.safe_pdf).strip() == ""  # no text layer
    assert b"/Font" not in safe and b"SECRET" not in safe
    info = info_of(outcome.safe_pdf)
    assert "Title" not in info and "Author" not in info and "CreationDate" not in info, info
    assert [line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")] == ["1"]
    # The page is an image of the original: mostly white with dark text pixels.
    subprocess.run(["pdftoppm", "-png", "-r", "30", str(outcome.safe_pdf), str(tmp_path / "check")], check=True)
    with Image.open(next(tmp_path.glob("check*.png"))) as page:
        assert page.convert("L").getextrema()[0] < 128


@needs_poppler
@needs_isolation
def test_png_becomes_pixels_only(tmp_path):
    source = tmp_path / "photo.png"
    img = Image.new("RGB", (40, 30), (200, 10, 10))
    from PIL import PngImagePlugin

    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("Comment", "SECRET-PNG-CHUNK")
    img.save(source, pnginfo=chunks)
    outcome = safeconvert.convert(source)
    assert outcome.safe_pdf is not None, outcome.notes
    safe = outcome.safe_pdf.read_bytes()
    assert b"SECRET" not in safe and b"/Font" not in safe and text_of(outcome.safe_pdf).strip() == ""
    subprocess.run(["pdftoppm", "-png", str(outcome.safe_pdf), str(tmp_path / "check")], check=True)
    with Image.open(next(tmp_path.glob("check*.png"))) as page:
        r, g, b = page.convert("RGB").getpixel((page.width // 2, page.height // 2))
        assert r > 150 and g < 60 and b < 60


needs_office = pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")


@needs_office
@needs_poppler
@needs_isolation
def test_docx_becomes_pixels_only(tmp_path, monkeypatch):
    """An office document goes through LibreOffice in the cut-off child, then to pixels: its text
    and its core properties (author, company) do not reach the safe copy, and LibreOffice's
    profile is a temporary one, not the operator's."""
    import docx

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))

    document = docx.Document()
    document.add_paragraph("SECRET DOCX BODY " * 3)
    document.core_properties.author = "SECRET-AUTHOR"
    document.core_properties.last_modified_by = "SECRET-EDITOR"
    document.core_properties.title = "SECRET-TITLE"
    document.save(tmp_path / "plain.docx")
    # python-docx has no field for the company (an extended property, docProps/app.xml): add it.
    source = tmp_path / "002-01-memo.docx"
    with zipfile.ZipFile(tmp_path / "plain.docx") as old, zipfile.ZipFile(source, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "docProps/app.xml":
                data = data.replace(b"</Properties>", b"<Company>SECRET-COMPANY</Company></Properties>")
            new.writestr(item, data)
    with zipfile.ZipFile(source) as check:
        assert b"SECRET-COMPANY" in check.read("docProps/app.xml")  # the test can fail
    outcome = safeconvert.convert(source)
    assert outcome.safe_pdf == tmp_path / "002-01-memo.docx.safe.pdf", outcome.notes
    assert source.exists() and zipfile.is_zipfile(source)  # the original is kept beside it
    safe = outcome.safe_pdf.read_bytes()
    assert text_of(outcome.safe_pdf).strip() == ""  # no text layer
    assert b"/Font" not in safe and b"SECRET" not in safe
    info = info_of(outcome.safe_pdf)
    assert "Author" not in info and "Creator" not in info and "Producer" not in info, info
    assert "SECRET" not in info and "LibreOffice" not in info and "Writer" not in info, info
    pages = [int(line.split()[-1]) for line in info.splitlines() if line.startswith("Pages:")]
    assert pages and pages[0] >= 1, info
    # The page is an image of the document: dark text pixels on white.
    subprocess.run(
        ["pdftoppm", "-png", "-r", "30", "-l", "1", str(outcome.safe_pdf), str(tmp_path / "check")], check=True
    )
    with Image.open(next(tmp_path.glob("check*.png"))) as page:
        assert page.convert("L").getextrema()[0] < 128
    assert list(home.iterdir()) == []  # no profile or cache left in the operator's HOME


@needs_isolation
def test_converter_has_no_network(tmp_path, monkeypatch):
    """The child sees only a loopback device that is down: no route anywhere."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import socket,sys\ns=socket.socket()\ns.settimeout(2)\n"
        "try:\n s.connect(('1.1.1.1',80))\nexcept OSError:\n sys.exit(3)\nsys.exit(0)\n"
    )
    import sys

    run = subprocess.run([*safeconvert.isolation_prefix(), sys.executable, str(script)], timeout=20)
    assert run.returncode == 3


def test_unknown_type_without_office_is_noted(tmp_path, monkeypatch):
    if shutil.which("soffice") or safeconvert.isolation_prefix() is None:
        pytest.skip("LibreOffice present (or no isolation): covered elsewhere")
    source = tmp_path / "thing.docx"
    source.write_bytes(b"PK\x03\x04 not really a document")
    outcome = safeconvert.convert(source)
    assert outcome.safe_pdf is None
    assert any("LibreOffice" in note for note in outcome.notes), outcome.notes
    assert any(note.startswith("ClamAV:") for note in outcome.notes)


def test_refuses_without_isolation(tmp_path, monkeypatch):
    monkeypatch.setattr(safeconvert.shutil, "which", lambda name: None)  # no unshare, no clamdscan
    source = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(source)
    with pytest.raises(safeconvert.NoIsolation):
        safeconvert.convert(source)


@needs_poppler
@needs_isolation
def test_cases_decrypt_safe(app, client, config, monkeypatch, tmp_path, db_session):
    """Through the command: the decrypted PNG gets a safe PDF beside it, and the summary says so."""
    from click.testing import CliRunner
    from sqlalchemy import select

    from whistle.cli import main
    from whistle.models import Case
    from tests.helpers import report_form

    monkeypatch.setenv("WHISTLE_INSTANCE_DIR", str(config.instance_dir))
    monkeypatch.setenv("WHISTLE_DATABASE_URL", config.database_url)
    monkeypatch.delenv("WHISTLE_PASSPHRASE", raising=False)
    runner, key = CliRunner(), tmp_path / "committee.key"
    assert (
        runner.invoke(main, ["keys", "init", "--out", str(key)], input="a long committee passphrase\n" * 2).exit_code
        == 0
    )
    png = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 0, 255)).save(png, "PNG")
    client.post(
        "/report/general",
        data=report_form("SAFE-MARKER", files=[("scan.png", png.getvalue())], category="bribery"),
        content_type="multipart/form-data",
    )
    case_id = db_session.scalar(select(Case.id))
    out = tmp_path / "out"
    result = runner.invoke(
        main,
        ["cases", "decrypt", case_id, "--key", str(key), "--out", str(out), "--safe"],
        input="a long committee passphrase\n",
    )
    assert result.exit_code == 0, result.output
    folder = out / case_id / "attachments"
    assert sorted(p.name for p in folder.iterdir()) == ["001-01-scan.png", "001-01-scan.png.safe.pdf"]
    assert text_of(folder / "001-01-scan.png.safe.pdf").strip() == ""
    assert '"safe_pdf": "001-01-scan.png.safe.pdf"' in result.output
