"""Helpers shared by the tests: a valid report form, receipt extraction."""
import io
import re

REPORT_FIELDS = {
    "department": "housing", "accused_rank": "staff", "category": "meals", "money_band": "1k_10k",
    "frequency": "several", "evidence": "attached", "accused_name": "王某", "accused_post": "科长",
    "period": "2026年10月", "place": "城东项目",
}


def report_form(narrative: str, files=(), **changes) -> dict:
    """A complete no-JS report form, with (name, bytes) files."""
    data = dict(REPORT_FIELDS, narrative=narrative, **changes)
    data["files"] = [(io.BytesIO(content), name) for name, content in files] or [(io.BytesIO(b""), "")]
    return data


def receipt_from(html: str) -> str:
    """The grouped receipt code shown on a receipt page."""
    match = re.search(r'<output id="receipt-code"[^>]*>([0-9 ]+)</output>', html)
    assert match, "no receipt code on the page"
    return match.group(1)


def forget_used_totp_steps(app) -> None:
    """Forget which TOTP steps logins used (kept in memory by the embedded default), so a
    member can log in again within the same 30-second window: only a test can do that."""
    from whistle.pow import MemorySpent

    assert isinstance(app.extensions["whistle.totp_used"], MemorySpent)
    app.extensions["whistle.totp_used"] = MemorySpent()
