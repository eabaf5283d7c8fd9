"""Proof of work (whistle.security.proof_of_work, crypto/FORMAT.md §7): signed, fresh, single-use challenges that
the JavaScript path solves before each report, message and survey answer; the no-JS forms
skip it and spend a stricter budget instead."""

import datetime as dt
import hashlib
import json

import pytest

from crypto.encoding import unb64u
from crypto import envelope as env
from whistle.security import proof_of_work as proof
from whistle.config import ConfigError, from_env
from whistle.services import services

from tests.client_side import credentials, proof_of_work, seal_report
from tests.conftest import build_app, make_config
from tests.helpers import report_form

SECRET = bytes(range(32))
EN = {"Accept-Language": "en"}


def test_a_solved_challenge_verifies():
    challenge = proof.issue(SECRET, 8)
    nonce = proof.solve(challenge)
    assert proof.check(SECRET, {"challenge": challenge, "nonce": nonce}, min_bits=8) == challenge
    digest = hashlib.blake2b(f"{challenge}:{nonce}".encode(), digest_size=32).digest()
    assert proof.leading_zero_bits(digest) >= 8


def test_format_and_mac_follow_the_spec():
    day = dt.date(2026, 3, 4)
    challenge = proof.issue(SECRET, 12, day)
    version, iso, bits, rand, mac = challenge.split(".")
    assert (version, iso, bits) == ("1", "2026-03-04", "12") and len(unb64u(rand)) == 16
    import hmac
    from crypto.keys import derive

    expected = hmac.new(derive(SECRET, "whistle/v1/pow"), challenge.rsplit(".", 1)[0].encode(), hashlib.sha256).digest()
    assert unb64u(mac) == expected


@pytest.mark.parametrize(
    "bits, digest, expected",
    [
        (0, b"\xff", 0),
        (8, b"\x00\xff", 8),
        (9, b"\x00\x7f", 9),
        (16, b"\x00\x00\x01", 23),
        (4, b"\x0f", 4),
    ],
)
def test_leading_zero_bits(bits, digest, expected):
    assert proof.leading_zero_bits(digest) == expected


def _bad(proof_value, **kw):
    with pytest.raises(proof.ProofOfWorkRequired):
        proof.check(SECRET, proof_value, min_bits=kw.get("min_bits", 8), today=kw.get("today"))


def test_wrong_nonce_forged_mac_stale_day_and_too_few_bits_are_refused():
    challenge = proof.issue(SECRET, 10)
    nonce = proof.solve(challenge)
    wrong = next(str(n) for n in range(10**6) if proof.leading_zero_bits(proof.digest(challenge, str(n))) < 10)
    _bad({"challenge": challenge, "nonce": wrong})
    _bad({"challenge": challenge[:-2] + ("AA" if not challenge.endswith("AA") else "BB"), "nonce": nonce})
    _bad({"challenge": proof.issue(bytes(32), 10), "nonce": nonce})  # another site's secret
    for value in (
        None,
        "x",
        {"challenge": challenge},
        {"challenge": challenge, "nonce": 5},
        {"challenge": challenge, "nonce": "1" * 17},
        {"challenge": 3, "nonce": "1"},
    ):
        _bad(value)
    old = proof.issue(SECRET, 10, dt.date.today() - dt.timedelta(days=3))
    _bad({"challenge": old, "nonce": proof.solve(old)})
    yesterday = proof.issue(SECRET, 10, proof.utc_day() - dt.timedelta(days=1))
    assert proof.check(SECRET, {"challenge": yesterday, "nonce": proof.solve(yesterday)}, min_bits=10)
    easy = proof.issue(SECRET, 2)
    _bad({"challenge": easy, "nonce": proof.solve(easy)}, min_bits=10)  # asked for less than the site wants


def test_memory_store_spends_once():
    store = proof.MemorySpent()
    later = proof.forget_at(proof.issue(SECRET, 2))
    assert store.add("a", later) and not store.add("a", later) and store.add("b", later)
    assert store.add("c", 0) and store.add("c", 0)  # a mark past its time is forgotten


def test_a_spent_mark_is_forgotten_at_a_midnight_set_by_the_challenge_day_alone():
    day = dt.date(2026, 3, 1)
    first, second = proof.issue(SECRET, 2, day), proof.issue(SECRET, 2, day)
    assert proof.forget_at(first) == proof.forget_at(second)
    assert proof.forget_at(first) == dt.datetime(2026, 3, 4, tzinfo=dt.timezone.utc).timestamp()


def test_challenge_endpoint_and_reuse(client, committee, app):
    answer = client.post("/api/v1/pow", json={})
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    data = answer.get_json()
    assert data["bits"] == services(app).config.pow_bits == 4 and data["algorithm"] == "blake2b-256"
    assert data["challenge"].split(".")[1] == proof.utc_day().isoformat()
    assert client.get("/api/v1/pow").status_code == 405


def test_reports_and_messages_need_a_fresh_unused_proof(client, committee):
    from tests.test_hardening import report_submission

    submission = report_submission(client)
    no_pow = dict(submission)
    del no_pow["pow"]
    resp = client.post("/api/v1/reports", json=no_pow, headers=EN)
    assert resp.status_code == 400 and resp.get_json()["error"] == "proof_of_work"
    assert "anti-abuse" in resp.get_json()["message"]
    assert client.post("/api/v1/reports", json=submission).status_code == 201
    again = report_submission(client, pow=submission["pow"])  # a new locator, the spent proof
    resp = client.post("/api/v1/reports", json=again)
    assert resp.status_code == 400 and resp.get_json()["error"] == "proof_of_work"

    _resp, code, _ = seal_report(client, "x")
    creds, keys = credentials(client, code)
    view = client.post("/api/v1/followup", json=creds).get_json()
    recipients = [unb64u(r["public_key"]) for r in view["recipients"]] + [keys.keypair.public]
    sealed = env.seal("message", {"case": view["case"]}, {"text": "hi", "attachments": []}, recipients)
    resp = client.post("/api/v1/followup/messages", json=dict(creds, envelope=sealed.envelope))
    assert resp.status_code == 400 and resp.get_json()["error"] == "proof_of_work"
    unsolved = client.post("/api/v1/pow", json={}).get_json()["challenge"]
    wrong = next(str(n) for n in range(10**6) if proof.leading_zero_bits(proof.digest(unsolved, str(n))) < 4)
    resp = client.post(
        "/api/v1/followup/messages",
        json=dict(creds, envelope=sealed.envelope, pow={"challenge": unsolved, "nonce": wrong}),
    )
    assert resp.status_code == 400
    resp = client.post(
        "/api/v1/followup/messages", json=dict(creds, envelope=sealed.envelope, pow=proof_of_work(client))
    )
    assert resp.status_code == 201


def test_a_proof_spent_on_one_endpoint_is_spent_on_every_other(app, client, committee):
    """One store of spent challenges for reports, messages and survey answers: a proof used
    for a survey answer opens neither a report nor a message, nor the survey again."""
    from tests.test_hardening import report_submission
    from tests.test_surveys import make_survey

    survey_id = make_survey(app)
    spent = proof_of_work(client)
    answer = {"answers": {"1": 4}, "pow": spent}
    first = client.post(f"/api/v1/surveys/{survey_id}/responses", json=answer)
    assert first.status_code == 201, first.get_json()
    for resp in (
        client.post(f"/api/v1/surveys/{survey_id}/responses", json=answer),
        client.post("/api/v1/reports", json=report_submission(client, pow=spent)),
    ):
        assert resp.status_code == 400 and resp.get_json()["error"] == "proof_of_work"
    _resp, code, _ = seal_report(client, "x")
    creds, keys = credentials(client, code)
    view = client.post("/api/v1/followup", json=creds).get_json()
    recipients = [unb64u(r["public_key"]) for r in view["recipients"]] + [keys.keypair.public]
    sealed = env.seal("message", {"case": view["case"]}, {"text": "hi", "attachments": []}, recipients)
    resp = client.post("/api/v1/followup/messages", json=dict(creds, envelope=sealed.envelope, pow=spent))
    assert resp.status_code == 400 and resp.get_json()["error"] == "proof_of_work"


def test_a_higher_setting_refuses_easier_challenges(tmp_path, request):
    easy = build_app(make_config(tmp_path, request, pow_bits=2))
    challenge = easy.test_client().post("/api/v1/pow", json={}).get_json()["challenge"]
    services(easy).engine.dispose()
    hard = build_app(make_config(tmp_path, request, pow_bits=6))  # the same instance dir: same secret
    with hard.test_request_context("/"):
        with pytest.raises(proof.ProofOfWorkRequired):
            proof.require({"pow": {"challenge": challenge, "nonce": proof.solve(challenge)}})
    services(hard).engine.dispose()


def test_nojs_forms_skip_the_proof_but_spend_a_stricter_budget(tmp_path, request):
    from sqlalchemy.orm import Session
    from whistle.custody import offline
    from whistle.clock import today
    from tests.conftest import KEY_PASSPHRASE
    from tests.test_notices import open_notice

    app = build_app(make_config(tmp_path, request, limit_submit_nojs="3 per hour"))
    with Session(services(app).engine) as s:
        offline.init_keys(
            s, tmp_path / "k.key", KEY_PASSPHRASE, "k", today("Asia/Shanghai"), opslimit=1, memlimit=8192 * 8
        )
        s.commit()
        notice_id = open_notice(s).id
    client = app.test_client()
    codes = [
        client.post("/report/contractor", data=report_form(f"n{i}"), content_type="multipart/form-data").status_code
        for i in range(2)
    ]
    # A comment on a notice costs the server a receipt derivation too: the same budget.
    comment = {
        "accused_rank": "leadership",
        "category": "qualifications",
        "money_band": "none",
        "frequency": "once",
        "evidence": "can_provide",
        "narrative": "comment",
    }
    codes += [
        client.post(f"/report/notice/{notice_id}", data=comment, content_type="multipart/form-data").status_code
        for _ in range(2)
    ]
    codes.append(
        client.post("/report/contractor", data=report_form("n"), content_type="multipart/form-data").status_code
    )
    assert codes == [200, 200, 200, 429, 429]
    resp, _code, _ = seal_report(client, "the JS path is not on that budget")
    assert resp.status_code == 201
    services(app).engine.dispose()


def test_setting_is_read_and_checked():
    cfg = from_env({"WHISTLE_POW_BITS": "20", "WHISTLE_INSTANCE_DIR": "/tmp/whistle-pow-test"})
    assert cfg.pow_bits == 20
    assert from_env({"WHISTLE_INSTANCE_DIR": "/tmp/whistle-pow-test"}).pow_bits == 18
    with pytest.raises(ConfigError):
        from_env({"WHISTLE_POW_BITS": "40", "WHISTLE_INSTANCE_DIR": "/tmp/whistle-pow-test"})


def test_openapi_describes_the_proof(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/pow" in doc["paths"]
    schemas = doc["components"]["schemas"]
    assert "pow" in schemas["ReportSubmission"]["required"]
    assert schemas["ProofOfWork"]["required"] == ["challenge", "nonce"]
    assert "/api/v1/surveys/{survey_id}/responses" in doc["paths"]


def test_spent_challenges_hold_nothing_but_a_hash(app, client, committee):
    answer = proof_of_work(client)
    seal_report(client, "x")  # spends its own proof
    with app.test_request_context("/"):
        proof.spend(answer["challenge"])
        store = services(app).pow_spent
    names = list(store._seen)
    assert all(len(n) == 32 and all(c in "0123456789abcdef" for c in n) for n in names)
    assert hashlib.sha256(answer["challenge"].encode()).hexdigest()[:32] in names
    assert "127.0.0.1" not in json.dumps(names)
