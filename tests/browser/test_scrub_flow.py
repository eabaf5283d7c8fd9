"""With JavaScript on, the report form strips each attached file in the browser before
sealing, shows the reporter what it found and removed, keeps a file unchanged only where the
reporter ticked that file's box, and names the files it cannot clean. The committee decrypts
offline: none of the markers is left, and each file still opens."""

import json

import pytest
from sqlalchemy import select

from whistle.models import Case

from tests import scrub_samples as samples
from tests.browser.conftest import submitted_receipt

pytestmark = pytest.mark.browser

CHOICES = {"#department": "housing", "#money_band": "10k_100k"}
CHECKS = ("accused_rank", "head"), ("category", "gifts"), ("frequency", "regular"), ("evidence", "attached")


def _decrypt(server, code, out) -> dict:
    with server.session() as s:
        case_id = s.scalar(select(Case.id).where(Case.locator == code.locator))
    server.cli("cases", "decrypt", case_id, "--key", str(server.key_file), "--out", str(out))
    body = json.loads((out / case_id / "case.json").read_text(encoding="utf-8"))["items"][0]["body"]
    return {meta["name"]: (out / case_id / meta["saved_as"]).read_bytes() for meta in body["attachments"]}


def test_files_are_stripped_in_the_browser_before_sealing(server, browser, tmp_path):
    files = {name: make() for name, make in samples.SAMPLES.items()}
    files["original.jpg"] = samples.jpeg()
    files["archive.zip"] = samples.docx()
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(server.url + "/report/contractor?lang=en")
        page.wait_for_function("document.getElementById('report-form').dataset.enhanced === 'true'")
        for selector, value in CHOICES.items():
            page.select_option(selector, value)
        for name, value in CHECKS:
            page.check(f"input[name={name}][value={value}]")
        page.fill("#narrative", "Files with hidden details attached.")
        page.set_input_files("#files", paths)
        page.wait_for_selector("#keep-original-4", timeout=30_000)  # original.jpg's own box
        shown = page.text_content(".scrub-list")
        for name in samples.SAMPLES:
            assert f"{name}: hidden details removed." in shown
        assert "GPS position 31.2°N 121.5°E, camera Huawei P40" in shown
        assert f"author {samples.PDF_AUTHOR}" in shown and f"company {samples.DOCX_COMPANY}" in shown
        assert "archive.zip: this type of file cannot be cleaned. It will be sealed unchanged" in shown
        assert page.is_visible("text=Keep it only if the original file itself matters as evidence")
        page.check("#keep-original-4")
        code = submitted_receipt(page)
    finally:
        context.close()
    assert not errors, errors
    opened = _decrypt(server, code, tmp_path / "out")
    for name in samples.SAMPLES:
        samples.check_clean(name, opened[name])
    assert opened["original.jpg"] == files["original.jpg"]  # the reporter chose to keep it
    assert opened["archive.zip"] == files["archive.zip"]
