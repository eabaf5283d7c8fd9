"""Fuzzing the reporter side and the committee login: no input gets a 5xx or a stack trace.

Property-based (hypothesis) over every route the public can reach (every rule of the app
that is not behind the committee login, found from the URL map, so routes added later are
fuzzed too; every method, HEAD and OPTIONS included; path arguments fuzzed or, now and
then, the id of a real notice, survey or attachment; odd headers: the Host (names
with no IDNA form), languages, origins, cookies, content types, each of any length; bodies as the test client sends them or as gunicorn hands them on,
whole or cut short of their Content-Length, or chunked through gunicorn's own parser), with structured strategies for the forms and
JSON endpoints (near-valid submissions with one field broken, valid receipt codes with
fuzzed messages, survey answers with a solved proof of work and a sealed envelope, comments
on an open notice, raw bytes, deep and odd JSON, multipart with stray parts, raw multipart
whose parts lack a name or carry odd parameters); the committee login and enrolment forms
(every other committee route: tests/committee/test_fuzz_committee.py); and schemathesis
against the API's own OpenAPI document (/api/v1/openapi.json), positive and negative
generation, with the "not a server error" check, real survey ids now and then.

Budget: a few dozen examples per property, no deadline; rate limits are off for the app
under test (the limits themselves are tests/test_brute_force.py's). Runs on SQLite, and on
PostgreSQL too when WHISTLE_TEST_DATABASE_URL is set (NUL characters, say, are refused by
PostgreSQL's text columns but not by SQLite's).
"""

import io
import json
import logging
import re
import urllib.parse

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import run_wsgi_app

from crypto import envelope as env
from crypto.encoding import unb64u
from crypto.receipt import ReceiptCode
from whistle.custody import offline
from whistle.clock import today
from whistle.models import Attachment
from whistle.services import services

from tests.client_side import HEADER, proof_of_work, seal_report
from tests.conftest import BACKENDS, KEY_PASSPHRASE, build_app, make_config
from tests.helpers import REPORT_FIELDS, receipt_from, report_form
from tests.test_hardening import gunicorn_chunked_body, report_submission
from tests.test_notices import notice_header, open_notice
from tests.test_surveys import make_survey

EXAMPLES = 40
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
HTTPS = {"wsgi.url_scheme": "https", "HTTP_HOST": "localhost"}


class _Unhandled(logging.Handler):
    """Collects every 'unhandled ...' line the app logs (an exception that reached the
    error handler: a 500, whatever the page then says)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module", params=BACKENDS)
def target(request, tmp_path_factory):
    """One app per backend for the whole module, with a committee key, a JS-path case and a
    no-JS case whose receipts are known (so follow-up forms can be fuzzed past the code)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    app = build_app(make_config(tmp, request, backend=request.param, extra={"ratelimit": False}))
    with Session(services(app).engine) as s:
        offline.init_keys(
            s, tmp / "k.key", KEY_PASSPHRASE, "k", today("Asia/Shanghai"), opslimit=1, memlimit=8 * 1024 * 1024
        )
        s.commit()
    client = app.test_client()
    resp, js_code, _keys = seal_report(client, "fuzz", files=[("a.txt", b"abc")])
    assert resp.status_code == 201
    resp = client.post(
        "/report/contractor", data=report_form("fuzz", files=[("b.txt", b"def")]), content_type="multipart/form-data"
    )
    nojs_code = ReceiptCode.parse(receipt_from(resp.get_data(as_text=True)))
    with Session(services(app).engine, expire_on_commit=False) as s:
        notice = open_notice(s)
        s.commit()
    open_survey = make_survey(app)
    published = make_survey(app, status="closed", published=True)
    ids = {"notice_id": [notice.id], "survey_id": [open_survey, published], "attachment_id": _attachment_ids(app)}
    handler = _Unhandled()
    logging.getLogger("whistle").addHandler(handler)
    yield {
        "app": app,
        "codes": [js_code, nojs_code],
        "unhandled": handler,
        "ids": ids,
        "notice": notice,
        "survey": open_survey,
    }
    logging.getLogger("whistle").removeHandler(handler)
    services(app).engine.dispose()


def _attachment_ids(app) -> list[str]:
    with Session(services(app).engine) as s:
        return list(s.scalars(select(Attachment.id)))


def check(target, resp, what) -> None:
    """The property: a 4xx or less, and nothing that looks like a stack trace."""
    body = resp.get_data()
    resp.close()  # file responses (favicon, vendor scripts) hold their file open until closed
    assert resp.status_code < 500, (what, resp.status_code, body[:300])
    for marker in (b"Traceback", b'File "', b"sqlalchemy.exc", b"psycopg", b"Werkzeug Debugger"):
        assert marker not in body, (what, marker)
    logged, target["unhandled"].lines = target["unhandled"].lines, []
    assert not logged, (what, logged)


# --- strategies --------------------------------------------------------------------------------

# Text that can travel in a request (no lone surrogates: they cannot be encoded at all).
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
ODD = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "null",
        "NaN",
        "-1",
        "0",
        "9" * 40,
        "../../etc/passwd",
        "%00",
        "\u202e",
        "<script>",
        "'; --",
        "contractor",
        "general",
        "transport",
        "gifts",
        "1234567",
        "a" * 32,
        "A" * 43,
        "2026-02-30",
        "１２３４５６７",
    ]
)
# PostgreSQL refuses NUL in text: a value with one inside, often.
WITH_NUL = st.builds(lambda a, b: a + "\x00" + b, TEXT, TEXT)
VALUE = st.one_of(TEXT, ODD, WITH_NUL)
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**53, max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    VALUE,
)
JSON = st.recursive(
    JSON_SCALAR,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(VALUE, inner, max_size=4)),
    max_leaves=12,
)
FORM_NAMES = sorted(
    set(REPORT_FIELDS)
    | {
        "narrative",
        "code",
        "text",
        "files",
        "submission",
        "channel",
        "username",
        "password",
        "totp",
        "csrf_token",
        "lang",
    }
)
FORM = st.dictionaries(st.one_of(st.sampled_from(FORM_NAMES), TEXT.filter(bool)), VALUE, max_size=10)
FILES = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(["files", "a" * 32, "x"]), TEXT.filter(bool)),
        st.one_of(TEXT, st.sampled_from(["", "a.txt", "../../x", "a\r\nb"])),
        st.binary(max_size=300),
    ),
    max_size=3,
)
SEGMENT = st.one_of(VALUE.filter(bool), st.integers(min_value=0).map(str))


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _multipart(form: dict, files) -> dict:
    data = dict(form)
    for name, filename, content in files:
        data.setdefault(name, [])
        if not isinstance(data[name], list):
            data[name] = [data[name]]
        data[name].append((io.BytesIO(content), filename))
    return data


# A multipart part's Content-Disposition parameters, as bytes: a name or none (RFC 7578
# requires one), a file name or none, and now and then something odd.
DISPOSITION = st.builds(
    lambda name, filename, odd: b"".join(filter(None, (name, filename, odd))),
    st.one_of(
        st.none(),
        st.sampled_from(FORM_NAMES + ["files"]).map(lambda n: b'name="%s"; ' % n.encode()),
        st.binary(max_size=12).map(lambda n: b'name="' + n + b'"; '),
    ),
    st.one_of(st.none(), st.sampled_from([b'filename="a.txt"', b'filename=""', b"filename*=UTF-8''%E2%80%AE"])),
    st.one_of(st.none(), st.sampled_from([b";", b'name=""', b"name*=UTF-8''%0A", b"\r\nX: y"])),
)


def _raw_multipart(parts) -> tuple[bytes, str]:
    boundary = b"fuzz-boundary"
    body = b"".join(
        b"--" + boundary + b"\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\n" + data + b"\r\n"
        for disposition, data in parts
    )
    return body + b"--" + boundary + b"--\r\n", "multipart/form-data; boundary=" + boundary.decode()


def break_one_field(data, holders: dict, values=None) -> tuple:
    """In one of ``holders`` (named dicts inside a valid body), remove a field or give it
    (or a new one) any of ``values`` (any JSON value unless given). Returns (holder's name,
    field)."""
    where = data.draw(st.sampled_from(sorted(holders)), label="where")
    holder = holders[where]
    key = data.draw(st.one_of(*([st.sampled_from(sorted(holder))] if holder else []), VALUE), label="field")
    if data.draw(st.booleans(), label="remove?"):
        holder.pop(key, None)
    else:
        holder[key] = data.draw(JSON if values is None else values, label="value")
    return where, key


@st.composite
def bodies(draw):
    """(kwargs for the test client's post) of every shape a body can have."""
    kind = draw(st.sampled_from(["form", "multipart", "raw multipart", "json", "raw", "none"]))
    if kind == "form":
        return {"data": draw(FORM)}
    if kind == "multipart":
        return {"data": _multipart(draw(FORM), draw(FILES)), "content_type": "multipart/form-data"}
    if kind == "raw multipart":
        body, content_type = _raw_multipart(draw(st.lists(st.tuples(DISPOSITION, st.binary(max_size=200)), max_size=4)))
        return {"data": body, "content_type": content_type}
    if kind == "json":
        return {"json": draw(JSON)}
    if kind == "raw":
        return {
            "data": draw(st.binary(max_size=400)),
            "content_type": draw(
                st.sampled_from(
                    [
                        "application/json",
                        "text/plain",
                        "multipart/form-data",
                        "multipart/form-data; boundary=x",
                        "application/x-www-form-urlencoded",
                    ]
                )
            ),
        }
    return {}


def _public_rules(app):
    """Every (rule, method) outside the committee: what anyone on the internet can call,
    HEAD and OPTIONS included (werkzeug answers them for every rule)."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/committee"):
            continue
        for method in sorted(rule.methods or set()):
            out.append((rule, method))
    return sorted(out, key=lambda pair: (pair[0].rule, pair[1]))


def _path(draw, rule, ids=None) -> str:
    """The rule with each argument fuzzed, or now and then a real id of its kind (a notice,
    a survey open or published, an attachment), so the pages behind the lookup are reached."""
    values = {}
    for name in rule.arguments:
        converter = rule._converters.get(name)
        real = (ids or {}).get(name)
        if converter is not None and type(converter).__name__ == "IntegerConverter":
            values[name] = str(draw(st.integers(min_value=0, max_value=10**12)))
        elif real and draw(st.booleans()):
            values[name] = draw(st.sampled_from(real))
        else:
            values[name] = _quote(draw(SEGMENT))
    return re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", lambda m: values[m.group(1)], rule.rule)


def _any_length(values: list) -> st.SearchStrategy:
    """One of ``values``, or one repeated up to a few hundred times (a 64-letter Host label
    broke every page): each header is fuzzed in its length too."""
    return st.one_of(
        st.sampled_from(values),
        st.builds(lambda value, times: value * times, st.sampled_from([v for v in values if v]), st.integers(2, 400)),
    )


# Names werkzeug must bind and decode (IDNA: labels of at most 63 characters, valid punycode).
HOSTS = _any_length(
    [
        "localhost",
        "a",
        "a" * 63,
        "a" * 64,
        "xn--zz",
        "xn--zz.example",
        "a.",
        "é",
        "[::1]",
        "localhost:1",
        "localhost:99999999",
        "a..b",
        ".",
        "",
        "LOCALHOST",
        "\x00",
        "a b",
    ]
)
LANGUAGES = _any_length(
    [
        "en",
        "zh-Hant",
        "*",
        "",
        "null",
        "en;q=0",
        "zh-TW;q=0.5, en;q=x",
        "cmn-Hant-TW",
        "\x00",
        "é",
        ";;,,",
        "en-" + "a" * 300,
        "en,",
    ]
)
# The headers fuzzed beside a structured body (its own Content-Type must stay: a multipart
# body needs its boundary): the name the client asked for and the language.
EDGE_HEADERS = st.fixed_dictionaries({}, optional={"Host": HOSTS, "Accept-Language": LANGUAGES})

# Headers a client controls that the app or werkzeug reads: the name asked for, language,
# origin checks, the body's type, cookies (the reporter side sets none, the committee side
# reads its own).
HEADER_VALUES = {
    "Host": HOSTS,
    "Accept-Language": LANGUAGES,
    "Origin": st.sampled_from(["null", "http://localhost", "https://localhost", "http://evil.invalid", ""]),
    "Sec-Fetch-Site": st.sampled_from(["same-origin", "cross-site", "none", ""]),
    "X-Forwarded-For": st.sampled_from(["1.2.3.4", "", "x" * 300, "1.2.3.4, 5.6.7.8"]),
    "Cookie": st.sampled_from(
        [
            "__Host-session=" + "a" * 40,
            "__Host-session=",
            "=; ;;",
            "a=\x01" * 20,
            "session=%ff%fe",
            "__Host-session=" + "%" * 300,
        ]
    ),
    "Content-Type": _any_length(
        [
            "application/json; charset=utf-16",
            "multipart/form-data; boundary=",
            'multipart/form-data; boundary="',
            "text/plain; " + "a=b; " * 200,
            "application/x-www-form-urlencoded; charset=bogus",
            "a" * 2000,
            "a=b; ",
            "application/json",
            "multipart/form-data; boundary=" + "x" * 80,
        ]
    ),
}


class NoJarClient(FlaskClient):
    """The test client without its cookie jar, which decodes the Host to build the jar's
    URL and fails, in the test itself, on names the app must refuse (a bad punycode label).
    The reporter side sets no cookie; the committee's forms keep the usual client."""

    def run_wsgi_app(self, environ, buffered=False):
        return run_wsgi_app(self.application, environ, buffered=buffered)


def reporter_client(target) -> NoJarClient:
    return NoJarClient(target["app"], target["app"].response_class, use_cookies=False)


# --- every public route -------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_every_public_route_survives_any_request(target, data):
    app = target["app"]
    rule, method = data.draw(st.sampled_from(_public_rules(app)), label="route")
    path = _path(data.draw, rule, target["ids"])
    query = data.draw(
        st.dictionaries(st.sampled_from(["lang", "page", "next", "x", "format", "year"]), VALUE, max_size=2)
    )
    if query:
        path += "?" + urllib.parse.urlencode(query)
    names = data.draw(st.lists(st.sampled_from(sorted(HEADER_VALUES)), max_size=3, unique=True), label="headers")
    headers = {name: data.draw(HEADER_VALUES[name], label=name) for name in names}
    client = reporter_client(target)
    kwargs = data.draw(bodies()) if method in ("POST", "PUT", "PATCH", "DELETE") else {}
    if "Content-Type" in headers and kwargs.get("content_type"):
        del headers["Content-Type"]  # the body's own type wins (a multipart body needs its boundary)
    # As gunicorn hands a body on: the stream ends where the body does (wsgi.input_terminated),
    # or where its client went away, before the length its Content-Length said.
    stream = data.draw(st.sampled_from(["test client", "terminated", "cut short"]), label="stream")
    environ = {} if stream == "test client" else {"wsgi.input_terminated": True}
    if stream == "cut short" and isinstance(kwargs.get("data"), bytes):
        environ["CONTENT_LENGTH"] = str(len(kwargs["data"]) + 40)
    resp = client.open(path, method=method, headers=headers, environ_overrides=environ, **kwargs)
    check(target, resp, f"{method} {path} {headers} {stream}")


@FUZZ
@given(data=st.data())
def test_chunked_bodies_through_gunicorns_parser_survive(target, data):
    """Every public POST route, its body chunked as gunicorn parses it: well framed, or any
    bytes (a chunk size that is not hex, a missing terminator, a malformed trailer)."""
    rule, method = data.draw(
        st.sampled_from([pair for pair in _public_rules(target["app"]) if pair[1] == "POST"]), label="route"
    )
    path = _path(data.draw, rule, target["ids"])
    payload = data.draw(
        st.one_of(st.binary(max_size=200), st.sampled_from([b"code=1", b"q1=4&q2=1", b"{}"])), label="payload"
    )
    framed = (b"%x\r\n%s\r\n" % (len(payload), payload) if payload else b"") + b"0\r\n\r\n"
    raw = data.draw(st.one_of(st.just(framed), st.binary(max_size=80), st.just(framed[:-2])), label="raw")
    content_type = data.draw(
        st.sampled_from(["application/x-www-form-urlencoded", "application/json", "multipart/form-data; boundary=x"]),
        label="type",
    )
    headers = data.draw(EDGE_HEADERS, label="headers")
    resp = reporter_client(target).post(
        path,
        headers={"Transfer-Encoding": "chunked", **headers},
        content_type=content_type,
        environ_overrides={"wsgi.input": gunicorn_chunked_body(raw), "wsgi.input_terminated": True},
    )
    check(target, resp, (path, raw[:40]))


# --- the no-JS forms -----------------------------------------------------------------------------


@FUZZ
@given(
    channel=st.one_of(st.sampled_from(["contractor", "general"]), SEGMENT),
    changes=st.dictionaries(st.sampled_from(sorted(set(REPORT_FIELDS) | {"narrative"})), VALUE, max_size=4),
    extra=FORM,
    files=FILES,
    headers=EDGE_HEADERS,
)
def test_report_form_survives_any_fields(target, channel, changes, extra, files, headers):
    form = {**report_form("fuzz"), **changes, **extra}
    form.pop("files", None)
    resp = reporter_client(target).post(
        f"/report/{_quote(channel)}", data=_multipart(form, files), content_type="multipart/form-data", headers=headers
    )
    check(target, resp, ("report", channel, changes, headers))


@FUZZ
@given(
    which=st.integers(0, 1),
    real=st.booleans(),
    code=VALUE,
    text=VALUE,
    files=FILES,
    endpoint=st.sampled_from(["/followup", "/followup/message", "/followup/attachment/"]),
    attachment=st.one_of(st.just("a" * 32), SEGMENT),
    headers=EDGE_HEADERS,
)
def test_followup_forms_survive_any_fields(target, which, real, code, text, files, endpoint, attachment, headers):
    if real:
        code = target["codes"][which].grouped()
    path = endpoint + (_quote(attachment) if endpoint.endswith("/") else "")
    resp = reporter_client(target).post(
        path, data=_multipart({"code": code, "text": text}, files), content_type="multipart/form-data", headers=headers
    )
    check(target, resp, (path, real, headers))


# --- the JSON API ---------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_report_api_survives_near_valid_submissions(target, data):
    """A valid submission with one field replaced, removed, or one envelope field broken."""
    client = reporter_client(target)
    submission = report_submission(client)
    where, key = break_one_field(
        data,
        {
            "top": submission,
            "envelope": submission["envelope"],
            "header": submission["envelope"]["header"],
            "kdf": submission["kdf"],
            "recipient": submission["envelope"]["recipients"][0],
        },
    )
    headers = data.draw(EDGE_HEADERS, label="headers")
    if data.draw(st.booleans()):
        resp = client.post("/api/v1/reports", json=submission, headers=headers)
    else:
        files = data.draw(FILES)
        resp = client.post(
            "/api/v1/reports",
            data=_multipart({"submission": json.dumps(submission)}, files),
            content_type="multipart/form-data",
            headers=headers,
        )
    check(target, resp, (where, key, headers))


@FUZZ
@given(
    which=st.integers(0, 1),
    field=st.sampled_from(["locator", "lookup", "envelope", "extra"]),
    value=JSON,
    endpoint=st.sampled_from(
        [
            "/api/v1/followup",
            "/api/v1/followup/messages",
            "/api/v1/followup/attachments/" + "a" * 32,
            "/api/v1/recipients",
        ]
    ),
    headers=EDGE_HEADERS,
)
def test_followup_api_survives_any_credentials(target, which, field, value, endpoint, headers):
    code = target["codes"][which]
    body = {"locator": code.locator, "lookup": "A" * 43, "envelope": {"v": 1}}
    body[field] = value
    if endpoint.endswith("recipients"):
        body = dict(HEADER, **{field: value})
    check(target, reporter_client(target).post(endpoint, json=body, headers=headers), (endpoint, field, headers))


@FUZZ
@given(data=st.data())
def test_survey_answers_survive_near_valid_submissions(target, data):
    """Answers to the open survey, as survey.js sends them (a solved proof of work, the free
    text sealed to the survey's recipients), with one field broken; or the no-JS form with
    any fields."""
    client = reporter_client(target)
    survey_id = target["survey"]
    headers = data.draw(EDGE_HEADERS, label="headers")
    if data.draw(st.booleans(), label="no-JS form?"):
        form = data.draw(
            st.dictionaries(
                st.sampled_from(["q0", "q1", "q2", "q3", "q4", "q99", "q-1", "q01"]),
                st.one_of(VALUE, st.integers(-2, 12).map(str)),
                max_size=5,
            )
        )
        resp = client.post(f"/surveys/{survey_id}", data=form, headers=headers)
        check(target, resp, ("survey form", form))
        return
    info = client.get(f"/api/v1/surveys/{survey_id}").get_json()
    sealed = env.seal(
        "survey",
        {"survey": survey_id},
        {"answers": [{"item": 4, "text": "x"}]},
        [unb64u(r["public_key"]) for r in info["recipients"]],
    )
    submission = {"answers": {"0": 1, "1": 4, "2": 0}, "envelope": sealed.envelope, "pow": proof_of_work(client)}
    where, key = break_one_field(
        data,
        {
            "top": submission,
            "answers": submission["answers"],
            "envelope": submission["envelope"],
            "header": submission["envelope"]["header"],
            "pow": submission["pow"],
        },
    )
    resp = client.post(f"/api/v1/surveys/{survey_id}/responses", json=submission, headers=headers)
    check(target, resp, ("survey api", where, key))


@FUZZ
@given(data=st.data())
def test_notice_comments_survive_any_header(target, data):
    """A comment on the open notice: its routing header (which names the notice) with one
    field broken, through the recipients API and the no-JS comment form."""
    client = reporter_client(target)
    header = notice_header(target["notice"])
    break_one_field(
        data,
        {"header": header},
        values=st.one_of(
            VALUE, st.sampled_from(["notice", "general", target["notice"].id, "f" * 32, target["survey"]])
        ),
    )
    headers = data.draw(EDGE_HEADERS, label="headers")
    check(target, client.post("/api/v1/recipients", json=header, headers=headers), ("recipients", header, headers))
    form = {**report_form("comment"), **{k: v for k, v in header.items() if isinstance(v, str)}}
    form.pop("files", None)
    resp = client.post(
        f"/report/notice/{target['notice'].id}",
        data=_multipart(form, data.draw(FILES)),
        content_type="multipart/form-data",
        headers=headers,
    )
    check(target, resp, ("comment form", header))


# --- the committee's login and enrolment forms ------------------------------------------------------


@FUZZ
@given(
    form=st.fixed_dictionaries({}, optional={"username": VALUE, "password": VALUE, "totp": VALUE}),
    csrf=st.sampled_from(["valid", "missing", "garbage"]),
    garbage=VALUE,
    next_=st.one_of(st.none(), VALUE, st.just("//evil.invalid/")),
)
@example(form={"username": "zhang\x00.wei", "password": "p", "totp": "1"}, csrf="valid", garbage="", next_=None)
def test_committee_login_form_survives_any_fields(target, form, csrf, garbage, next_):
    client = target["app"].test_client()
    client.environ_base.update(HTTPS)
    html = client.get("/committee/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    if csrf == "valid":
        form["csrf_token"] = token
    elif csrf == "garbage":
        form["csrf_token"] = garbage
    path = "/committee/login" + ("?" + urllib.parse.urlencode({"next": next_}) if next_ is not None else "")
    resp = client.post(path, data=form)
    check(target, resp, ("login", csrf))
    assert resp.status_code in (400, 401, 429)


@FUZZ
@given(token=SEGMENT, method=st.sampled_from(["GET", "POST"]), form=FORM)
@example(token="a\nb", method="POST", form={"csrf_token": "x"})  # an expired form redirects to its address
def test_enrolment_form_survives_any_token(target, token, method, form):
    client = target["app"].test_client()
    client.environ_base.update(HTTPS)
    resp = client.open(f"/committee/enrol/{_quote(token)}", method=method, data=form if method == "POST" else None)
    check(target, resp, ("enrol", token))


# --- schemathesis against the OpenAPI document ----------------------------------------------------


def test_openapi_document_fuzzed_by_schemathesis(target):
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", target["app"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    calls = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
            def run(case, data):
                # A random id finds no survey: now and then a real one, so the survey
                # operations are exercised past their 404.
                if "survey_id" in (case.path_parameters or {}) and data.draw(st.booleans()):
                    case.path_parameters["survey_id"] = data.draw(st.sampled_from(target["ids"]["survey_id"]))
                response = case.call_and_validate(checks=[not_a_server_error])
                assert b"Traceback" not in response.content
                calls[operation.label] = calls.get(operation.label, 0) + 1

            try:
                run()
            except Unsatisfiable:
                # Nothing to make invalid: an operation without parameters or body.
                assert mode == GenerationMode.NEGATIVE, operation.label
    assert not target["unhandled"].lines, target["unhandled"].lines
    print(f"\n[fuzz] schemathesis: {sum(calls.values())} calls over {len(calls)} operations")
