"""The child of `cases decrypt --safe` (safeconvert.py): render one untrusted file to PNG pages
under WORK/pages. It runs cut off from the network and is killed on timeout by the parent;
it is started by path in isolated mode, so it imports only the standard library and Pillow.

    python -I safe_render.py SOURCE WORK
"""

import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageSequence

DPI = 110
MAX_PAGES = 300
MAX_PIXELS = 100_000_000


def render_pdf(pdf: Path, pages: Path) -> None:
    tool = shutil.which("pdftoppm")
    if tool is None:
        sys.exit("pdftoppm (poppler-utils) is not installed")
    subprocess.run(
        [tool, "-png", "-r", str(DPI), "-l", str(MAX_PAGES), str(pdf), str(pages / "page")],
        check=True,
        capture_output=True,
    )


def render_image(source: Path, pages: Path) -> bool:
    """Each frame of an image Pillow knows, as a PNG page; False if Pillow does not know it."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        img = Image.open(source)
    except (OSError, ValueError):
        return False
    with img:
        for n, frame in enumerate(ImageSequence.Iterator(img), start=1):
            if n > MAX_PAGES:
                break
            frame.convert("RGB").save(pages / f"page-{n:04d}.png")
    return True


def office_to_pdf(source: Path, work: Path) -> Path:
    tool = shutil.which("soffice") or shutil.which("libreoffice")
    if tool is None:
        sys.exit("not a PDF or an image, and LibreOffice (soffice) is not installed")
    # A fresh profile under WORK (deleted with it by the parent): nothing the document does
    # (macro settings, recent files, a crafted registry entry) carries over to the next file.
    profile = f"-env:UserInstallation={(work / 'profile').as_uri()}"
    subprocess.run(
        [
            tool,
            profile,
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(work / "office"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    made = sorted((work / "office").glob("*.pdf"))
    if not made:
        sys.exit("LibreOffice made no PDF of this file")
    return made[0]


def main(source: Path, work: Path) -> None:
    pages = work / "pages"
    pages.mkdir()
    with open(source, "rb") as fh:
        head = fh.read(5)
    if head == b"%PDF-":
        render_pdf(source, pages)
    elif not render_image(source, pages):
        render_pdf(office_to_pdf(source, work), pages)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
