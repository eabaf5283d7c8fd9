"""whistle-crypto.js against the format contract, inside Chromium, under the app's CSP.

Every vector file of crypto/vectors/ is run in the page through
whistle/static/js/whistle-crypto.js (key files too: a member's key is one, opened in the
browser). The JavaScript
below only computes; the assertions are made here, in Python, against the vector.
Then the two implementations talk to each other: the browser seals for Python and
Python seals for the browser.
"""

import base64
import json
import os

import pytest

from crypto import envelope as env
from crypto.encoding import b64u, unb64u
from crypto.errors import CryptoError
from crypto.keys import KeyPair, random_bytes
from crypto.receipt import ReceiptCode, derive_reporter_keys
from crypto.stream import CHUNK, attachment_key, ciphertext_size, decrypt_stream, encrypt_bytes
from crypto.vectors.generate import VECTOR_DIR

pytestmark = pytest.mark.browser

MODULE = "/static/js/whistle-crypto.js"
BROWSER_AREAS = {"encoding", "keys", "receipt", "padding", "envelope", "stream", "keyfile"}
ALL_FILES = sorted(VECTOR_DIR.glob("*.json"))
FILES = [p for p in ALL_FILES if p.stem.split("_", 1)[0] in BROWSER_AREAS]

# Runs one vector in the page and returns what whistle-crypto.js computed. The vector is
# passed as JSON text and parsed in the page so object key order is exactly the file's.
RUN_VECTOR = """
async (text) => {
  const wc = await import("%(module)s");
  await wc.ready();
  const v = JSON.parse(text);
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const unhex = (h) => new Uint8Array((h.match(/../g) || []).map((x) => parseInt(x, 16)));
  const attempt = (fn) => {
    try { return { ok: fn() }; } catch (e) { return { error: e.name, message: e.message, reason: e.reason }; }
  };
  const errorName = (fn) => { try { fn(); return "no error"; } catch (e) { return e.name; } };
  const pattern = (size) => Uint8Array.from({ length: size }, (_, i) => i %% 251);
  const samePattern = (bytes, size) => bytes.length === size && bytes.every((b, i) => b === i %% 251);

  if (v.area === "encoding" && v.case === "b64u") {
    return {
      encoded: v.cases.map((c) => wc.b64u(unhex(c.hex))),
      decoded: v.cases.map((c) => hex(wc.unb64u(c.b64u))),
      rejected: v.reject.map((t) => errorName(() => wc.unb64u(t))),
    };
  }
  if (v.area === "encoding" && v.case === "canon") {
    return {
      canon: v.cases.map((c) => wc.canon(c.header)),
      rejected: v.reject.map((h) => errorName(() => wc.canon(h))),
    };
  }
  if (v.area === "keys" && v.case === "derive") {
    return {
      derived: v.cases.map((c) => wc.b64u(wc.derive(wc.unb64u(c.key), c.label))),
      rejected: v.reject_labels.map((l) => errorName(() => wc.derive(new Uint8Array(32), l))),
    };
  }
  if (v.area === "keys" && v.case === "kid") {
    return {
      pairs: v.cases.map((c) => {
        const pair = wc.keyPairFromSeed(wc.unb64u(c.seed));
        return { public_key: wc.b64u(pair.publicKey), secret_key: wc.b64u(pair.secretKey),
                 kid: wc.kid(pair.publicKey) };
      }),
    };
  }
  if (v.area === "keys" && v.case === "fingerprint") {
    return { fingerprints: v.cases.map((c) => wc.fingerprint(wc.unb64u(c.public_key))) };
  }
  if (v.area === "receipt" && v.case === "damm") {
    return {
      checks: v.cases.map((c) => wc.dammCheckDigit(c.number)),
      parsed: v.cases.filter((c) => c.number.length === 27)
                     .map((c) => wc.ReceiptCode.parse(c.number + c.check).digits),
    };
  }
  if (v.area === "receipt" && v.case.startsWith("keys")) {
    const keys = await wc.deriveReporterKeys(v.code, wc.unb64u(v.salt), v.opslimit, v.memlimit);
    return { lookup: wc.b64u(keys.lookup), verifier: wc.b64u(keys.verifier),
             public_key: wc.b64u(keys.publicKey), secret_key: wc.b64u(keys.secretKey),
             kid: wc.kid(keys.publicKey) };
  }
  if (v.area === "receipt") {
    const r = attempt(() => wc.ReceiptCode.parse(v.input));
    if (r.error) return { class: r.reason, error: r.error };
    return { class: "ok", digits: r.ok.digits, grouped: r.ok.grouped(), locator: r.ok.locator,
             shown: String(r.ok) + JSON.stringify({ code: r.ok }) };
  }
  if (v.area === "padding") {
    const fn = { padme: wc.padme, bucket: wc.bucket }[v.case];
    return { padded: v.cases.map(([n]) => fn(n)) };
  }
  if (v.area === "envelope" && v.case === "reporter_key") {
    return {
      rk: v.rk.map((entry) => wc.reporterKeyId(wc.unb64u(entry.public_key))),
      bindings: v.checks.map((c) => wc.reporterKeyBinding(v.reports[c.report], wc.unb64u(c.public_key))),
    };
  }
  if (v.area === "envelope" && (v.case === "body" || v.case === "v2_body")) {
    const version = v.case === "v2_body" ? 2 : 1;
    const sealed = wc.seal(v.kind, v.header, v.body, v.recipient_public_keys.map(wc.unb64u),
                           { contentKey: wc.unb64u(v.content_key), nonce: wc.unb64u(v.nonce), version });
    const e = sealed.envelope;
    return {
      rk: v.reporter_public_key ? wc.reporterKeyId(wc.unb64u(v.reporter_public_key)) : null,
      fields: Object.keys(e), v: e.v, kind: e.kind, header: JSON.stringify(e.header),
      kids: e.recipients.map((r) => r.kid), sealed_key_sizes: e.recipients.map((r) => wc.unb64u(r.key).length),
      nonce: e.nonce, ciphertext: e.body, content_key: wc.b64u(sealed.contentKey),
      plaintext: wc.b64u(new TextEncoder().encode(JSON.stringify(v.body))),
      associated_data: new TextDecoder().decode(wc.associatedData(v.kind, v.header, version)),
      body_key: wc.b64u(wc.bodyKey(wc.unb64u(v.content_key))),
      reopened: JSON.stringify(wc.openBody(e, sealed.contentKey)),
    };
  }
  if (v.area === "envelope") {
    const pair = { publicKey: wc.unb64u(v.key.public_key), secretKey: wc.unb64u(v.key.secret_key) };
    const r = attempt(() => wc.openEnvelope(v.envelope, pair));
    if (r.ok) return { class: "ok", body: JSON.stringify(r.ok.body), content_key: wc.b64u(r.ok.contentKey) };
    if (r.error === "CryptoError") {
      const listed = v.envelope.recipients.some((x) => x.kid === wc.kid(pair.publicKey));
      return { class: listed ? "open_failed" : "no_recipient", error: r.error, message: r.message };
    }
    return { class: r.message, error: r.error, message: r.message };
  }
  if (v.area === "stream") {
    const key = wc.attachmentKey(wc.unb64u(v.content_key), v.attachment_id);
    const data = wc.unb64u(v.ciphertext);
    const out = { key: wc.b64u(key), ciphertext_size: wc.ciphertextSize(v.size) };
    const r = attempt(() => wc.decryptStream(key, data, v.size));
    if (r.error) return Object.assign(out, { class: "failed", error: r.error, message: r.message });
    out.class = "ok";
    out.plaintext_matches = samePattern(r.ok, v.size);
    // Our encryptors give a stream of the same shape (a random header, so other bytes).
    const fresh = wc.encryptBytes(key, pattern(v.size));
    out.fresh_size = fresh.length;
    out.fresh_roundtrip = samePattern(wc.decryptStream(key, fresh, v.size), v.size);
    const blob = await wc.encryptFile(key, new Blob([pattern(v.size)]));
    const fromFile = new Uint8Array(await blob.arrayBuffer());
    out.file_size = fromFile.length;
    out.file_roundtrip = samePattern(wc.decryptStream(key, fromFile, v.size), v.size);
    return out;
  }
  if (v.area === "keyfile") {
    try {
      const pair = await wc.unwrapPrivateKey(v.file, v.passphrase);
      return { class: "ok", public_key: wc.b64u(pair.publicKey), secret_key: wc.b64u(pair.secretKey),
               kid: wc.kid(pair.publicKey) };
    } catch (e) {
      return { class: e.name, message: e.message };
    }
  }
  return { unknown: v.area + "_" + v.case };
}
""" % {"module": MODULE}


@pytest.fixture(scope="module")
def crypto_page(module_page, live_server):
    """The app's front page, where whistle-crypto.js is imported under the real CSP."""
    response = module_page.goto(live_server + "/")
    assert response.ok
    assert (
        module_page.evaluate(
            f"async () => {{ const wc = await import('{MODULE}'); await wc.ready(); return typeof wc.seal; }}"
        )
        == "function"
    )
    return module_page


def test_vector_areas_are_all_covered():
    areas = {p.stem.split("_", 1)[0] for p in ALL_FILES}
    assert areas == BROWSER_AREAS
    assert len(FILES) > 40


def test_the_receipt_floor_is_the_same_in_both_implementations(crypto_page):
    from crypto.receipt import MIN_MEMLIMIT, MIN_OPSLIMIT

    got = crypto_page.evaluate(f"""async () => {{ const wc = await import('{MODULE}');
        return [wc.RECEIPT_MIN_OPSLIMIT, wc.RECEIPT_MIN_MEMLIMIT]; }}""")
    assert got == [MIN_OPSLIMIT, MIN_MEMLIMIT]


def _vector(path):
    text = path.read_text(encoding="ascii")
    return text, json.loads(text)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_vector(crypto_page, path):
    text, v = _vector(path)
    got = crypto_page.evaluate(RUN_VECTOR, text)
    CHECKS[v["area"]](v, got)


def check_encoding(v, got):
    if v["case"] == "b64u":
        assert got["encoded"] == [c["b64u"] for c in v["cases"]]
        assert got["decoded"] == [c["hex"] for c in v["cases"]]
    else:
        assert got["canon"] == [c["canon"] for c in v["cases"]]
    assert got["rejected"] == ["FormatError"] * len(v["reject"])


def check_keys(v, got):
    if v["case"] == "derive":
        assert got["derived"] == [c["derived"] for c in v["cases"]]
        assert got["rejected"] == ["FormatError"] * len(v["reject_labels"])
    elif v["case"] == "fingerprint":
        assert got["fingerprints"] == [c["fingerprint"] for c in v["cases"]]
    else:
        assert got["pairs"] == [{k: c[k] for k in ("public_key", "secret_key", "kid")} for c in v["cases"]]


def check_receipt(v, got):
    if v["case"] == "damm":
        assert got["checks"] == [c["check"] for c in v["cases"]]
        assert got["parsed"] == [c["number"] + c["check"] for c in v["cases"] if len(c["number"]) == 27]
    elif v["case"].startswith("keys"):
        assert got == {k: v[k] for k in ("lookup", "verifier", "public_key", "secret_key", "kid")}
    elif v["expect"] == "ok":
        assert (got["class"], got["digits"], got["grouped"], got["locator"]) == (
            "ok",
            v["digits"],
            v["grouped"],
            v["locator"],
        )
        assert v["digits"][7:] not in got["shown"] and v["locator"] in got["shown"]
    else:
        assert (got["class"], got["error"]) == (v["expect"], "ReceiptError")


def check_padding(v, got):
    assert got["padded"] == [padded for _, padded in v["cases"]]


def check_envelope(v, got):
    if v["case"] == "reporter_key":
        assert got["rk"] == [entry["rk"] for entry in v["rk"]]
        assert got["bindings"] == [check["binding"] for check in v["checks"]]
        return
    if v["case"] in ("body", "v2_body"):
        version = 2 if v["case"] == "v2_body" else 1
        assert got["fields"] == ["v", "kind", "header", "recipients", "nonce", "body"]
        assert (got["v"], got["kind"], got["nonce"]) == (version, v["kind"], v["nonce"])
        assert got["rk"] == (v["header"]["rk"] if version == 2 else None)
        assert got["header"] == json.dumps(v["header"], separators=(",", ":"))
        assert got["kids"] == v["kids"] and got["sealed_key_sizes"] == [80, 80]
        assert got["plaintext"] == v["plaintext"]  # JSON.stringify == json.dumps, byte for byte
        assert got["associated_data"] == v["associated_data"]
        assert got["body_key"] == v["body_key"]
        assert got["ciphertext"] == v["ciphertext"]
        assert got["content_key"] == v["content_key"]
        assert json.loads(got["reopened"]) == v["body"]
        return
    assert got["class"] == v["expect"]
    if v["expect"] == "ok":
        body = json.loads(got["body"])
        assert body == v["body"] and list(body) == list(v["body"])
        assert got["content_key"] == v["content_key"]
    elif v["expect"] in ("open_failed", "no_recipient"):
        assert (got["error"], got["message"]) == ("CryptoError", "decryption failed")
    else:
        assert got["error"] == "FormatError"


def check_stream(v, got):
    assert got["key"] == v["key"]
    if v["expect"] == "ok":
        assert got["class"] == "ok" and got["plaintext_matches"]
        assert got["ciphertext_size"] == v["ciphertext_size"]
        assert got["fresh_size"] == got["file_size"] == v["ciphertext_size"]
        assert got["fresh_roundtrip"] and got["file_roundtrip"]
    else:
        assert (got["class"], got["error"], got["message"]) == ("failed", "CryptoError", "decryption failed")


def check_keyfile(v, got):
    if v["expect"] == "ok":
        assert got == {"class": "ok", **{k: v[k] for k in ("public_key", "secret_key", "kid")}}
    elif v["expect"] == "bad_cost":  # refused before stretching, as Python refuses it
        assert (got["class"], got["message"]) in {
            ("FormatError", "kdf opslimit out of range"),
            ("FormatError", "kdf memlimit out of range"),
        }
    elif v["expect"] == "bad_version":
        assert got["class"] == "FormatError"
    else:
        assert v["expect"] == "open_failed" and got["class"] == "CryptoError"


CHECKS = {
    "encoding": check_encoding,
    "keys": check_keys,
    "receipt": check_receipt,
    "padding": check_padding,
    "envelope": check_envelope,
    "stream": check_stream,
    "keyfile": check_keyfile,
}


# --- the two implementations talking to each other -------------------------------------------


def _open(page, live_server):
    assert page.goto(live_server + "/").ok
    page.evaluate(f"async () => {{ window.wc = await import('{MODULE}'); await window.wc.ready(); }}")


BROWSER_SEALS = """
async ({ committee, fileB64, code, salt, ops, mem }) => {
  const wc = window.wc;
  const data = wc.unb64u(fileB64);
  const reporter = await wc.deriveReporterKeys(code, wc.unb64u(salt), ops, mem);
  const contentKey = wc.randomBytes(32);
  const id = wc.randomId();
  const blob = await wc.encryptFile(wc.attachmentKey(contentKey, id),
                                    new File([data], "证据.bin", { type: "application/octet-stream" }));
  const body = { narrative: "浏览器里封存 \\u2028 😀 \\"q\\" \\\\", accused_name: "王某",
                 attachments: [{ id, name: "证据.bin", type: "application/octet-stream", size: data.length }] };
  const header = wc.bindReporterKey({ channel: "staff", department: "housing", category: "meals", urgent: false },
                                    reporter.publicKey);
  const sealed = wc.seal("report", header, body, [wc.unb64u(committee), reporter.publicKey], { contentKey });
  return { envelope: sealed.envelope, stream: wc.b64u(new Uint8Array(await blob.arrayBuffer())),
           lookup: wc.b64u(reporter.lookup), reporterPublic: wc.b64u(reporter.publicKey) };
}
"""


def test_browser_seals_python_opens(page, live_server):
    _open(page, live_server)
    committee = KeyPair.generate()
    data = os.urandom(2 * CHUNK + 4321)  # three chunks, the last one padded
    code = ReceiptCode.generate()
    salt = random_bytes(16)
    got = page.evaluate(
        BROWSER_SEALS,
        {
            "committee": b64u(committee.public),
            "fileB64": b64u(data),
            "code": code.grouped(),
            "salt": b64u(salt),
            "ops": 1,
            "mem": 8192,
        },
    )
    reporter = derive_reporter_keys(code, salt, 1, 8192)
    assert got["lookup"] == b64u(reporter.lookup)
    assert got["reporterPublic"] == b64u(reporter.keypair.public)

    envelope = env.validate(got["envelope"])
    assert envelope["v"] == 2 and envelope["header"]["rk"] == env.reporter_key_id(reporter.keypair.public)
    assert env.reporter_key_binding(envelope, reporter.keypair.public) == env.BOUND
    for pair in (committee, reporter.keypair):
        body, content_key = env.open_envelope(envelope, pair)
        assert body["narrative"] == '浏览器里封存 \u2028 😀 "q" \\' and body["accused_name"] == "王某"
        meta = body["attachments"][0]
        assert meta["size"] == len(data) and meta["name"] == "证据.bin"
        assert len(meta["id"]) == 32 and int(meta["id"], 16) >= 0 and meta["id"] == meta["id"].lower()
        stream = unb64u(got["stream"])
        assert len(stream) == ciphertext_size(len(data))
        plain = b"".join(decrypt_stream(attachment_key(content_key, meta["id"]), [stream], meta["size"]))
        assert plain == data
    with pytest.raises(CryptoError):
        env.open_envelope(envelope, KeyPair.generate())


BROWSER_OPENS = """
async ({ envelope, publicKey, secretKey, stream }) => {
  const wc = window.wc;
  const opened = wc.openEnvelope(envelope, { publicKey: wc.unb64u(publicKey), secretKey: wc.unb64u(secretKey) });
  const meta = opened.body.attachments[0];
  const plain = wc.decryptStream(wc.attachmentKey(opened.contentKey, meta.id), wc.unb64u(stream), meta.size);
  let stranger;
  try {
    const other = wc.keyPairFromSeed(wc.randomBytes(32));
    wc.openEnvelope(envelope, other);
    stranger = "opened";
  } catch (e) {
    stranger = e.name + ": " + e.message;
  }
  return { body: JSON.stringify(opened.body), contentKey: wc.b64u(opened.contentKey),
           plain: wc.b64u(plain), stranger };
}
"""


def test_python_seals_browser_opens(page, live_server):
    _open(page, live_server)
    member, reporter = KeyPair.generate(), KeyPair.generate()
    data = os.urandom(CHUNK + 1)  # a full MESSAGE chunk and a padded FINAL one
    content_key = random_bytes(32)
    attachment_id = random_bytes(16).hex()
    stream = encrypt_bytes(attachment_key(content_key, attachment_id), data)
    body = {
        "text": '委员会答复：已受理。\n\t"引号" \\ \u2028 \u0007 😀',
        "attachments": [{"id": attachment_id, "name": "回执.pdf", "type": "application/pdf", "size": len(data)}],
    }
    sealed = env.seal("reply", {"case": "c" * 32}, body, [member.public, reporter.public], content_key=content_key)
    got = page.evaluate(
        BROWSER_OPENS,
        {
            "envelope": sealed.envelope,
            "publicKey": b64u(reporter.public),
            "secretKey": b64u(reporter.secret),
            "stream": b64u(stream),
        },
    )
    assert json.loads(got["body"]) == body
    assert got["contentKey"] == b64u(content_key)
    assert unb64u(got["plain"]) == data
    assert got["stranger"] == "CryptoError: decryption failed"


MALFORMED = """
async (envelope) => {
  const wc = window.wc;
  const pair = wc.keyPairFromSeed(new Uint8Array(32));
  const changes = {
    missing_nonce: (e) => { delete e.nonce; },
    extra_field: (e) => { e.extra = 1; },
    version_string: (e) => { e.v = "1"; },
    unknown_kind: (e) => { e.kind = "letter"; },
    header_not_ascii: (e) => { e.header.name = "张三"; },
    header_float: (e) => { e.header.n = 1.5; },
    no_recipients: (e) => { e.recipients = []; },
    duplicate_kid: (e) => { e.recipients.push({ ...e.recipients[0] }); },
    short_kid: (e) => { e.recipients[0].kid = "AAAA"; },
    padded_key: (e) => { e.recipients[0].key += "="; },
    short_nonce: (e) => { e.nonce = "AAAA"; },
    short_body: (e) => { e.body = wc.b64u(new Uint8Array(1039)); },
  };
  const out = {};
  for (const [name, change] of Object.entries(changes)) {
    const copy = JSON.parse(JSON.stringify(envelope));
    change(copy);
    try { wc.openEnvelope(copy, pair); out[name] = "opened"; } catch (e) { out[name] = e.name; }
  }
  return out;
}
"""


def test_browser_refuses_malformed_envelopes_like_python(page, live_server):
    _open(page, live_server)
    pair = KeyPair.from_seed(bytes(32))
    sealed = env.seal("message", {"case": "x"}, {"text": "hi"}, [pair.public])
    got = page.evaluate(MALFORMED, sealed.envelope)
    assert set(got.values()) == {"FormatError"}, got
    assert len(got) == 12


RECEIPTS = """
async () => {
  const wc = window.wc;
  const codes = Array.from({ length: 200 }, () => wc.ReceiptCode.generate());
  const kept = wc.ReceiptCode.generate("1234567");
  return { digits: codes.map((c) => c.digits), grouped: codes[0].grouped(),
           shown: String(codes[0]) + `${codes[0]}` + JSON.stringify([codes[0]]),
           kept: kept.digits, badLocator: (() => { try { wc.ReceiptCode.generate("123"); return "ok"; }
                                                  catch (e) { return e.name; } })() };
}
"""


def test_browser_receipt_codes_are_valid_for_python_and_hide_their_secret(page, live_server):
    _open(page, live_server)
    got = page.evaluate(RECEIPTS)
    for digits in got["digits"]:
        assert ReceiptCode.parse(digits).digits == digits
    assert ReceiptCode.parse(got["grouped"]).digits == got["digits"][0]
    assert len(set(got["digits"])) == 200
    for position in range(7, 27):  # every secret position uses every digit (p < 1e-7 to fail)
        assert {d[position] for d in got["digits"]} == set("0123456789")
    assert got["digits"][0][7:] not in got["shown"] and got["digits"][0][:7] in got["shown"]
    assert got["kept"].startswith("1234567") and ReceiptCode.parse(got["kept"])
    assert got["badLocator"] == "FormatError"


STREAM_WRITES = """
async ({ key, sizes }) => {
  const wc = window.wc;
  const pieces = [];
  const enc = new wc.StreamEncryptor(wc.unb64u(key), (p) => pieces.push(p));
  let counter = 0;
  for (const size of sizes) {
    enc.write(Uint8Array.from({ length: size }, () => (counter++ * 7) & 255));
  }
  const total = enc.finish();
  let again;
  try { enc.write(new Uint8Array(1)); again = "accepted"; } catch (e) { again = "refused"; }
  const all = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of pieces) { all.set(p, off); off += p.length; }
  return { stream: wc.b64u(all), total, again, pieceSizes: pieces.map((p) => p.length) };
}
"""


def test_browser_stream_writes_of_any_size(page, live_server):
    _open(page, live_server)
    key = random_bytes(32)
    sizes = [0, 1, 100, CHUNK - 1, CHUNK, 3, CHUNK + 5, 0, 777]
    got = page.evaluate(STREAM_WRITES, {"key": b64u(key), "sizes": sizes})
    total = sum(sizes)
    expected = bytes((i * 7) & 255 for i in range(total))
    assert got["total"] == total and got["again"] == "refused"
    stream = unb64u(got["stream"])
    assert len(stream) == ciphertext_size(total)
    assert got["pieceSizes"][0] == 24 and set(got["pieceSizes"][1:-1]) == {CHUNK + 17}
    assert b"".join(decrypt_stream(key, [stream], total)) == expected


def test_crypto_runs_under_the_strict_csp(page, live_server):
    response = page.goto(live_server + "/")
    csp = response.headers.get("content-security-policy", "")
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src")).split()
    assert "'self'" in script_src and "'wasm-unsafe-eval'" in script_src
    assert "'unsafe-eval'" not in script_src and "'unsafe-inline'" not in script_src
    result = page.evaluate(f"""async () => {{
        const wc = await import('{MODULE}');
        await wc.ready();
        const pair = wc.keyPairFromSeed(new Uint8Array(32).fill(1));
        const sealed = wc.seal("reply", {{}}, {{ ok: true }}, [pair.publicKey]);
        return wc.openEnvelope(sealed.envelope, pair).body.ok;
    }}""")
    assert result is True
    vendor = page.request.get(live_server + "/static/vendor/libsodium-wrappers.mjs")
    assert vendor.ok and b'from"libsodium-sumo"' not in vendor.body()


def test_base64_helper_matches_python(page, live_server):
    _open(page, live_server)
    samples = [os.urandom(n) for n in range(0, 70)]
    got = page.evaluate(
        "(items) => items.map((h) => window.wc.b64u(Uint8Array.from(atob(h), c => c.charCodeAt(0))))",
        [base64.b64encode(s).decode() for s in samples],
    )
    assert got == [b64u(s) for s in samples]
