"""Fuzzing the reporter side and the committee login: no input gets a 5xx or a stack trace.

Property-based (hypothesis) over every route the public can reach (every rule of the app
that is not behind the committee login, found from the URL map, so routes added later are
fuzzed too), with structured strategies for the forms and JSON endpoints (near-valid
submissions with one field broken, valid receipt codes with fuzzed messages, raw bytes,
deep and odd JSON, multipart with stray parts, raw multipart whose parts lack a name or
carry odd parameters); the committee login and enrolment forms (every other committee
route: tests/committee/test_fuzz_committee.py); and schemathesis against the API's own
OpenAPI document (/api/v1/openapi.json), positive and negative generation, with the "not a
server error" check.

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
from sqlalchemy.orm import Session

from crypto.receipt import ReceiptCode
from whistle import offline
from whistle.cases import today

from tests.client_side import HEADER, seal_report
from tests.conftest import BACKENDS, KEY_PASSPHRASE, build_app, make_config
from tests.helpers import REPORT_FIELDS, receipt_from, report_form
from tests.test_hardening import report_submission

EXAMPLES = 40
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
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
    with Session(app.extensions["whistle.engine"]) as s:
        offline.init_keys(s, tmp / "k.key", KEY_PASSPHRASE, "k", today("Asia/Shanghai"),
                          opslimit=1, memlimit=8 * 1024 * 1024)
        s.commit()
    client = app.test_client()
    resp, js_code, _keys = seal_report(client, "fuzz", files=[("a.txt", b"abc")])
    assert resp.status_code == 201
    resp = client.post("/report/contractor", data=report_form("fuzz", files=[("b.txt", b"def")]),
                       content_type="multipart/form-data")
    nojs_code = ReceiptCode.parse(receipt_from(resp.get_data(as_text=True)))
    handler = _Unhandled()
    logging.getLogger("whistle").addHandler(handler)
    yield {"app": app, "codes": [js_code, nojs_code], "unhandled": handler}
    logging.getLogger("whistle").removeHandler(handler)
    app.extensions["whistle.engine"].dispose()


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
ODD = st.sampled_from(["", " ", "\x00", "null", "NaN", "-1", "0", "9" * 40, "../../etc/passwd", "%00",
                       "\u202e", "<script>", "'; --", "contractor", "general", "transport", "gifts",
                       "1234567", "a" * 32, "A" * 43, "2026-02-30", "１２３４５６７"])
# PostgreSQL refuses NUL in text: a value with one inside, often.
WITH_NUL = st.builds(lambda a, b: a + "\x00" + b, TEXT, TEXT)
VALUE = st.one_of(TEXT, ODD, WITH_NUL)
JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**53, max_value=2**70),
                        st.floats(allow_nan=False, allow_infinity=False), VALUE)
JSON = st.recursive(JSON_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(VALUE, inner, max_size=4)),
                    max_leaves=12)
FORM_NAMES = sorted(set(REPORT_FIELDS) | {"narrative", "code", "text", "files", "submission", "channel",
                                          "username", "password", "totp", "csrf_token", "lang"})
FORM = st.dictionaries(st.one_of(st.sampled_from(FORM_NAMES), TEXT.filter(bool)), VALUE, max_size=10)
FILES = st.lists(st.tuples(st.one_of(st.sampled_from(["files", "a" * 32, "x"]), TEXT.filter(bool)),
                           st.one_of(TEXT, st.sampled_from(["", "a.txt", "../../x", "a\r\nb"])),
                           st.binary(max_size=300)), max_size=3)
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
DISPOSITION = st.builds(lambda name, filename, odd: b"".join(filter(None, (name, filename, odd))),
                        st.one_of(st.none(), st.sampled_from(FORM_NAMES + ["files"]).map(lambda n: b'name="%s"; ' % n.encode()),
                                  st.binary(max_size=12).map(lambda n: b'name="' + n + b'"; ')),
                        st.one_of(st.none(), st.sampled_from([b'filename="a.txt"', b'filename=""', b"filename*=UTF-8''%E2%80%AE"])),
                        st.one_of(st.none(), st.sampled_from([b";", b'name=""', b"name*=UTF-8''%0A", b"\r\nX: y"])))


def _raw_multipart(parts) -> tuple[bytes, str]:
    boundary = b"fuzz-boundary"
    body = b"".join(b"--" + boundary + b"\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\n" + data + b"\r\n"
                    for disposition, data in parts)
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
        return {"data": draw(st.binary(max_size=400)),
                "content_type": draw(st.sampled_from(["application/json", "text/plain", "multipart/form-data",
                                                      "multipart/form-data; boundary=x",
                                                      "application/x-www-form-urlencoded"]))}
    return {}


def _public_rules(app):
    """Every (rule, method) outside the committee: what anyone on the internet can call."""
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule.startswith("/committee"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule, method))
    return sorted(out, key=lambda pair: (pair[0].rule, pair[1]))


def _path(draw, rule) -> str:
    values = {}
    for name in rule.arguments:
        converter = rule._converters.get(name)
        if converter is not None and type(converter).__name__ == "IntegerConverter":
            values[name] = str(draw(st.integers(min_value=0, max_value=10**12)))
        else:
            values[name] = _quote(draw(SEGMENT))
    return re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", lambda m: values[m.group(1)], rule.rule)


# --- every public route -------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_every_public_route_survives_any_request(target, data):
    app = target["app"]
    rule, method = data.draw(st.sampled_from(_public_rules(app)), label="route")
    path = _path(data.draw, rule)
    query = data.draw(st.dictionaries(st.sampled_from(["lang", "page", "next", "x"]), VALUE, max_size=2))
    if query:
        path += "?" + urllib.parse.urlencode(query)
    headers = data.draw(st.dictionaries(st.sampled_from(["Accept-Language", "Origin", "Content-Length",
                                                         "X-Forwarded-For", "Sec-Fetch-Site"]),
                                        st.sampled_from(["en", "zh-Hant", "*", "", "null", "same-origin",
                                                         "http://localhost", "1.2.3.4"]), max_size=2))
    headers.pop("Content-Length", None)  # the test client computes it; a wrong one is werkzeug's business
    client = app.test_client()
    kwargs = data.draw(bodies()) if method in ("POST", "PUT", "PATCH", "DELETE") else {}
    resp = client.open(path, method=method, headers=headers, **kwargs)
    check(target, resp, f"{method} {path}")


# --- the no-JS forms -----------------------------------------------------------------------------


@FUZZ
@given(channel=st.one_of(st.sampled_from(["contractor", "general"]), SEGMENT),
       changes=st.dictionaries(st.sampled_from(sorted(set(REPORT_FIELDS) | {"narrative"})), VALUE, max_size=4),
       extra=FORM, files=FILES)
def test_report_form_survives_any_fields(target, channel, changes, extra, files):
    form = {**report_form("fuzz"), **changes, **extra}
    form.pop("files", None)
    resp = target["app"].test_client().post(f"/report/{_quote(channel)}", data=_multipart(form, files),
                                            content_type="multipart/form-data")
    check(target, resp, ("report", channel, changes))


@FUZZ
@given(which=st.integers(0, 1), real=st.booleans(), code=VALUE, text=VALUE, files=FILES,
       endpoint=st.sampled_from(["/followup", "/followup/message", "/followup/attachment/"]),
       attachment=st.one_of(st.just("a" * 32), SEGMENT))
def test_followup_forms_survive_any_fields(target, which, real, code, text, files, endpoint, attachment):
    if real:
        code = target["codes"][which].grouped()
    path = endpoint + (_quote(attachment) if endpoint.endswith("/") else "")
    resp = target["app"].test_client().post(path, data=_multipart({"code": code, "text": text}, files),
                                            content_type="multipart/form-data")
    check(target, resp, (path, real))


# --- the JSON API ---------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_report_api_survives_near_valid_submissions(target, data):
    """A valid submission with one field replaced, removed, or one envelope field broken."""
    client = target["app"].test_client()
    submission = report_submission(client)
    where, key = break_one_field(data, {"top": submission, "envelope": submission["envelope"],
                                        "header": submission["envelope"]["header"], "kdf": submission["kdf"],
                                        "recipient": submission["envelope"]["recipients"][0]})
    if data.draw(st.booleans()):
        resp = client.post("/api/v1/reports", json=submission)
    else:
        files = data.draw(FILES)
        resp = client.post("/api/v1/reports", data=_multipart({"submission": json.dumps(submission)}, files),
                           content_type="multipart/form-data")
    check(target, resp, (where, key))


@FUZZ
@given(which=st.integers(0, 1), field=st.sampled_from(["locator", "lookup", "envelope", "extra"]),
       value=JSON, endpoint=st.sampled_from(["/api/v1/followup", "/api/v1/followup/messages",
                                             "/api/v1/followup/attachments/" + "a" * 32,
                                             "/api/v1/recipients"]))
def test_followup_api_survives_any_credentials(target, which, field, value, endpoint):
    code = target["codes"][which]
    body = {"locator": code.locator, "lookup": "A" * 43, "envelope": {"v": 1}}
    body[field] = value
    if endpoint.endswith("recipients"):
        body = dict(HEADER, **{field: value})
    check(target, target["app"].test_client().post(endpoint, json=body), (endpoint, field))


# --- the committee's login and enrolment forms ------------------------------------------------------


@FUZZ
@given(form=st.fixed_dictionaries({}, optional={"username": VALUE, "password": VALUE, "totp": VALUE}),
       csrf=st.sampled_from(["valid", "missing", "garbage"]), garbage=VALUE,
       next_=st.one_of(st.none(), VALUE, st.just("//evil.invalid/")))
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
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
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
