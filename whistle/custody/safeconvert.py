"""`cases decrypt --safe`: turn a decrypted attachment into a PDF of page images only.

A reporter's file may be built to attack the reader's viewer (a PDF with scripts, an office
document with macros or remote templates, an image that exploits a decoder). The file is
parsed only inside a child process cut off from the network and killed after a timeout:
LibreOffice (when installed) turns office documents into PDF, poppler's pdftoppm (or Pillow,
for images) renders pages to pixels, and the parent rebuilds a PDF from those pixels alone,
so no text layer, script, link, font or metadata of the original reaches the safe copy.
The original is kept beside it. ClamAV scans the original when clamd is running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

TIMEOUT_SECONDS = 120
DPI = 110
MAX_PIXELS = 100_000_000  # Pillow refuses larger (a decompression bomb)
SAFE_SUFFIX = ".safe.pdf"
# Run by path in isolated mode: the child needs only Pillow and the standard library.
RENDERER = Path(__file__).with_name("safe_render.py")


class NoIsolation(Exception):
    """The network cannot be cut off for the converter on this machine."""


@dataclass
class Outcome:
    source: Path
    safe_pdf: Path | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "file": self.source.name,
            "safe_pdf": self.safe_pdf.name if self.safe_pdf else None,
            "notes": self.notes,
        }


def isolation_prefix() -> list[str] | None:
    """The command prefix that runs a child without any network, or None when neither
    `unshare -n` (as root) nor `unshare -rn` (an unprivileged user namespace) works here."""
    tool = shutil.which("unshare")
    if tool is None:
        return None
    for prefix in ([tool, "-n"], [tool, "-r", "-n"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def clamav_note(path: Path) -> str:
    """One line on what ClamAV says of ``path`` (or that it was not asked)."""
    tool = shutil.which("clamdscan")
    if tool is None:
        return "ClamAV: clamdscan not installed, not scanned"
    try:
        run = subprocess.run(
            [tool, "--no-summary", "--fdpass", str(path)], capture_output=True, text=True, timeout=TIMEOUT_SECONDS
        )
    except (OSError, subprocess.TimeoutExpired):
        return "ClamAV: scan did not finish, not scanned"
    if run.returncode == 0:
        return "ClamAV: nothing found"
    if run.returncode == 1:
        return "ClamAV: FOUND " + run.stdout.strip().rpartition(":")[2].strip()
    return "ClamAV: clamd not reachable, not scanned"


def _run_child(command: list[str], timeout: int, home: str) -> subprocess.CompletedProcess:
    """Run ``command`` in its own process group and kill the whole group on timeout (LibreOffice
    starts helpers that would outlive a plain kill of the first process). Its HOME is ``home``,
    a temporary directory: caches and profiles never land in the operator's own HOME."""
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8"},
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def convert(source: Path, *, allow_network: bool = False, timeout: int = TIMEOUT_SECONDS) -> Outcome:
    """Write ``<source>.safe.pdf`` of page images beside ``source``; the notes say what was
    done or why nothing was. NoIsolation unless the network can be cut off or
    ``allow_network`` says to go on without (the notes then say so)."""
    outcome = Outcome(source, notes=[clamav_note(source)])
    prefix = isolation_prefix()
    if prefix is None:
        if not allow_network:
            raise NoIsolation(
                "cannot cut the converter off the network here (unshare -n failed); "
                "run on an offline machine with --allow-network, or as root"
            )
        outcome.notes.append("WARNING: converted WITHOUT network isolation (--allow-network)")
        prefix = []
    with tempfile.TemporaryDirectory(prefix="whistle-safe-") as work:
        command = [*prefix, sys.executable, "-I", str(RENDERER), str(source), work]
        try:
            run = _run_child(command, timeout, work)
        except subprocess.TimeoutExpired:
            outcome.notes.append(f"not converted: took longer than {timeout} s")
            return outcome
        pages = sorted(Path(work, "pages").glob("*.png"))
        if run.returncode != 0 or not pages:
            reason = run.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no pages"]
            outcome.notes.append(f"not converted: {reason[0]}")
            return outcome
        target = source.with_name(source.name + SAFE_SUFFIX)
        _pdf_of_pixels(pages, target)
    outcome.safe_pdf = target
    outcome.notes.append(f"{len(pages)} page(s) rendered to images")
    return outcome


def _pdf_of_pixels(pages: list[Path], target: Path) -> None:
    """A PDF made only of the page images: decoded to raw RGB first so that nothing but pixels
    (no PNG text chunks, no ICC profile) is carried over, and no document information."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    images = []
    for page in pages:
        with Image.open(page) as img:
            pixels = img.convert("RGB")
        images.append(Image.frombytes("RGB", pixels.size, pixels.tobytes()))
    # Falsy values stop Pillow adding a title (the file name) and the times of conversion.
    images[0].save(
        target,
        "PDF",
        save_all=True,
        append_images=images[1:],
        resolution=DPI,
        title=None,
        creationDate=None,
        modDate=None,
    )
