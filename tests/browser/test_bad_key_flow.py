"""A hand-over whose re-sealed keys do not open the case (random bytes: a broken or hostile
browser) is caught by the recipient's browser the first time the case opens: shown at once,
reported to the server, flagged on the case list, recorded in the audit log, and the case no
longer counts the recipient among its readers (the split key's orphan list)."""

import base64
import os

import pytest
from sqlalchemy import select

from whistle.custody import ceremony
from whistle.models import AuditEntry, Case, CaseGrant, Member
from whistle.services import services

from tests.browser.test_committee_flow import _member, _report, _unlock

pytestmark = pytest.mark.browser

HAND_OVER = """async ([url, body]) => {
  const token = document.querySelector('meta[name="csrf-token"]').content;
  const response = await fetch(url, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRFToken": token}, body: JSON.stringify(body)});
  return response.status;
}"""


def _random_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(80)).rstrip(b"=").decode()


def test_a_hand_over_with_random_key_bytes_is_flagged_at_once(server, browser):
    zhao_context, zhao, zhao_errors = _member(browser, server, "zhao.lei")
    liu_context, liu, liu_errors = _member(browser, server, "liu.yang")
    _report(browser, server, "BAD-KEY-MARKER")
    with server.session() as s:
        case_id = s.scalar(select(Case.id))
    zhao.goto(f"{server.url}/committee/cases/{case_id}?lang=en")
    items = zhao.evaluate(
        "async (url) => (await (await fetch(url, {credentials: 'same-origin'})).json()).items",
        f"/committee/api/cases/{case_id}",
    )
    status = zhao.evaluate(
        HAND_OVER,
        [
            f"/committee/api/cases/{case_id}/grants",
            {"username": "liu.yang", "keys": {i["id"]: _random_key() for i in items}},
        ],
    )
    assert status == 201  # the server cannot tell: it never holds a key that opens them

    liu.goto(f"{server.url}/committee/cases/{case_id}?lang=en")
    _unlock(liu)
    liu.wait_for_selector("#content-status.error:has-text('does not open this case')", timeout=60_000)
    with server.session() as s:
        liu_id = s.scalar(select(Member.id).where(Member.username == "liu.yang"))
        assert s.get(CaseGrant, (case_id, liu_id)).key_failed
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "grant_key_failed"))
        assert entry.actor == "liu.yang" and entry.case_id == case_id and '"granted_by":"zhao.lei"' in entry.detail
        readers = [m.username for m in ceremony.readers(s, services(server.app).rules, s.get(Case, case_id))]
        assert readers == ["zhao.lei"]
    liu.goto(f"{server.url}/committee/?lang=en")
    assert "does not open it" in liu.text_content("table.cases .key-failed")
    zhao_context.close()
    liu_context.close()
    assert zhao_errors == [] and liu_errors == []
