"""A NUL character anywhere a member can type is a clear 400, on SQLite and PostgreSQL (which
refuses NUL in text), never a 500, and nothing is stored or changed."""
import pytest
from sqlalchemy import func, select

from whistle.models import AuditEntry, Case

from tests.committee.test_workspace import HOUSING, _case, _report

NUL = "reason\x00with a NUL"


def _entries(db_session) -> int:
    db_session.expire_all()
    return db_session.scalar(select(func.count()).select_from(AuditEntry))


@pytest.mark.parametrize("path, form", [
    ("/cases/{id}/disposition", {"disposition": "not_accepted", "reason": NUL}),
    ("/cases/{id}/grade", {"grade": "medium", "reason": NUL}),
    ("/cases/{id}/status", {"event": "acknowledged\x00"}),
    ("/cases/{id}/purge", {"reason": NUL}),
    ("/cases/{id}/disposition", {"disposition": "not_accepted", "reason": "fine", "extra\x00": "x"}),
])
def test_a_nul_in_a_member_form_is_a_400_and_changes_nothing(app, people, db_session, path, form):
    _report(app, header=HOUSING)
    case = _case(db_session)
    before = (case.disposition, case.risk_grade, case.status, _entries(db_session))
    resp = people["zhao.lei"].post("/committee" + path.format(id=case.id), form,
                                   headers={"Accept-Language": "en"})
    assert resp.status_code == 400
    assert "Traceback" not in resp.get_data(as_text=True)
    case = _case(db_session)
    assert (case.disposition, case.risk_grade, case.status, _entries(db_session)) == before


def test_a_nul_in_a_query_string_or_json_body_is_a_400(app, people, db_session):
    _report(app, header=HOUSING)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    assert zhao.client.get("/committee/?after=%00").status_code == 400
    assert zhao.client.get(f"/committee/cases/{case.id}?x=%00").status_code == 400
    resp = zhao.api("post", f"/committee/api/cases/{case.id}/grants", json={"username": "zhang.wei\u0000", "keys": {}})
    assert resp.status_code == 400
    assert db_session.scalar(select(func.count()).select_from(Case)) == 1


def test_text_without_nul_still_goes_through(app, people, db_session):
    _report(app, header=HOUSING)
    case = _case(db_session)
    resp = people["zhao.lei"].post(f"/committee/cases/{case.id}/disposition",
                                   {"disposition": "not_accepted", "reason": "outside remit \\u0000 as text"})
    assert resp.status_code == 302
    assert _case(db_session).disposition == "not_accepted"
