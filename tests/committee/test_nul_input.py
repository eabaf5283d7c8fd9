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


@pytest.mark.parametrize(
    "path, form",
    [
        ("/cases/{id}/disposition", {"disposition": "not_accepted", "reason": NUL}),
        ("/cases/{id}/grade", {"grade": "medium", "reason": NUL}),
        ("/cases/{id}/status", {"event": "acknowledged\x00"}),
        ("/cases/{id}/purge", {"reason": NUL}),
        ("/cases/{id}/disposition", {"disposition": "not_accepted", "reason": "fine", "extra\x00": "x"}),
    ],
)
def test_a_nul_in_a_member_form_is_a_400_and_changes_nothing(app, people, db_session, path, form):
    _report(app, header=HOUSING)
    case = _case(db_session)
    before = (case.disposition, case.risk_grade, case.status, _entries(db_session))
    resp = people["zhao.lei"].post("/committee" + path.format(id=case.id), form, headers={"Accept-Language": "en"})
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
    resp = people["zhao.lei"].post(
        f"/committee/cases/{case.id}/disposition",
        {"disposition": "not_accepted", "reason": "outside remit \\u0000 as text"},
    )
    assert resp.status_code == 302
    assert _case(db_session).disposition == "not_accepted"


def test_a_nul_in_a_multipart_form_or_in_the_path_is_a_400(app, people, db_session):
    _report(app, header=HOUSING)
    case = _case(db_session)
    zhao = people["zhao.lei"]
    resp = zhao.client.post(
        f"/committee/cases/{case.id}/disposition",
        data={"csrf_token": zhao.csrf(), "disposition": "not_accepted", "reason": NUL},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 400 and _case(db_session).disposition is None
    assert zhao.client.get(f"/committee/cases/{case.id[:31]}%00").status_code == 400
    assert (
        zhao.client.post(
            f"/committee/cases/{case.id}/confirm/abc%00", data={"csrf_token": zhao.csrf(), "decision": "approve"}
        ).status_code
        == 400
    )


def test_a_lone_surrogate_in_json_is_a_400(app, people, db_session):
    _report(app, header=HOUSING)
    case = _case(db_session)
    resp = people["zhao.lei"].api(
        "post",
        f"/committee/api/cases/{case.id}/grants",
        data='{"username": "\\ud800", "keys": {}}',
        content_type="application/json",
    )
    assert resp.status_code == 400


def test_json_is_judged_by_its_strings_not_its_escapes():
    from whistle.committee.access import _bad_json

    assert _bad_json({"a": ["x", {"b": "c\x00"}]}) and _bad_json({"k\x00": 1}) and _bad_json(["\ud800"])
    assert not _bad_json({"text": "a literal \\u0000 typed as text", "n": 0, "none": None})


def test_an_anonymous_request_never_has_its_body_read(app, committee):
    client = app.test_client()
    big = b'{"x": "' + b"\\u0000" * (3 * 1024 * 1024) + b'"}'
    # Were the body read, the NUL would make this a 400; unread, it is refused for who asks.
    resp = client.get("/committee/api/cases/" + "0" * 32, data=big, content_type="application/json")
    assert resp.status_code == 401
    resp = client.put("/committee/api/cases/" + "0" * 32 + "/grants", data=big, content_type="application/json")
    assert resp.status_code != 400


def test_a_members_json_body_is_bounded(app, people, db_session):
    _report(app, header=HOUSING)
    case = _case(db_session)
    big = b'{"username": "' + b"a" * (5 * 1024 * 1024) + b'", "keys": {}}'
    resp = people["zhao.lei"].api(
        "post", f"/committee/api/cases/{case.id}/grants", data=big, content_type="application/json"
    )
    assert resp.status_code == 413
