"""The no-JavaScript path strips attachments' metadata in server memory before sealing, up
to the stripping size; a file above it is sealed unchanged and named on the receipt page."""

import html
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from whistle.cases import uploads
from whistle.custody import offline
from whistle.config import from_env
from whistle.models import AttachmentChunk, Case
from whistle.services import services

from tests import scrub_samples as samples
from tests.helpers import receipt_from, report_form

ROOT = Path(__file__).resolve().parent.parent


def _submit(client, files):
    resp = client.post(
        "/report/contractor", data=report_form("Metadata test", files), content_type="multipart/form-data"
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200, page[:2000]
    receipt_from(page)
    return html.unescape(page)


def _decrypted(db_session, keypair, tmp_path) -> dict:
    case = db_session.scalar(select(Case))
    summary = offline.decrypt_case(db_session, case, keypair, tmp_path / "out")
    folder = tmp_path / "out" / case.id
    return {
        meta["name"]: (folder / meta["saved_as"]).read_bytes() for meta in summary["items"][0]["body"]["attachments"]
    }


def test_each_file_is_stripped_before_it_is_sealed(client, committee, db_session, tmp_path):
    files = [(name, make()) for name, make in samples.SAMPLES.items()]
    page = _submit(client, files)
    opened = _decrypted(db_session, committee[0], tmp_path)
    assert sorted(opened) == sorted(samples.SAMPLES)
    for name in samples.SAMPLES:
        samples.check_clean(name, opened[name])
    for chunk in db_session.scalars(select(AttachmentChunk)):
        for markers in samples.MARKERS.values():
            assert not any(marker in chunk.data for marker in markers)
    # The receipt says, per file, what was removed (in the default language, Chinese).
    for name in samples.SAMPLES:
        assert f"{name}：已删除隐藏信息。" in page
    assert "GPS 位置 31.2°N 121.5°E" in page and samples.DOCX_COMPANY in page


def test_a_file_over_the_stripping_size_is_sealed_unchanged_and_named(app, client, committee, db_session, tmp_path):
    photo, memo = samples.jpeg(), samples.pdf()
    settings = services(app)
    settings.config = settings.config.with_(scrub_max_bytes=len(photo) + 1)
    assert len(memo) > len(photo) + 1
    page = _submit(client, [("photo.jpg", photo), ("memo.pdf", memo)])
    opened = _decrypted(db_session, committee[0], tmp_path)
    samples.check_clean("photo.jpg", opened["photo.jpg"])
    assert opened["memo.pdf"] == memo  # over the size: sealed as it came
    assert "memo.pdf 大于" in page and "未作清除" in page
    assert "photo.jpg 大于" not in page


def test_types_that_cannot_be_cleaned_are_named_on_the_receipt(client, committee, db_session, tmp_path):
    page = _submit(client, [("recording.m4a", b"\x00\x00\x00\x20ftypM4A " + b"\x01" * 64)])
    assert _decrypted(db_session, committee[0], tmp_path)["recording.m4a"].startswith(b"\x00\x00\x00\x20ftypM4A")
    assert "recording.m4a 的类型无法清除" in page


def test_plaintext_is_held_only_up_to_the_stripping_size():
    """A file over the size goes on to the encryptor as it streams: the gate holds no more."""
    spool = uploads.SealingSpool(10 * 1024 * 1024, b"k" * 32, "big.pdf", "application/pdf", scrub_max=1000)
    spool.write(b"%PDF-" + b"x" * 995)
    assert spool.gate._held is not None and spool._enc.size == 0
    spool.write(b"y" * 5000)
    assert spool.gate._held is None and spool._enc.size == 6000
    assert spool.finish() == 6000 and spool.gate.result.status == "too_large"
    spool.close()


def test_the_stripping_size_is_a_setting(tmp_path):
    env = {"WHISTLE_INSTANCE_DIR": str(tmp_path)}
    assert from_env(env).scrub_max_bytes == 16 * 1024 * 1024
    assert from_env(dict(env, WHISTLE_SCRUB_MAX_BYTES="1000")).scrub_max_bytes == 1000


_MEMORY = """
import resource, sys
from whistle.cases.uploads import SealingSpool
piece = b"%PDF-1.7 " + bytes(256 * 1024 - 9)
spool = SealingSpool(250 * 2**20, bytes(32), "big.pdf", "application/pdf", scrub_max=16 * 2**20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(800):  # 200 MiB, streamed in as the multipart parser would
    spool.write(piece)
spool.seek(0)
size = spool.finish()
print(spool.gate.result.status, size, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_a_200_mb_upload_adds_under_64_mb_at_peak(tmp_path):
    """In a fresh process, so that its peak resident size is this upload's alone."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == 0, proc.stderr
    status, size, growth_mib = proc.stdout.split()
    assert status == "too_large" and int(size) == 200 * 2**20
    assert int(growth_mib) < 64
