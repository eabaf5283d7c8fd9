"""Review findings on the reporter side: bad input is a clear 4xx, never a 500; no existence
oracle; limits that hold; logs without data or time; an instance secret made once."""

import datetime as dt
import io
import json
import logging
import multiprocessing
import re
import secrets
import stat
import threading
import time
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session
from werkzeug.http import parse_options_header
from werkzeug.serving import make_server

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.keys import random_bytes
from crypto.receipt import ReceiptCode, derive_reporter_keys
from crypto.stream import attachment_key, encrypt_bytes
from whistle import _instance_secret
from whistle.cases import store as cases
from whistle.custody import offline
from whistle.security import privacy, proof_of_work as proof
from whistle.clock import today
from whistle.config import ConfigError, from_env
from whistle.models import Attachment, Base, Case, CaseItem, CommitteeKey, Member, new_id
from whistle.security.privacy import QuietRequestHandler
from whistle.services import services

from tests.client_side import HEADER, MEM, OPS, credentials, new_locator, proof_of_work, seal_report
from tests.conftest import KEY_PASSPHRASE, build_app, make_config
from tests.http_client import HttpClient
from tests.helpers import REPORT_FIELDS, receipt_from, redis_or_skip, report_form

EN = {"Accept-Language": "en"}
REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of its own; keys under a unique prefix


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def make_app(tmp_path, request):
    """Build extra apps (own settings) with a committee key; disposed of afterwards."""
    apps = []

    def build(backend="sqlite", **overrides):
        folder = tmp_path / f"app{len(apps)}"
        folder.mkdir()
        app = build_app(make_config(folder, request, backend=backend, **overrides))
        with Session(services(app).engine) as s:
            keypair = offline.init_keys(
                s, folder / "k.key", KEY_PASSPHRASE, "k", today("Asia/Shanghai"), opslimit=1, memlimit=8192 * 8
            )
            s.commit()
        app.committee_keypair = keypair
        apps.append(app)
        return app

    yield build
    for app in apps:
        services(app).engine.dispose()


def report_submission(client, *, attachments=(), header=HEADER, locator=None, token=None, **changes) -> dict:
    """A complete, valid JS-path report submission (as report.js builds it)."""
    recipients = client.post("/api/v1/recipients", json=header).get_json()["recipients"]
    if locator is None:
        locator, token = new_locator(client)
    code = ReceiptCode.generate(locator=locator)
    salt = random_bytes(16)
    keys = derive_reporter_keys(code, salt, OPS, MEM)
    sealed = env.seal(
        "report",
        env.bind_reporter_key(header, keys.keypair.public),
        {"narrative": "x", "attachments": list(attachments)},
        [unb64u(r["public_key"]) for r in recipients],
    )
    submission = {
        "locator": locator,
        "locator_token": token,
        "salt": b64u(salt),
        "kdf": {"opslimit": OPS, "memlimit": MEM},
        "lookup": b64u(keys.lookup),
        "reporter_public_key": b64u(keys.keypair.public),
        "envelope": sealed.envelope,
        "pow": proof_of_work(client),
    }
    submission.update(changes)
    return submission


def raw_multipart(parts) -> tuple[bytes, str]:
    """A multipart body from (Content-Disposition parameters, data) pairs, byte for byte."""
    boundary = b"----whistle-test-boundary"
    out = b""
    for disposition, data in parts:
        out += b"--" + boundary + b"\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\n" + data + b"\r\n"
    return out + b"--" + boundary + b"--\r\n", "multipart/form-data; boundary=" + boundary.decode()


def table_counts(app) -> dict:
    """Rows in every table."""
    with services(app).engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in Base.metadata.sorted_tables}


def reporter_message(client, code, body, *, content_key=None, parts=None, tamper=None):
    """Post a message sealed like followup.js, with any body the reporter likes."""
    creds, keys = credentials(client, code)
    view = client.post("/api/v1/followup", json=creds).get_json()
    recipients = [unb64u(r["public_key"]) for r in view["recipients"]] + [keys.keypair.public]
    sealed = env.seal("message", {"case": view["case"]}, body, recipients, content_key=content_key)
    if tamper:
        tamper(sealed.envelope)
    data = dict(parts or {}, submission=json.dumps(dict(creds, envelope=sealed.envelope, pow=proof_of_work(client))))
    return client.post("/api/v1/followup/messages", data=data, content_type="multipart/form-data")


def nojs_report(client, files=(("f.txt", b"abc"),)) -> str:
    resp = client.post("/report/contractor", data=report_form("n", files=files), content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return receipt_from(resp.get_data(as_text=True))


# --- 1. bad input is a clear 4xx in the user's language ---------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("channel", ["x"]),
        ("department", {"a": 1}),
        ("money_band", [1]),
        ("category", 7),
        ("evidence", None),
        ("channel", True),
    ],
)
def test_routing_values_must_be_strings(client, committee, field, value):
    header = dict(HEADER, **{field: value})
    resp = client.post("/api/v1/recipients", json=header, headers=EN)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_submission"
    assert "malformed" in resp.get_json()["message"]  # English, as asked
    submission = report_submission(client)
    submission["envelope"]["header"][field] = value
    resp = client.post("/api/v1/reports", json=submission, headers=EN)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_submission"


@pytest.mark.parametrize(
    "kdf",
    ["x", [1], 5, None, {"opslimit": "1", "memlimit": MEM}, {"opslimit": True, "memlimit": MEM}, {"opslimit": OPS}],
)
def test_kdf_of_the_wrong_shape_is_400(client, committee, kdf):
    resp = client.post("/api/v1/reports", json=report_submission(client, kdf=kdf), headers=EN)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_submission"


def test_receipt_cost_must_be_exactly_the_sites(client, committee):
    for ops, mem in ((OPS + 1, MEM), (OPS, MEM * 2), (OPS, MEM // 2)):
        resp = client.post("/api/v1/reports", json=report_submission(client, kdf={"opslimit": ops, "memlimit": mem}))
        assert resp.status_code == 400, (ops, mem)
    resp = client.post("/api/v1/reports", json=report_submission(client))
    assert resp.status_code == 201


JSON_ENDPOINTS = [
    "/api/v1/recipients",
    "/api/v1/followup",
    "/api/v1/followup/attachments/" + "a" * 32,
    "/api/v1/reports",
    "/api/v1/followup/messages",
]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "body", ["[" * 20_000, '{"a":' * 10_000, "[" * 100_000], ids=["deep-array", "deep-object", "deep-and-big"]
)
def test_deeply_nested_json_is_a_4xx(client, committee, path, body):
    resp = client.post(path, data=body, content_type="application/json", headers=EN)
    # Within the size limit the nesting itself is refused (400); beyond 64 KiB a JSON-only
    # endpoint refuses the size first (413). Both are clear errors, never a 500.
    too_big = len(body) > 64 * 1024 and path not in ("/api/v1/reports", "/api/v1/followup/messages")
    assert resp.status_code == (413 if too_big else 400)
    assert resp.get_json()["message"]


@pytest.mark.parametrize("path", ["/api/v1/reports", "/api/v1/followup/messages"])
def test_deeply_nested_submission_field_is_400(client, committee, path):
    resp = client.post(path, data={"submission": "[" * 100_000}, content_type="multipart/form-data")
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_submission"


def test_nan_and_huge_numbers_are_not_json(client, committee):
    for body in ('{"locator":NaN,"lookup":"x"}', '{"kdf":{"opslimit":' + "9" * 5000 + "}}"):
        for path in ("/api/v1/followup", "/api/v1/reports"):
            resp = client.post(path, data=body, content_type="application/json")
            assert resp.status_code == 400, (path, body[:20])


def wsgi_call(app, path, *, method="GET", headers=(), body=b"") -> tuple[int, str]:
    """(status, body) of one request handed to the WSGI app as is: the test client itself
    decodes the Host to build its cookie jar's URL, and fails on what the app must refuse."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, method=method, headers=dict(headers), data=body).get_environ()
    status = []
    out = b"".join(app(environ, lambda line, _headers, _exc=None: status.append(line)))
    return int(status[0].split()[0]), out.decode("utf-8")


@pytest.mark.parametrize(
    "host", ["a" * 64, "a" * 64 + ".example.org", "x." + "b" * 100 + ":8080", "xn--zz", "XN--ZZ.example.org"]
)
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/report/contractor",
        "/followup",
        "/transparency",
        "/committee/login",
        "/no-such-page",
        "/static/css/site.css",
    ],
)
def test_a_host_with_no_idna_form_is_a_400_page_in_the_users_language(app, committee, host, path):
    """A label over 63 characters cannot be IDNA-encoded, nor a bad punycode label decoded:
    routing gave up, and every page built with url_for (the error page included) was a 500,
    as was every form post, whose Origin is compared with the Host."""
    for language, message in (("en", "The request could not be understood."), ("zh-CN", "无法识别这个请求。")):
        for method in ("GET", "POST"):
            status, body = wsgi_call(
                app,
                path,
                method=method,
                headers={"Host": host, "Accept-Language": language, "Origin": f"http://{host}"},
            )
            assert status == 400, (path, method, status)
            assert message in body
    status, body = wsgi_call(
        app,
        "/api/v1/recipients",
        method="POST",
        body=json.dumps(HEADER).encode(),
        headers={"Host": host, "Content-Type": "application/json", **EN},
    )
    assert status == 400 and json.loads(body)["message"] == "The request could not be understood."


@pytest.mark.parametrize("locator", [1234567, [1], {"a": 1}, None, "12345678", "١٢٣٤٥٦٧"])
def test_locator_must_be_a_string_of_digits(client, committee, locator):
    code = nojs_report(client)
    creds, _ = credentials(client, ReceiptCode.parse(code))
    resp = client.post("/api/v1/followup", json=dict(creds, locator=locator))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_submission"
    # An int equal to a real locator is not coerced into it.
    if locator == 1234567:
        resp = client.post("/api/v1/followup", json=dict(creds, locator=int(creds["locator"])))
        assert resp.status_code == 400
    resp = client.post("/api/v1/reports", json=dict(report_submission(client), locator=locator))
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_submission"


def test_duplicate_attachment_id_is_400_and_stores_nothing(client, committee, app):
    attachment_id = "b" * 32
    part = lambda: (io.BytesIO(b"x" * 100), attachment_id)  # noqa: E731
    first = client.post(
        "/api/v1/reports",
        data={"submission": json.dumps(report_submission(client)), attachment_id: part()},
        content_type="multipart/form-data",
    )
    assert first.status_code == 201
    before = table_counts(app)
    again = client.post(
        "/api/v1/reports",
        data={"submission": json.dumps(report_submission(client)), attachment_id: part()},
        content_type="multipart/form-data",
        headers=EN,
    )
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_submission"
    assert table_counts(app) == before


def test_part_name_with_a_trailing_newline_is_refused(client, committee, db_session):
    submission = json.dumps(report_submission(client)).encode()
    body, ctype = raw_multipart(
        [(b'name="submission"', submission), (b"name*=UTF-8''" + b"e" * 32 + b'%0A; filename="x"', b"Z" * 100)]
    )
    resp = client.post("/api/v1/reports", data=body, content_type=ctype)
    assert resp.status_code == 400
    assert db_session.scalar(select(func.count()).select_from(Attachment)) == 0


def test_a_multipart_part_without_a_name_makes_the_body_a_400(app, client, committee):
    """RFC 7578 requires every part to have a name; one without reached Flask-WTF's token
    lookup as a None key (a 500 on every committee form). Now the body is malformed: a
    clear 400 in the user's language, and nothing stored."""
    before = table_counts(app)
    for path, parts in [
        ("/committee/login", [(b"", b"value")]),
        ("/committee/login", [(b'name="username"', b"x"), (b'filename="a.txt"', b"file")]),
        ("/report/contractor", [(b'name="narrative"', b"n"), (b"", b"value")]),
        (
            "/api/v1/reports",
            [(b'name="submission"', json.dumps(report_submission(client)).encode()), (b'filename="x"', b"Z" * 100)],
        ),
    ]:
        body, ctype = raw_multipart(parts)
        resp = client.post(
            path,
            data=body,
            content_type=ctype,
            headers={"Accept-Language": "en"},
            environ_base={"wsgi.url_scheme": "https"},
        )
        assert resp.status_code == 400, (path, resp.status_code)
        text = resp.get_data(as_text=True)
        assert "Traceback" not in text
        if path == "/committee/login":
            assert "The request could not be understood." in text
    assert table_counts(app) == before


def test_attachment_ids_are_matched_whole():
    from whistle.cases.uploads import ATTACHMENT_ID, is_attachment_id

    assert is_attachment_id("a" * 32) and not is_attachment_id("a" * 32 + "\n") and not is_attachment_id(None)
    assert ATTACHMENT_ID.match("a" * 32 + "\n") is None  # also safe where .match() is used
    from crypto.encoding import unb64u as decode
    from crypto.errors import FormatError

    with pytest.raises(FormatError):
        decode("AAAA\n")


def test_malformed_reporter_bodies_do_not_break_the_case_page(client, committee):
    code = nojs_report(client)
    good_id = new_id()
    bodies = [
        {"text": "x", "attachments": [{"id": "a" * 32, "name": "n", "size": "big"}]},
        {"text": "x", "attachments": "abc"},
        {"text": ["x"]},
        {
            "text": "y",
            "attachments": [
                None,
                5,
                {"id": "short", "name": "n", "size": 1},
                {"id": "c" * 32, "name": 7, "size": 1},
                {"id": "d" * 32, "name": "n", "size": -1},
                {"id": "e" * 32, "name": "n", "size": True},
            ],
        },
        {"text": "SHOWN-TEXT", "attachments": [{"id": good_id, "name": "ok.txt", "size": 2}]},
    ]
    for body in bodies:
        content_key = random_bytes(32)
        parts = {}
        if body["text"] == "SHOWN-TEXT":
            parts[good_id] = (io.BytesIO(encrypt_bytes(attachment_key(content_key, good_id), b"ok")), good_id)
        assert (
            reporter_message(client, ReceiptCode.parse(code), body, content_key=content_key, parts=parts).status_code
            == 201
        )
    page = client.post("/followup", data={"code": code}, headers=EN)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "SHOWN-TEXT" in html and "ok.txt" in html
    assert html.count("/followup/attachment/") == 1  # only the well-formed entry is offered
    download = client.post(f"/followup/attachment/{good_id}", data={"code": code})
    assert download.status_code == 200 and download.data == b"ok"


def test_an_item_that_does_not_open_for_the_reporter_is_left_out(client, committee):
    code = nojs_report(client)
    parsed = ReceiptCode.parse(code)
    _creds, keys = credentials(client, parsed)

    def break_reporter_key(envelope):
        for entry in envelope["recipients"]:
            if entry["kid"] == keys.keypair.kid:
                entry["key"] = b64u(random_bytes(80))

    assert reporter_message(client, parsed, {"text": "lost"}, tamper=break_reporter_key).status_code == 201
    assert reporter_message(client, parsed, {"text": "VISIBLE"}).status_code == 201
    page = client.post("/followup", data={"code": code})
    assert page.status_code == 200 and "VISIBLE" in page.get_data(as_text=True)


def test_control_characters_are_stripped_from_file_names(client, committee, db_session, tmp_path):
    code = nojs_report(client)
    body, ctype = raw_multipart(
        [
            (b'name="code"', code.encode()),
            (b'name="text"', b"hi"),
            (b"name=\"files\"; filename*=UTF-8''evil%0D%0AX-Injected%3A%201%E2%80%AE.txt", b"DATA"),
        ]
    )
    page = client.post("/followup/message", data=body, content_type=ctype)
    assert page.status_code == 200
    ids = re.findall(r"/followup/attachment/([0-9a-f]{32})", page.get_data(as_text=True))
    assert len(ids) == 1
    download = client.post(f"/followup/attachment/{ids[0]}", data={"code": code})
    assert download.status_code == 200 and download.data == b"DATA"
    disposition = download.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "X-Injected" in disposition
    assert "X-Injected" not in download.headers  # no header was smuggled in
    summary = offline.decrypt_case(db_session, db_session.scalar(select(Case)), committee[0], tmp_path)
    name = summary["items"][1]["body"]["attachments"][0]["name"]
    assert name == "evilX-Injected: 1.txt"  # CR, LF and the right-to-left override are gone


def test_a_browser_sealed_name_with_newlines_downloads_cleanly(client, committee):
    code = nojs_report(client)
    content_key, attachment_id = random_bytes(32), new_id()
    stream = encrypt_bytes(attachment_key(content_key, attachment_id), b"xyz")
    body = {"text": "t", "attachments": [{"id": attachment_id, "name": "a\r\nSet-Cookie: x.txt", "size": 3}]}
    assert (
        reporter_message(
            client,
            ReceiptCode.parse(code),
            body,
            content_key=content_key,
            parts={attachment_id: (io.BytesIO(stream), attachment_id)},
        ).status_code
        == 201
    )
    download = client.post(f"/followup/attachment/{attachment_id}", data={"code": code})
    assert download.status_code == 200 and download.data == b"xyz"
    assert "Set-Cookie" not in download.headers and "\n" not in download.headers["Content-Disposition"]


def test_a_non_latin_1_file_name_downloads_through_a_real_server(app, client, committee):
    # The test client does not encode headers; a server must write them in Latin-1, and
    # gunicorn (like werkzeug's server here) refuses a raw 证据.txt with a 500.
    code = nojs_report(client)
    page = client.post(
        "/followup/message",
        data={"code": code, "text": "see file", "files": (io.BytesIO(b"DATA"), "证据 “final”.txt")},
        content_type="multipart/form-data",
    )
    ids = re.findall(r"/followup/attachment/([0-9a-f]{32})", page.get_data(as_text=True))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        http = HttpClient(f"http://127.0.0.1:{server.server_port}", timeout=10)
        download = http.post(f"/followup/attachment/{ids[0]}", data={"code": code})
    finally:
        server.shutdown()
        serving.join(timeout=10)
        server.server_close()
    assert download.status_code == 200 and download.data == b"DATA"
    disposition = download.headers["Content-Disposition"]
    disposition.encode("ascii")
    assert re.search(r'filename="?[ -~]*\.txt"?;', disposition)  # an ASCII fallback first
    assert "filename*=UTF-8''" in disposition
    assert parse_options_header(disposition)[1]["filename"] == "证据 “final”.txt"  # RFC 5987


# --- 3. no existence oracle --------------------------------------------------------------------


def _unknown_locators(db_session, count):
    taken = set(db_session.scalars(select(Case.locator)))
    found = []
    while len(found) < count:
        locator = f"{secrets.randbelow(10**7):07d}"
        if locator not in taken:
            found.append(locator)
    return found


def test_fake_cost_is_drawn_from_the_costs_in_use(make_app):
    app = make_app(extra={"ratelimit": False})  # a few hundred salt requests
    client = app.test_client()
    cases.forget_cost_distribution()
    with Session(services(app).engine) as db_session:
        unknown = _unknown_locators(db_session, 1)[0]
        assert client.get(f"/api/v1/receipts/{unknown}/salt").get_json()["opslimit"] == OPS  # no cases yet
        for _ in range(3):
            assert seal_report(client, "x")[0].status_code == 201
        # One case made under an older, higher cost (the site's cost was changed since).
        first = db_session.scalars(select(Case.id)).first()
        db_session.execute(Case.__table__.update().where(Case.id == first).values(kdf_opslimit=OPS + 1))
        db_session.commit()
        cases.forget_cost_distribution()
        drawn = []
        for locator in _unknown_locators(db_session, 120):
            salt = client.get(f"/api/v1/receipts/{locator}/salt").get_json()
            assert client.get(f"/api/v1/receipts/{locator}/salt").get_json() == salt  # stable
            drawn.append((salt["opslimit"], salt["memlimit"]))
    assert set(drawn) == {(OPS, MEM), (OPS + 1, MEM)}
    assert 10 < drawn.count((OPS + 1, MEM)) < 75  # about a third, as in the database


def test_cost_distribution_is_cached_for_a_minute(app, client, committee, db_session, monkeypatch):
    cases.forget_cost_distribution()
    assert seal_report(client, "x")[0].status_code == 201
    now = [1000.0]
    monkeypatch.setattr(cases.time, "monotonic", lambda: now[0])
    assert cases.cost_distribution(db_session) == [(OPS, MEM, 1)]
    assert seal_report(client, "y")[0].status_code == 201
    assert cases.cost_distribution(db_session) == [(OPS, MEM, 1)]  # cached
    now[0] += cases.COST_CACHE_SECONDS + 1
    assert cases.cost_distribution(db_session) == [(OPS, MEM, 2)]


def test_locators_are_issued_unused_with_a_token_of_today(app, client, committee, monkeypatch):
    taken = ReceiptCode.parse(nojs_report(client)).locator
    draws = iter([taken, "7654321"])
    monkeypatch.setattr(cases, "random_locator", lambda: next(draws))
    answer = client.post("/api/v1/locators", json={})
    assert answer.status_code == 200
    assert answer.get_json()["locator"] == "7654321"  # the taken one was skipped
    secret, day = services(app).secret, today("Asia/Shanghai")
    assert answer.get_json()["token"] == cases.locator_token(secret, "7654321", day)
    # Accepted on the day of issue and the next; refused later and for another locator.
    assert cases.locator_token_valid(secret, "7654321", answer.get_json()["token"], day + dt.timedelta(days=1))
    assert not cases.locator_token_valid(secret, "7654321", answer.get_json()["token"], day + dt.timedelta(days=2))
    assert not cases.locator_token_valid(secret, "7654322", answer.get_json()["token"], day)
    assert not cases.locator_token_valid(secret, "7654321", "é" * 43, day)


def test_reports_need_a_token_of_today_or_yesterday(app, client, committee):
    secret, day = services(app).secret, today("Asia/Shanghai")
    for age, status in ((1, 201), (2, 400), (-1, 400)):
        locator = f"{secrets.randbelow(10**7):07d}"
        token = cases.locator_token(secret, locator, day - dt.timedelta(days=age))
        resp = client.post("/api/v1/reports", json=report_submission(client, locator=locator, token=token))
        assert resp.status_code == status, age
    resp = client.post("/api/v1/reports", json=report_submission(client, locator_token=None))
    assert resp.status_code == 400


def test_verifier_comparison_reads_the_same_columns_for_known_and_unknown_locators(app, client, committee):
    known = ReceiptCode.parse(nojs_report(client)).locator
    unknown = "0000000" if known != "0000000" else "0000001"
    statements = []

    def record(_conn, _cursor, statement, _params, _context, _many):
        statements.append(" ".join(statement.split()))

    engine = services(app).engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        seen = {}
        for locator in (known, unknown):
            statements.clear()
            resp = client.post("/api/v1/followup", json={"locator": locator, "lookup": b64u(bytes(32))})
            assert resp.status_code == 404
            seen[locator] = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert seen[known] == seen[unknown]
    lookups = [s for s in seen[known] if "FROM cases" in s]
    assert len(lookups) == 1 and lookups[0].startswith("SELECT cases.id, cases.verifier FROM cases")


# --- 4. rate limits and request sizes ------------------------------------------------------------


def test_recipients_and_locators_spend_the_submit_budget(make_app):
    app = make_app(limit_submit="4 per hour")
    client = app.test_client()
    statuses = [
        client.post("/api/v1/recipients", json=HEADER).status_code,
        client.post("/api/v1/locators", json={}).status_code,
        client.post("/api/v1/recipients", json=HEADER).status_code,
        client.post("/api/v1/locators", json={}).status_code,
        client.post("/api/v1/locators", json={}).status_code,
        client.post("/api/v1/recipients", json=HEADER).status_code,
        client.post("/api/v1/reports", json={}).status_code,
    ]
    assert statuses == [200, 200, 200, 200, 429, 429, 429]


def test_json_endpoints_take_at_most_64_kib(client, committee):
    padding = "x" * (64 * 1024)
    for path in (
        "/api/v1/recipients",
        "/api/v1/followup",
        "/api/v1/locators",
        "/api/v1/followup/attachments/" + "a" * 32,
    ):
        resp = client.post(path, data=json.dumps({"pad": padding}), content_type="application/json", headers=EN)
        assert resp.status_code == 413 and resp.get_json()["error"], path
    resp = client.post(
        "/api/v1/reports", data=json.dumps({"pad": "x" * (5 * 1024 * 1024)}), content_type="application/json"
    )
    assert resp.status_code == 413
    # The file-carrying endpoints keep the large limit for multipart bodies.
    resp, _, _ = seal_report(client, "x", files=[("big.bin", secrets.token_bytes(300 * 1024))])
    assert resp.status_code == 201


@pytest.fixture
def redis_prefix():
    connection = redis_or_skip(REDIS_URL)
    prefix = f"whistle-test-{secrets.token_hex(6)}:"
    yield prefix
    for key in connection.scan_iter(match=prefix + "*"):
        connection.delete(key)
    connection.close()


def test_daily_key_is_shared_by_workers_and_never_in_redis(make_app, redis_prefix, tmp_path):
    import redis

    shared = tmp_path / "ratelimit-key"
    workers = [
        make_app(ratelimit_storage=REDIS_URL, ratelimit_key_file=shared, extra={"redis_key_prefix": redis_prefix})
        for _ in range(2)
    ]
    alone = make_app()
    keys = []
    for app in workers + [alone]:
        with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.7"}):
            keys.append(privacy.client_key())
    assert keys[0] == keys[1]  # two workers: one budget per client
    assert keys[2] != keys[0]  # memory storage keeps its own in-process key
    stored = redis.Redis.from_url(REDIS_URL)
    assert not list(stored.scan_iter(match=f"{redis_prefix}ratelimit-key*"))  # never beside the counters
    stored.close()
    # The file holds today's link of the chain, stamped with today's midnight, not the time
    # of the start or of any request.
    today = proof.utc_day()
    day, link = shared.read_text().split()
    assert day == today.isoformat() and stat.S_IMODE(shared.stat().st_mode) == 0o600
    midnight = dt.datetime.combine(today, dt.time(), dt.timezone.utc).timestamp()
    assert shared.stat().st_mtime == midnight
    assert privacy.RatchetKey(shared).current() == privacy.ratelimit_key(bytes.fromhex(link))


def test_the_rate_limit_key_chain_moves_forward_and_forgets_the_past(tmp_path):
    """Another host given a copy of the file of an earlier day computes today's key alike;
    the file then holds today's link only, from which no earlier day's key follows."""
    today = proof.utc_day()
    first = secrets.token_bytes(32)
    copies = [tmp_path / "host-a", tmp_path / "host-b"]
    for path, day in zip(copies, (today - dt.timedelta(days=3), today - dt.timedelta(days=1))):
        link = first
        for _ in range((day - (today - dt.timedelta(days=3))).days):
            link = privacy.next_link(link)
        path.write_text(f"{day.isoformat()} {link.hex()}\n")
    expected = privacy.ratelimit_key(privacy.next_link(privacy.next_link(privacy.next_link(first))))
    assert [privacy.RatchetKey(path).current() for path in copies] == [expected, expected]
    for path in copies:
        assert path.read_text().split()[0] == today.isoformat()
        assert first.hex() not in path.read_text() and privacy.next_link(first).hex() not in path.read_text()
    (tmp_path / "bad").write_text("2026-01-01 abcd\n")
    with pytest.raises(RuntimeError, match="malformed"):
        privacy.RatchetKey(tmp_path / "bad")


def test_a_spent_challenge_in_redis_expires_at_a_utc_midnight_not_a_time_counted_from_now(make_app, redis_prefix):
    import redis

    app = make_app(ratelimit_storage=REDIS_URL, extra={"redis_key_prefix": redis_prefix})
    client = app.test_client()
    resp, _code, _keys = seal_report(client, "x")
    assert resp.status_code == 201
    stored = redis.Redis.from_url(REDIS_URL)
    spent = list(stored.scan_iter(match=f"{redis_prefix}pow-spent:*"))
    assert len(spent) == 1
    # Redis 7 has PEXPIRETIME; from PTTL, "now" is a few milliseconds off at most.
    expires_ms = time.time() * 1000 + stored.pttl(spent[0])
    midnight = round(expires_ms / 86_400_000) * 86_400_000
    assert abs(expires_ms - midnight) < 5_000  # the submission's time of day is not in it
    today_ms = proof.utc_day().toordinal() - dt.date(1970, 1, 1).toordinal()
    assert midnight // 86_400_000 - today_ms == proof.KEPT_DAYS  # the challenge is today's
    stored.close()


def test_rate_limit_counters_in_redis_expire_at_the_end_of_their_window_on_the_clock(make_app, redis_prefix):
    """The library's own counter expires one window after a client's first request, which
    would keep that request's time of day in Redis; whistle's expires at the window's end."""
    import redis

    stored = redis.Redis.from_url(REDIS_URL)
    for key in stored.scan_iter(match="LIMITS:*"):  # (this Redis database is these tests' own)
        stored.delete(key)
    app = make_app(ratelimit_storage=REDIS_URL, extra={"redis_key_prefix": redis_prefix})
    client = app.test_client()
    resp, _code, _keys = seal_report(client, "x")
    assert resp.status_code == 201
    counters = list(stored.scan_iter(match="LIMITS:*"))
    assert counters, "no rate-limit counter in Redis"
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 30 * 86400, "year": 365 * 86400}
    for key in counters:
        amount, unit = key.decode().rsplit("/", 2)[-2:]  # …/<limit>/<multiples>/<granularity>
        window = int(amount) * seconds[unit]
        expires = time.time() + stored.pttl(key) / 1000
        assert abs(expires - round(expires / window) * window) < 5, (key, expires % window)
    stored.close()


def _window_of(key: str) -> int:
    """The window, in seconds, of a rate-limit counter key (…/<limit>/<multiples>/<granularity>)."""
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "month": 30 * 86400, "year": 365 * 86400}
    amount, unit = key.rsplit("/", 2)[-2:]
    return int(amount) * seconds[unit]


def test_rate_limit_counters_in_memory_expire_at_the_end_of_their_window_on_the_clock(make_app):
    """The embedded default keeps counters in the process's memory, where the library's
    expiry (one window after a client's first request) would keep that request's time of
    day as surely as Redis would."""
    from whistle.extensions import limiter

    app = make_app()
    assert services(app).config.ratelimit_storage == "memory://"
    resp, _code, _keys = seal_report(app.test_client(), "x")
    assert resp.status_code == 201
    expirations = dict(limiter._storage.expirations)  # the live storage of the app just built
    assert expirations, "no rate-limit counter in memory"
    for key, expires in expirations.items():
        window = _window_of(key)
        assert expires % window == 0, (key, expires % window)


def test_a_memory_counter_started_by_two_requests_at_once_still_ends_with_its_window():
    """Two threads' first requests in one window: the second counts before the first reads
    its count back, so neither sees itself first. The counter must still expire at the
    window's end, not one window after the first request's instant."""
    from collections import Counter

    from whistle.security.ratelimit_storage import AlignedMemoryStorage, window_end

    storage = AlignedMemoryStorage()

    class SecondRequestComesBetween(Counter):
        """The counts; the first read-back of a count lets the other thread's request in."""

        interleaved = False

        def get(self, key, default=None):
            if key == "limit-key" and self["limit-key"] == 1 and not self.interleaved:
                self.interleaved = True
                storage.incr("limit-key", 3600)
            return super().get(key, default)

    storage.storage = SecondRequestComesBetween()
    assert storage.incr("limit-key", 3600) == 2
    assert storage.expirations["limit-key"] == window_end(3600)


def test_rate_limit_counters_over_tls_to_redis_expire_at_the_end_of_their_window_too():
    """rediss:// (Redis over TLS) is as valid a setting as redis://: its counters must go
    through the same clock-aligned storage, not the library's own."""
    from limits.storage import storage_from_string

    from whistle.security.ratelimit_storage import AlignedRedisStorage, aligned_uri

    for url in ("redis://127.0.0.1:6379/0", "rediss://127.0.0.1:6379/0"):
        storage = storage_from_string(aligned_uri(url))  # (redis-py connects on first use only)
        assert isinstance(storage, AlignedRedisStorage), url
        assert storage.get_connection().connection_pool.connection_kwargs["port"] == 6379
    assert storage.get_connection().connection_pool.connection_class.__name__ == "SSLConnection"


def test_rate_limit_storage_must_be_memory_or_redis(tmp_path):
    with pytest.raises(ConfigError, match="RATELIMIT_STORAGE"):
        make_config(tmp_path, ratelimit_storage="memcached://127.0.0.1:11211")


# --- 5. upload limits whatever the file name ----------------------------------------------------


def test_empty_file_name_gets_the_limited_spool(make_app):
    app = make_app(max_attachments=2, max_attachment_bytes=1000)
    client = app.test_client()
    submission = json.dumps(report_submission(client)).encode()
    body, ctype = raw_multipart(
        [(b'name="submission"', submission), (b'name="%s"; filename=""' % (b"d" * 32), b"Z" * 50_000)]
    )
    assert client.post("/api/v1/reports", data=body, content_type=ctype).status_code == 413
    body, ctype = raw_multipart(
        [(b'name="submission"', submission)]
        + [(b'name="%s"; filename=""' % (c * 32), b"Z" * 100) for c in (b"a", b"b", b"c")]
    )
    assert client.post("/api/v1/reports", data=body, content_type=ctype).status_code == 413
    assert table_counts(app)["cases"] == 0


def test_nojs_part_without_file_name_must_be_empty(make_app):
    app = make_app(max_attachment_bytes=1000)
    client = app.test_client()
    fields = [(b'name="%s"' % k.encode(), v.encode()) for k, v in report_form("n").items() if k != "files"]
    body, ctype = raw_multipart(fields + [(b'name="files"; filename=""', b"Z" * 50_000)])
    resp = client.post("/report/contractor", data=body, content_type=ctype, headers=EN)
    assert resp.status_code in (400, 413) and "<html" in resp.get_data(as_text=True)
    assert table_counts(app)["cases"] == 0
    body, ctype = raw_multipart(fields + [(b'name="files"; filename=""', b"")])  # an empty file input
    resp = client.post("/report/contractor", data=body, content_type=ctype)
    assert resp.status_code == 200
    with Session(services(app).engine) as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0


# --- 6. logs: no data, no time of day ------------------------------------------------------------

TIME_OF_DAY = re.compile(r"(?<!\d)\d{1,2}:\d{2}(?!\d)")


def test_internal_errors_log_type_and_place_only(app, committee, caplog, capsys):
    from flask.logging import default_handler
    from whistle import db

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("MARKER-boom-5e1f")

    @app.get("/_test/sql")
    def sql():
        row = dict(
            kid="PARAM-kid-77aa",
            public_key=b"\1" * 32,
            label="PARAM-label-77aa",
            demo=False,
            active=True,
            created_on=dt.date(2026, 1, 2),
        )
        db.session().execute(insert(CommitteeKey).values(**row))
        db.session().execute(insert(CommitteeKey).values(**row))  # IntegrityError, parameters and all

    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    for path in ("/_test/boom", "/_test/sql"):
        resp = client.get(path, headers=EN)
        assert resp.status_code == 500 and "Traceback" not in resp.get_data(as_text=True)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("whistle"))
    stderr = capsys.readouterr().err
    assert "unhandled RuntimeError at " in logged and "unhandled IntegrityError at " in logged
    assert re.search(r"tests/test_hardening\.py:\d+", logged)  # where it happened
    for hay in (logged, caplog.text, stderr):
        for needle in ("MARKER-boom", "PARAM-", "77aa", "Traceback", "INSERT INTO"):
            assert needle not in hay
    assert "unhandled RuntimeError" in stderr  # our handler wrote it...
    assert not TIME_OF_DAY.search(stderr)  # ...with no time of day
    for name in ("whistle", "flask.app"):
        handlers = logging.getLogger(name).handlers
        assert default_handler not in handlers
        assert all("asctime" not in (h.formatter._fmt if h.formatter else "") for h in handlers)


def test_an_error_after_a_commit_does_not_say_nothing_was_stored(app, committee):
    """The error page tells the truth about what was kept: a request that failed after its
    work was committed (rendering the receipt page, say) must not invite the user to send it
    again as if nothing had been stored; one that failed before says nothing was stored."""
    from whistle import db
    from whistle.custody import audit
    from whistle.extensions import csrf

    @app.post("/_test/after-commit")
    @csrf.exempt
    def after_commit():
        with db.transaction() as s:
            audit.record(s, "view", actor=None, on=dt.date(2026, 1, 2))
        raise RuntimeError("after the commit")

    @app.post("/_test/before-commit")
    @csrf.exempt
    def before_commit():
        with db.transaction() as s:
            audit.record(s, "view", actor=None, on=dt.date(2026, 1, 2))
            raise RuntimeError("before the commit")

    client = app.test_client()
    entries = table_counts(app)["audit_log"]
    resp = client.post("/_test/after-commit", headers=EN)
    assert resp.status_code == 500 and table_counts(app)["audit_log"] == entries + 1
    assert "what you sent was stored" in resp.get_data(as_text=True)
    assert "Nothing was stored" not in resp.get_data(as_text=True)
    resp = client.post("/_test/before-commit", headers=EN)
    assert resp.status_code == 500 and table_counts(app)["audit_log"] == entries + 1
    assert "Nothing was stored" in resp.get_data(as_text=True)


def test_database_errors_hide_their_parameters(app):
    from sqlalchemy.exc import IntegrityError

    row = dict(
        kid="PARAM-kid-91bb",
        public_key=b"\1" * 32,
        label="PARAM-label-91bb",
        demo=False,
        active=True,
        created_on=dt.date(2026, 1, 2),
    )
    with Session(services(app).engine) as s:
        s.execute(insert(CommitteeKey).values(**row))
        with pytest.raises(IntegrityError) as caught:
            s.execute(insert(CommitteeKey).values(**row))
    message = str(caught.value)
    assert "parameters hidden" in message and "PARAM-label-91bb" not in message
    # PostgreSQL's own DETAIL still names the duplicate key's value: which is why messages
    # are never logged at all (test above).


def test_an_exception_escaping_the_error_handlers_is_logged_without_detail(app, caplog):
    import sys

    caplog.set_level(logging.DEBUG)
    with app.test_request_context("/api/v1/receipts/7654321/salt"):
        try:
            raise RuntimeError("MARKER-escaped-0c3d")
        except RuntimeError:
            app.log_exception(sys.exc_info())
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "unhandled RuntimeError at tests/test_hardening.py:" in text
    assert "MARKER-escaped" not in text and "7654321" not in text and "Traceback" not in text


# --- 7. instance secret ------------------------------------------------------------------------


def _start_and_read_secret(cfg, start, out):
    start.wait()
    try:
        out.put(_instance_secret(cfg).hex())
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(repr(exc))


def test_racing_starters_end_up_with_one_secret(tmp_path):
    context = multiprocessing.get_context("fork")
    for trial in range(6):
        folder = tmp_path / f"t{trial}"
        folder.mkdir()
        cfg = make_config(folder)
        start, out = context.Event(), context.Queue()
        starters = [context.Process(target=_start_and_read_secret, args=(cfg, start, out)) for _ in range(8)]
        for p in starters:
            p.start()
        start.set()
        results = [out.get(timeout=60) for _ in starters]
        for p in starters:
            p.join(timeout=60)
        assert len(set(results)) == 1, results
        assert len(bytes.fromhex(results[0])) == 32
        files = list(cfg.instance_dir.iterdir())
        assert [f.name for f in files] == ["instance-secret"]  # no temporary file left
        assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_instance_secret_must_be_32_bytes(tmp_path):
    cfg = make_config(tmp_path)
    (cfg.instance_dir / "instance-secret").write_bytes(b"")
    with pytest.raises(ConfigError, match="exactly 32 bytes"):
        _instance_secret(cfg)
    (cfg.instance_dir / "instance-secret").write_bytes(b"x" * 33)
    with pytest.raises(ConfigError, match="exactly 32 bytes"):
        build_app(cfg)


def test_shared_instance_secret_file(tmp_path, monkeypatch):
    shared = tmp_path / "shared-secret"
    env = {"WHISTLE_INSTANCE_DIR": str(tmp_path / "host"), "WHISTLE_INSTANCE_SECRET_FILE": str(shared)}
    with pytest.raises(ConfigError, match="WHISTLE_INSTANCE_SECRET_FILE"):
        _instance_secret(from_env(env))  # never silently made per host
    shared.write_bytes(bytes(range(32)))
    cfg = from_env(env)
    assert cfg.instance_secret_file == shared
    assert _instance_secret(cfg) == bytes(range(32))
    assert not (tmp_path / "host" / "instance-secret").exists()


# --- 8. no-JS: a locator taken at the last moment is retried on the server -------------------


def test_nojs_report_retries_when_its_locator_is_taken(client, committee, db_session, monkeypatch):
    from crypto import receipt

    taken = ReceiptCode.parse(nojs_report(client)).locator
    real = receipt.random_locator
    draws = iter([taken])
    fake = lambda: next(draws, None) or real()  # noqa: E731 - the taken locator first, then random
    monkeypatch.setattr(receipt, "random_locator", fake)
    monkeypatch.setattr(cases, "random_locator", fake, raising=False)
    monkeypatch.setattr(cases, "locator_in_use", lambda _db, _locator: False)  # free when checked...
    resp = client.post(
        "/report/contractor", data=report_form("second", files=[("g.txt", b"GGG")]), content_type="multipart/form-data"
    )
    assert resp.status_code == 200  # ...taken at the insert: retried, no 409 page
    code = ReceiptCode.parse(receipt_from(resp.get_data(as_text=True)))
    assert code.locator != taken
    assert db_session.scalar(select(func.count()).select_from(Case)) == 2
    page = client.post("/followup", data={"code": code.grouped()})
    assert page.status_code == 200


# --- 9. language links never point at a POST-only address ---------------------------------------


def test_language_links_after_a_post_can_be_fetched(client, committee):
    code = nojs_report(client)
    pages = {
        "case": client.post("/followup?lang=en", data={"code": code}),
        "message": client.post("/followup/message?lang=en", data={"code": code, "text": "x"}),
        "receipt": client.post("/report/contractor?lang=en", data=report_form("n"), content_type="multipart/form-data"),
        "bad download": client.post("/followup/attachment/" + "a" * 32 + "?lang=en", data={"code": code}),
    }
    for name, page in pages.items():
        html = page.get_data(as_text=True)
        nav = re.search(r'<nav class="langs".*?</nav>', html, re.S).group(0)
        links = re.findall(r'href="([^"]+)"', nav)
        assert len(links) == 2, name
        for link in links:
            assert client.get(link.replace("&amp;", "&")).status_code == 200, (name, link)
    assert "/report/contractor?lang=" in pages["receipt"].get_data(as_text=True)


# --- 10. offline decryption skips bad entries --------------------------------------------------


def test_offline_decrypt_skips_bad_entries_with_a_note(app, client, committee, db_session, tmp_path):
    code = ReceiptCode.parse(nojs_report(client, files=[("evidence.txt", b"EVIDENCE")]))
    other = db_session.scalar(select(Attachment.id))  # stored with the report, not with a message
    content_key, good = random_bytes(32), new_id()
    bad_entries = [
        None,
        {"id": "zz", "name": "a", "size": 1},
        {"id": new_id(), "name": "ghost", "size": 1},
        {"id": other, "name": "theirs", "size": 8},
        {"id": good, "name": "huge", "size": "1"},
    ]
    assert reporter_message(client, code, {"text": "bad", "attachments": bad_entries}).status_code == 201
    assert reporter_message(client, code, {"text": "bad2", "attachments": "abc"}).status_code == 201
    committee_kid = committee[0].kid

    def break_committee_key(envelope):
        for entry in envelope["recipients"]:
            if entry["kid"] == committee_kid:
                entry["key"] = b64u(random_bytes(80))

    assert reporter_message(client, code, {"text": "unopenable"}, tamper=break_committee_key).status_code == 201
    stream = encrypt_bytes(attachment_key(content_key, good), b"LATER-FILE")
    assert (
        reporter_message(
            client,
            code,
            {"text": "LATER", "attachments": [{"id": good, "name": "later.txt", "size": 10}]},
            content_key=content_key,
            parts={good: (io.BytesIO(stream), good)},
        ).status_code
        == 201
    )
    db_session.expire_all()
    summary = offline.decrypt_case(db_session, db_session.scalar(select(Case)), committee[0], tmp_path)
    items = summary["items"]
    assert [i["seq"] for i in items] == [1, 2, 3, 4, 5]
    assert len(items[1]["skipped"]) == 5 and all("skipped" in note for note in items[1]["skipped"])
    assert items[2]["skipped"] == ["attachments: not a list"]
    assert items[3]["body"] is None and items[3]["skipped"]
    assert items[4]["body"]["text"] == "LATER" and "skipped" not in items[4]
    folder = tmp_path / summary["case"]
    assert (folder / items[4]["body"]["attachments"][0]["saved_as"]).read_bytes() == b"LATER-FILE"
    assert (folder / items[0]["body"]["attachments"][0]["saved_as"]).read_bytes() == b"EVIDENCE"
    assert len(list((folder / "attachments").iterdir())) == 2  # nothing half-written


# --- 11. no usernames for the public -------------------------------------------------------------


def test_public_recipient_labels_are_roles_not_names(app, client, committee, db_session):
    from crypto.keys import KeyPair

    member_key = KeyPair.generate()
    db_session.add(
        Member(
            username="chen.jie",
            public_key=member_key.public,
            active=True,
            created_on=today("Asia/Shanghai"),
            enrolled_on=today("Asia/Shanghai"),
            confirmed_on=today("Asia/Shanghai"),
        )
    )  # enrolled and confirmed by a second person
    db_session.commit()
    recipients = client.post("/api/v1/recipients", json=HEADER).get_json()["recipients"]
    assert sorted(r["label"] for r in recipients) == ["committee", "member"]
    resp, code, _ = seal_report(client, "x")
    assert resp.status_code == 201
    creds, _ = credentials(client, code)
    view = client.post("/api/v1/followup", json=creds).get_json()
    labels = {r["label"] for r in view["recipients"]}
    assert labels == {"committee", "member"}
    text = json.dumps(view) + json.dumps(recipients)
    assert "chen.jie" not in text and "test committee" not in text


# --- 12. a failure after the case row leaves nothing; concurrent messages -----------------------


@pytest.mark.parametrize("failure", ["short stream", "duplicate id"])
def test_failure_after_the_case_insert_leaves_no_row(app, client, committee, failure):
    attachment_id = "c" * 32
    if failure == "duplicate id":
        first = client.post(
            "/api/v1/reports",
            data={
                "submission": json.dumps(report_submission(client)),
                attachment_id: (io.BytesIO(b"x" * 100), attachment_id),
            },
            content_type="multipart/form-data",
        )
        assert first.status_code == 201
    data = b"xy" if failure == "short stream" else b"x" * 100
    submission = json.dumps(report_submission(client))
    before = table_counts(app)
    inserts = []
    engine = services(app).engine

    def record(_c, _cur, statement, *_rest):
        return inserts.append(statement.split()[2] if statement.startswith("INSERT") else "")  # noqa: E731

    event.listen(engine, "before_cursor_execute", record)
    try:
        resp = client.post(
            "/api/v1/reports",
            data={"submission": submission, attachment_id: (io.BytesIO(data), attachment_id)},
            content_type="multipart/form-data",
        )
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid_submission"
    assert "cases" in inserts and "case_items" in inserts  # it failed after those rows were written
    assert table_counts(app) == before
    if failure == "short stream":
        assert before["cases"] == before["case_items"] == before["attachments"] == 0


def test_concurrent_messages_to_one_case_all_land(app, client, committee):
    resp, code, _ = seal_report(client, "x")
    assert resp.status_code == 201
    creds, keys = credentials(client, code)
    view = client.post("/api/v1/followup", json=creds).get_json()
    recipients = [unb64u(r["public_key"]) for r in view["recipients"]] + [keys.keypair.public]
    bodies = [
        json.dumps(
            dict(
                creds,
                envelope=env.seal(
                    "message", {"case": view["case"]}, {"text": f"m{i}", "attachments": []}, recipients
                ).envelope,
                pow=proof_of_work(client),
            )
        ).encode()
        for i in range(16)
    ]
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/followup/messages"
    barrier, results = threading.Barrier(16), []

    def post(body):
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        barrier.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                results.append((answer.status, json.loads(answer.read())["seq"]))
        except urllib.error.HTTPError as exc:
            results.append((exc.code, None))

    try:
        threads = [threading.Thread(target=post, args=(body,)) for body in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        server.shutdown()
        serving.join(timeout=10)
        server.server_close()
    assert sorted(status for status, _ in results) == [201] * 16
    assert sorted(seq for _, seq in results) == list(range(2, 18))
    with Session(services(app).engine) as s:
        assert s.scalar(select(func.count()).select_from(CaseItem)) == 17


@pytest.mark.parametrize("zone", ["Asia/Shangai", "../etc/passwd", "UTC+8"])
def test_an_unknown_time_zone_stops_the_start(tmp_path, zone):
    with pytest.raises(ConfigError, match="WHISTLE_TIMEZONE"):
        make_config(tmp_path, timezone=zone)
    with pytest.raises(ConfigError, match="WHISTLE_TIMEZONE"):
        from_env({"WHISTLE_INSTANCE_DIR": str(tmp_path / "instance"), "WHISTLE_TIMEZONE": zone})


@pytest.mark.parametrize(
    "name, value", [("WHISTLE_RECEIPT_OPSLIMIT", str(2**32)), ("WHISTLE_RECEIPT_MEMLIMIT", str(2**50))]
)
def test_a_receipt_cost_above_libsodiums_maximum_stops_the_start(tmp_path, name, value):
    """Taken at the start, such a cost failed every receipt stretched on the server (each
    no-JS report a 500)."""
    with pytest.raises(ConfigError, match=name):
        from_env({"WHISTLE_INSTANCE_DIR": str(tmp_path / "instance"), name: value})


@pytest.mark.parametrize(
    "name, value",
    [
        ("WHISTLE_RECEIPT_OPSLIMIT", "0"),
        ("WHISTLE_RECEIPT_MEMLIMIT", "8192"),
        ("WHISTLE_RECEIPT_MEMLIMIT", str(8 * 1024 * 1024 - 1)),
    ],
)
def test_a_receipt_cost_below_the_floor_stops_the_start(tmp_path, name, value):
    """The browser refuses a follow-up cost below crypto/FORMAT.md's floor (1 pass over
    8 MiB): a site configured below it would have cases no browser opens."""
    with pytest.raises(ConfigError, match=name):
        from_env({"WHISTLE_INSTANCE_DIR": str(tmp_path / "instance"), name: value})


@pytest.mark.parametrize("url", ["nonsense", "mysql://whistle:secret@db/whistle", "postgresql://:notaport/x"])
def test_a_database_url_that_is_no_sqlite_or_postgresql_url_stops_the_start_by_name(tmp_path, url):
    with pytest.raises(ConfigError, match="WHISTLE_DATABASE_URL") as raised:
        from_env({"WHISTLE_INSTANCE_DIR": str(tmp_path / "instance"), "WHISTLE_DATABASE_URL": url})
    assert "secret" not in str(raised.value)  # a password in the URL is not repeated


# --- 13. a body cut short is no body ------------------------------------------------------------


def _cut_short(client, path: str, form: dict):
    """Post ``form`` urlencoded the way gunicorn hands over a body whose client went away
    half-way (a dropped Tor circuit behind nginx, which streams bodies on unbuffered): the
    server says the stream ends where the body ends (wsgi.input_terminated), the stream ends
    early, and Content-Length still says how long the body was meant to be."""
    body = urllib.parse.urlencode(form).encode()
    return client.post(
        path,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=EN,
        environ_overrides={"wsgi.input_terminated": True, "CONTENT_LENGTH": str(len(body) + 40)},
    )


def test_a_form_cut_short_stores_nothing(app, client, committee):
    from tests.test_surveys import make_survey

    survey_id = make_survey(app)
    before = table_counts(app)
    report = dict(REPORT_FIELDS, narrative="the first half of what happened")
    resp = _cut_short(client, "/report/contractor", report)
    assert resp.status_code == 400
    assert "receipt-code" not in resp.get_data(as_text=True)
    resp = _cut_short(client, f"/surveys/{survey_id}", {"q1": "4", "q2": "1"})
    assert resp.status_code == 400 and "The request could not be understood." in resp.get_data(as_text=True)
    assert table_counts(app) == before
    # The same bodies whole are taken: what was refused is the missing end, nothing else.
    body = urllib.parse.urlencode({"q1": "4", "q2": "1"}).encode()
    whole = client.post(
        f"/surveys/{survey_id}",
        data=body,
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert whole.status_code == 200 and table_counts(app)["survey_responses"] == before["survey_responses"] + 1


def test_a_chunked_body_over_its_limit_is_refused_not_cut(app, client, committee):
    """A chunked body carries no length to check first: werkzeug stops reading at the limit
    and hands on what it read as the whole body; what came after it was lost unseen."""
    from tests.test_surveys import make_survey

    survey_id = make_survey(app)
    before = table_counts(app)
    body = b"q1=4&pad=" + b"x" * (300 * 1024) + b"&q2=1"  # over the survey pages' 256 KiB
    chunked = dict(EN, **{"Transfer-Encoding": "chunked"})
    resp = client.post(
        f"/surveys/{survey_id}",
        input_stream=io.BytesIO(body),
        headers=chunked,
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 413 and "The upload is too large" in resp.get_data(as_text=True)
    assert table_counts(app) == before
    small = b"q1=4&q2=1"
    resp = client.post(
        f"/surveys/{survey_id}",
        input_stream=io.BytesIO(small),
        headers=chunked,
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert resp.status_code == 200 and table_counts(app)["survey_answers"] == before["survey_answers"] + 2


def gunicorn_chunked_body(raw: bytes):
    """wsgi.input as gunicorn makes it of a chunked request: its own parser, reading ``raw``."""
    from gunicorn.config import Config as GunicornConfig
    from gunicorn.http.message import Request as GunicornRequest
    from gunicorn.http.unreader import IterUnreader

    head = b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    return GunicornRequest(GunicornConfig(), IterUnreader([head + raw]), ("127.0.0.1", 1)).body


@pytest.mark.parametrize(
    "raw",
    [b"zz\r\nq1=4\r\n0\r\n\r\n", b"4\r\nq1=4\r\n0\r\nbad trailer\r\n\r\n"],
    ids=["chunk size not hex", "malformed trailer"],
)
def test_a_malformed_chunked_body_is_a_400(app, client, committee, raw):
    """gunicorn raises its own parse errors from the body's read(), which werkzeug let
    through: a 500."""
    from tests.test_surveys import make_survey

    survey_id = make_survey(app)
    before = table_counts(app)
    resp = client.post(
        f"/surveys/{survey_id}",
        headers=dict(EN, **{"Transfer-Encoding": "chunked"}),
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"wsgi.input": gunicorn_chunked_body(raw), "wsgi.input_terminated": True},
    )
    assert resp.status_code == 400 and "The request could not be understood." in resp.get_data(as_text=True)
    assert table_counts(app) == before
    whole = gunicorn_chunked_body(b"9\r\nq1=4&q2=1\r\n0\r\n\r\n")
    resp = client.post(
        f"/surveys/{survey_id}",
        headers={"Transfer-Encoding": "chunked"},
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"wsgi.input": whole, "wsgi.input_terminated": True},
    )
    assert resp.status_code == 200 and table_counts(app)["survey_responses"] == before["survey_responses"] + 1


def test_the_rate_limit_key_file_follows_a_worker_that_moved_on_before_its_timer(tmp_path, monkeypatch):
    """A request after midnight before the timer moves the key on in memory only; the timer
    then still writes the new day's link (the file must not keep a day's link for longer)."""
    path = tmp_path / "ratelimit-key"
    today = proof.utc_day()
    monkeypatch.setattr(privacy, "_utc_day", lambda: today - dt.timedelta(days=1))
    holder = privacy.RatchetKey(path)
    yesterday_link = path.read_text().split()[1]
    monkeypatch.setattr(privacy, "_utc_day", lambda: today)
    key = holder.current()  # a request: memory moves on, the file waits for the timer
    assert path.read_text().split()[1] == yesterday_link
    holder._move_on(write=True)  # the timer
    day, link = path.read_text().split()
    assert day == today.isoformat() and privacy.ratelimit_key(bytes.fromhex(link)) == key
    assert link == privacy.next_link(bytes.fromhex(yesterday_link)).hex()
