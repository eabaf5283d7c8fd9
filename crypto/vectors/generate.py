"""Write the test vectors of FORMAT.md: one JSON file per scenario, ``<area>_<case>.json``.

Run ``python -m crypto.vectors.generate`` from the project root. The output is fully
reproducible: every input is a fixed byte string, and the two places where libsodium
would draw randomness on its own are rebuilt deterministically from the same primitives
(see ``_sealed_box`` and ``_stream``), so running the generator again rewrites identical
files and ``crypto/tests/test_vectors.py`` can check that the files on disk are current.

Conventions of every file: binary values are ``b64u`` strings; ``about`` says what the
scenario checks; ``expect`` is ``ok`` or the failure class a reader must report.
"""

import hashlib
import json
import sys
from pathlib import Path

import nacl.bindings as sodium
from stdnum import damm

from crypto import envelope as env
from crypto import stream
from crypto.encoding import b64u, canon, unb64u
from crypto.keys import KeyPair, derive, fingerprint, kid, stretch
from crypto.receipt import ReceiptCode, derive_reporter_keys
from crypto.stream import CHUNK, attachment_key, ciphertext_size, padme

VECTOR_DIR = Path(__file__).resolve().parent
EXPECT = (
    "ok",
    "bad_check",
    "bad_length",
    "no_recipient",
    "open_failed",
    "truncated",
    "trailing_data",
    "bad_version",
    "bad_cost",
    "bad_reporter_key",
)
# Cheap Argon2id cost so the vectors run in milliseconds (real costs live in the config).
ARGON_OPSLIMIT = 2
ARGON_MEMLIMIT = 65536
PATTERN_RULE = "byte i of the plaintext is i % 251"

_TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL


# --- fixed inputs ---------------------------------------------------------------------


def fixed(name: str, size: int = 32) -> bytes:
    """Arbitrary but fixed bytes, named so each input is distinct and reproducible."""
    return hashlib.blake2b(b"whistle-vectors/" + name.encode("ascii"), digest_size=size).digest()


def pattern(size: int) -> bytes:
    """The plaintext of every stream vector (``PATTERN_RULE``)."""
    return bytes(i % 251 for i in range(size))


def _flip(data: str, index: int) -> str:
    """A b64u string with one bit of byte ``index`` flipped."""
    raw = bytearray(unb64u(data))
    raw[index] ^= 0x01
    return b64u(bytes(raw))


def _keys(pair: KeyPair) -> dict:
    return {"public_key": b64u(pair.public), "secret_key": b64u(pair.secret), "kid": pair.kid}


COMMITTEE = KeyPair.from_seed(fixed("committee-seed"))
MEMBER = KeyPair.from_seed(fixed("member-seed"))
OUTSIDER = KeyPair.from_seed(fixed("outsider-seed"))
REPORTER = KeyPair.from_seed(fixed("reporter-seed"))
CONTENT_KEY = fixed("content-key")
NONCE = fixed("body-nonce", env.NONCE_BYTES)
ATTACHMENT_ID = fixed("attachment-id", 16).hex()


# --- deterministic stand-ins for libsodium's own randomness ----------------------------


def _sealed_box(message: bytes, public_key: bytes, name: str) -> bytes:
    """crypto_box_seal with a fixed ephemeral key instead of a random one.

    A sealed box is ``epk || crypto_box_easy(m, nonce = BLAKE2b(epk || pk, 24), pk, esk)``;
    building it here from a seeded ephemeral key pair gives byte-identical files on
    every run. The result is checked with the real crypto_box_seal_open.
    """
    epk, esk = sodium.crypto_box_seed_keypair(fixed("ephemeral/" + name))
    nonce = hashlib.blake2b(epk + public_key, digest_size=sodium.crypto_box_NONCEBYTES).digest()
    return epk + sodium.crypto_box(message, nonce, public_key, esk)


def _stream(key: bytes, header: bytes, chunks: list[tuple[bytes, int]]) -> bytes:
    """A secretstream with a chosen header instead of the random one init_push draws.

    init_push and init_pull derive the same state from (key, header): init_push only
    adds the random draw of the header. So init_pull on a fixed header followed by
    push produces exactly what init_push would have produced had it drawn that header.
    """
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
    out = [header]
    for message, tag in chunks:
        out.append(sodium.crypto_secretstream_xchacha20poly1305_push(state, message, None, tag))
    return b"".join(out)


def _stream_chunks(size: int) -> list[tuple[bytes, int]]:
    """The chunks FORMAT.md §4 prescribes for a file of ``size`` pattern bytes."""
    padded = pattern(size) + bytes(padme(size) - size)
    count = max(1, -(-len(padded) // CHUNK))
    pieces = [padded[i * CHUNK : (i + 1) * CHUNK] for i in range(count)]
    return [(piece, _TAG_FINAL if i == count - 1 else _TAG_MESSAGE) for i, piece in enumerate(pieces)]


# --- vector records -------------------------------------------------------------------

AREA_ABOUT = {
    "encoding": "FORMAT.md Notation: b64u is base64url without padding (decoders reject "
    "padding, foreign characters and non-canonical trailing bits); canon is the "
    "sorted, space-free, ASCII-only JSON of a flat header object.",
    "keys": "FORMAT.md Notation: derive(key, label) = BLAKE2b-256(message = label, key = key); "
    "kid(pk) = b64u(BLAKE2b-128(pk)); key pairs are crypto_box_seed_keypair(seed).",
    "receipt": "FORMAT.md §1-2: a receipt code is 28 ASCII digits, locator(7) || secret(20) "
    "|| Damm check digit; input drops everything but digits after mapping "
    "full-width digits; reporter keys come from Argon2id13 of the digits.",
    "padding": "FORMAT.md §3-4: B(n) is the body bucket (smallest power of two >= n + 1, "
    "at least 1024); padme(L) is the Padmé length of an attachment stream.",
    "envelope": "FORMAT.md §3: an envelope seals a content key K to each recipient and "
    "encrypts pad(JSON body) with XChaCha20-Poly1305 under derive(K, "
    "'whistle/v1/body'), the kind and canon(header) as associated data. Every "
    "opening failure is the same opaque error; no_recipient means the opener's "
    "kid is not listed, open_failed that it is and something else failed.",
    "stream": "FORMAT.md §4: an attachment stream is secretstream XChaCha20-Poly1305 over "
    "the file padded with zeros to padme(size), in 65536-byte chunks, only the "
    "last tagged FINAL; key = derive(K, 'whistle/v1/attachment/' || id). "
    f"Plaintexts follow a rule instead of being stored: {PATTERN_RULE}.",
    "keyfile": "FORMAT.md §5: a private-key file (the committee's, opened by the CLI; a "
    "member's, opened in the browser) wraps the X25519 secret key with "
    "crypto_secretbox under Argon2id13(passphrase). A cost outside opslimit 1..4, "
    "memlimit 8192..2^30 is refused (bad_cost) before any stretching.",
}


def vector(area: str, case: str, expect: str, about: str, **fields) -> tuple[str, dict]:
    """One scenario: file stem and content, with the shared header fields first."""
    assert expect in EXPECT, expect
    assert "_" not in area
    return f"{area}_{case}", {
        "about": f"{AREA_ABOUT[area]} This case: {about}",
        "area": area,
        "case": case,
        "expect": expect,
        **fields,
    }


# --- areas ----------------------------------------------------------------------------


def encoding_vectors():
    samples = [
        b"",
        b"\x00",
        b"\x00\x00",
        b"\x00\x00\x00",
        b"\xfb\xff",
        b"\xfb\xff\xbf",
        b"hello, world",
        bytes(range(256)),
    ]
    yield vector(
        "encoding",
        "b64u",
        "ok",
        "each hex value encodes to its b64u and back; every string in reject must fail to decode.",
        cases=[{"hex": data.hex(), "b64u": b64u(data)} for data in samples],
        reject=["AA==", "AAA=", "A", "AAAAA", "AB", "AAB", "+/8", "AA AA", "AA\n", "\u00c0A", "-_-=", "AA.A"],
    )
    headers = [
        {},
        {"z": 1, "a": "x", "m": None, "b": True, "c": False},
        {"a": 2, "B": 1, "_": 3, "A": 0, "10": "ten", "9": "nine"},
        {"q": 'say "hi" \\ bye', "space": " ~!#$%&'()*+,-./:;<=>?@[]^`{|}"},
        {"max": 2**53 - 1, "min": -(2**53 - 1), "zero": 0},
    ]
    yield vector(
        "encoding",
        "canon",
        "ok",
        "each header (given in unsorted key order) has exactly the canon string; "
        "every value in reject must be refused by canon.",
        cases=[{"header": header, "canon": canon(header)} for header in headers],
        reject=[
            {"s": "\u00e9"},
            {"s": "line\nbreak"},
            {"s": "del\u007f"},
            {"\u00e9": 1},
            {"n": 2**53},
            {"n": -(2**53)},
            {"f": 1.5},
            {"a": [1]},
            {"o": {}},
            [],
            "header",
            None,
        ],
    )


def keys_vectors():
    cases = []
    for name, size, label in [
        ("derive-key-1", 32, "whistle/v1/body"),
        ("derive-key-2", 64, "whistle/v1/attachment/" + ATTACHMENT_ID),
        ("derive-key-3", 16, "whistle/v1/receipt/lookup"),
        ("derive-key-4", 32, "whistle/v1/receipt/fake-salt/1234567"),
        ("derive-key-5", 32, "whistle/v1/log-commitment"),
    ]:
        key = fixed(name, size)
        cases.append({"key": b64u(key), "label": label, "derived": b64u(derive(key, label))})
    yield vector(
        "keys",
        "derive",
        "ok",
        "derive(key, label) for keys of 16, 32 and 64 bytes; labels in reject lack "
        "the whistle/v1/ prefix and must be refused.",
        cases=cases,
        reject_labels=["whistle/v2/body", "body", ""],
    )
    pairs = [("committee-seed", COMMITTEE), ("member-seed", MEMBER), ("outsider-seed", OUTSIDER)]
    yield vector(
        "keys",
        "kid",
        "ok",
        "the key pair of each seed (crypto_box_seed_keypair) and the kid of its public key.",
        cases=[{"seed": b64u(fixed(name)), **_keys(pair)} for name, pair in pairs],
    )
    yield vector(
        "keys",
        "fingerprint",
        "ok",
        "fingerprint(pk): 5 groups of 5 digits from BLAKE2b-256(message = pk, key = "
        '"whistle/v1/enrolment-fingerprint"), group i = big-endian uint32 of bytes '
        "4i..4i+3 mod 100000.",
        cases=[{"public_key": b64u(pair.public), "fingerprint": fingerprint(pair.public)} for _name, pair in pairs],
    )


def _valid_code(seed: str) -> str:
    """A valid 28-digit code whose digits come from a fixed hash (not random)."""
    body = "".join(str(b % 10) for b in fixed("receipt/" + seed, 27))
    return body + damm.calc_check_digit(body)


def receipt_vectors():
    code = _valid_code("main")
    grouped = ReceiptCode(code).grouped()
    fullwidth = "".join(chr(0xFF10 + int(ch)) if i % 3 else ch for i, ch in enumerate(code))

    def ok(case, about, text):
        parsed = ReceiptCode.parse(text)
        assert parsed.digits == code
        return vector(
            "receipt",
            case,
            "ok",
            about,
            input=text,
            digits=parsed.digits,
            grouped=parsed.grouped(),
            locator=parsed.locator,
        )

    yield ok("plain", "28 plain digits parse to themselves.", code)
    yield ok(
        "grouped",
        "groups separated by spaces, dashes, a tab and a newline.",
        grouped.replace(" ", " - ", 2).replace(" ", "\t", 1) + "\n",
    )
    yield ok(
        "fullwidth",
        "full-width digits (U+FF10-U+FF19) mixed with ASCII ones and full-width spaces normalise to ASCII digits.",
        "\u3000".join(fullwidth[i : i + 4] for i in range(0, 28, 4)),
    )

    def bad(case, expect, about, text):
        try:
            ReceiptCode.parse(text)
        except ValueError as exc:
            assert exc.args[0] == expect, (case, exc)
        else:
            raise AssertionError(case)
        return vector("receipt", case, expect, about, input=text)

    yield bad("bad_length_short", "bad_length", "27 digits.", grouped[:-1])
    yield bad("bad_length_long", "bad_length", "29 digits.", code + "0")
    yield bad("bad_length_empty", "bad_length", "no digit at all.", "receipt: -")
    yield bad(
        "bad_length_arabic_digits",
        "bad_length",
        "Arabic-Indic digits are not mapped, so they are dropped and 25 digits remain.",
        code[:25] + "\u0663\u0664\u0665",
    )
    changed = code[:10] + str((int(code[10]) + 1) % 10) + code[11:]
    yield bad("bad_check", "bad_check", "one digit of a valid code changed.", changed)
    i = next(i for i in range(27) if code[i] != code[i + 1])
    swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
    yield bad(
        "bad_check_transposed",
        "bad_check",
        "two adjacent different digits swapped (Damm catches every such swap).",
        swapped,
    )

    numbers = ["572", "0", "5724"] + [_valid_code(f"damm-{n}")[:27] for n in range(8)]
    yield vector(
        "receipt",
        "damm",
        "ok",
        "the Damm check digit (standard table) of each number; 572 -> 4 is the textbook example.",
        cases=[{"number": number, "check": damm.calc_check_digit(number)} for number in numbers],
    )

    for case, salt_name in [("keys", "receipt-salt"), ("keys_other_salt", "receipt-salt-2")]:
        salt = fixed(salt_name, 16)
        keys = derive_reporter_keys(ReceiptCode(code), salt, ARGON_OPSLIMIT, ARGON_MEMLIMIT)
        yield vector(
            "receipt",
            case,
            "ok",
            "reporter keys of a code under a salt and an Argon2id cost: lookup, verifier and the X25519 key pair.",
            code=code,
            salt=b64u(salt),
            opslimit=ARGON_OPSLIMIT,
            memlimit=ARGON_MEMLIMIT,
            master=b64u(stretch(code.encode("ascii"), salt, ARGON_OPSLIMIT, ARGON_MEMLIMIT)),
            lookup=b64u(keys.lookup),
            verifier=b64u(keys.verifier),
            **_keys(keys.keypair),
        )


def padding_vectors():
    lengths = [
        0,
        1,
        2,
        3,
        4,
        5,
        7,
        8,
        9,
        15,
        16,
        17,
        31,
        32,
        33,
        63,
        64,
        65,
        100,
        255,
        256,
        257,
        1000,
        1023,
        1024,
        1025,
        4095,
        4096,
        4097,
        65535,
        65536,
        65537,
        100000,
        1000000,
        2**20 + 1,
        10**7,
        2**31 - 1,
        2**31,
        2**31 + 1,
        2**32 + 1,
        5 * 10**9,
        2**40 + 1,
        2**52 + 1,
        2**53 - 1,
    ]
    yield vector(
        "padding",
        "padme",
        "ok",
        "padme(L) for small, boundary and large L (beyond 32-bit integers).",
        cases=[[length, padme(length)] for length in lengths],
    )
    sizes = [0, 1, 2, 100, 1022, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 65535, 65536, 1000000]
    yield vector(
        "padding", "bucket", "ok", "B(n) for small and boundary n.", cases=[[size, env.bucket(size)] for size in sizes]
    )


HEADER = {"department": "finance", "category": "conduct", "urgent": False, "rules_version": 3}
BODY = {
    "narrative": '某某在2024年3月的报销中虚报差旅费。\n第二段\u2028(U+2028) \t"quoted" '
    "back\\slash \u0001 del\u007f 😀 Zoë",
    "when": "2024-03",
    "people": ["张三", "Zoë"],
    "attachments": [{"id": ATTACHMENT_ID, "name": "收据 (1).pdf", "type": "application/pdf", "size": 1000}],
    "anonymous": True,
    "contact": None,
    "count": 0,
}


def _with_deterministic_recipients(envelope: dict, content_key: bytes, keys: list[KeyPair], tag: str) -> dict:
    """Replace the random sealed boxes of ``envelope`` by reproducible ones."""
    envelope = json.loads(json.dumps(envelope))
    envelope["recipients"] = [
        {"kid": pair.kid, "key": b64u(_sealed_box(content_key, pair.public, f"{tag}/{pair.kid}"))} for pair in keys
    ]
    for pair in keys:  # the stand-in must open with the real primitive
        assert env.open_content_key(envelope, pair) == content_key
    return envelope


def _raw_envelope(plaintext_padded: bytes, tag: str) -> dict:
    """An envelope whose padded plaintext is chosen freely (for malformed bodies)."""
    ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext_padded, env.associated_data("message", {}, 1), NONCE, env.body_key(CONTENT_KEY)
    )
    envelope = {
        "v": 1,
        "kind": "message",
        "header": {},
        "recipients": [],
        "nonce": b64u(NONCE),
        "body": b64u(ciphertext),
    }
    return _with_deterministic_recipients(envelope, CONTENT_KEY, [COMMITTEE], tag)


def envelope_vectors():
    sealed = env.seal(
        "report", HEADER, BODY, [COMMITTEE.public, MEMBER.public], content_key=CONTENT_KEY, nonce=NONCE, version=1
    )
    plaintext = json.dumps(BODY, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    yield vector(
        "envelope",
        "body",
        "ok",
        "sealing with a fixed content key and nonce gives exactly this body "
        "ciphertext; plaintext is the UTF-8 JSON of body in its key order "
        "(json.dumps(ensure_ascii=False, separators=(',', ':'))).",
        kind="report",
        header=HEADER,
        body=BODY,
        content_key=b64u(CONTENT_KEY),
        nonce=b64u(NONCE),
        recipient_public_keys=[b64u(COMMITTEE.public), b64u(MEMBER.public)],
        kids=[COMMITTEE.kid, MEMBER.kid],
        associated_data=env.associated_data("report", HEADER, 1).decode("ascii"),
        body_key=b64u(env.body_key(CONTENT_KEY)),
        plaintext=b64u(plaintext),
        padded_size=env.bucket(len(plaintext)),
        ciphertext=sealed.envelope["body"],
    )

    good = _with_deterministic_recipients(sealed.envelope, CONTENT_KEY, [COMMITTEE, MEMBER], "main")

    def opened(case, expect, about, envelope, pair, **extra):
        return vector("envelope", case, expect, about, envelope=envelope, key=_keys(pair), **extra)

    yield opened(
        "open",
        "ok",
        "the first recipient opens the envelope.",
        good,
        COMMITTEE,
        body=BODY,
        content_key=b64u(CONTENT_KEY),
    )
    yield opened(
        "open_second_recipient",
        "ok",
        "the second recipient opens it too.",
        good,
        MEMBER,
        body=BODY,
        content_key=b64u(CONTENT_KEY),
    )
    minimal = env.seal(
        "reply",
        {},
        {},
        [MEMBER.public],
        content_key=fixed("content-key-2"),
        nonce=fixed("body-nonce-2", env.NONCE_BYTES),
        version=1,
    )
    minimal_env = _with_deterministic_recipients(minimal.envelope, fixed("content-key-2"), [MEMBER], "minimal")
    yield opened(
        "open_minimal",
        "ok",
        "an empty header and an empty body.",
        minimal_env,
        MEMBER,
        body={},
        content_key=b64u(fixed("content-key-2")),
    )

    def tampered(case, expect, about, change, pair=COMMITTEE):
        envelope = json.loads(json.dumps(good))
        change(envelope)
        return opened(case, expect, about, envelope, pair)

    yield tampered(
        "flipped_body",
        "open_failed",
        "one bit of the body ciphertext flipped.",
        lambda e: e.update(body=_flip(e["body"], 100)),
    )
    yield tampered(
        "flipped_nonce", "open_failed", "one bit of the nonce flipped.", lambda e: e.update(nonce=_flip(e["nonce"], 0))
    )
    yield tampered(
        "changed_header",
        "open_failed",
        "a routing field of the clear header changed (it is associated data).",
        lambda e: e["header"].update(department="hr"),
    )
    yield tampered(
        "added_header_field",
        "open_failed",
        "a field added to the clear header.",
        lambda e: e["header"].update(extra="x"),
    )
    yield tampered("changed_kind", "open_failed", "kind report changed to message.", lambda e: e.update(kind="message"))
    yield tampered(
        "flipped_sealed_key",
        "open_failed",
        "one bit of the opener's sealed content key flipped.",
        lambda e: e["recipients"][0].update(key=_flip(e["recipients"][0]["key"], 40)),
    )

    def swap_sealed_keys(e):
        first, second = e["recipients"]
        first["key"], second["key"] = second["key"], first["key"]

    yield tampered(
        "swapped_sealed_keys",
        "open_failed",
        "the two recipients' sealed keys swapped (each kid now points at a box for the other key).",
        swap_sealed_keys,
    )
    other_key = fixed("content-key-other")
    yield tampered(
        "wrong_content_key",
        "open_failed",
        "a valid sealed box for the opener, but of another content key.",
        lambda e: e["recipients"][0].update(key=b64u(_sealed_box(other_key, COMMITTEE.public, "wrong-content-key"))),
    )
    yield tampered(
        "unknown_kid", "no_recipient", "opened by a key that is not a recipient.", lambda e: None, pair=OUTSIDER
    )
    yield tampered("bad_version", "bad_version", "v is 3.", lambda e: e.update(v=3))
    yield tampered("bad_version_bool", "bad_version", "v is true (not the integer 1).", lambda e: e.update(v=True))

    def raw(case, about, plain: bytes, pad=True):
        padded = sodium.sodium_pad(plain, env.bucket(len(plain))) if pad else plain
        return opened(case, "open_failed", about, _raw_envelope(padded, case), COMMITTEE)

    yield raw("bad_padding", "the body decrypts to 1024 zero bytes: no 0x80 pad marker.", bytes(1024), pad=False)
    yield raw("not_json", "the padded body is not JSON.", b"not json")
    yield raw("json_array", "the body is JSON but an array, not an object.", b"[1,2]")
    yield raw("json_nan", "the body uses NaN, which is not JSON.", b'{"a":NaN}')
    yield raw("json_bom", "the body starts with a UTF-8 byte order mark.", b"\xef\xbb\xbf{}")
    yield raw("invalid_utf8", "the body is not valid UTF-8.", b'{"a":"\xff"}')


V2_HEADER = env.bind_reporter_key(HEADER, REPORTER.public)
V2_ABOUT = (
    "Version 2 puts v in the associated data ('whistle/v' || v || '/' || kind) and binds "
    "the reporter key in a report's header: rk = b64u(derive(pk, "
    "'whistle/v1/reporter-key', 16)); a version 2 report without a well-formed rk is "
    "bad_reporter_key. "
)


def envelope_v2_vectors():
    """Version 2 (FORMAT.md §3): v in the associated data, the reporter key bound in a report."""
    sealed = env.seal(
        "report", V2_HEADER, BODY, [COMMITTEE.public, MEMBER.public], content_key=CONTENT_KEY, nonce=NONCE
    )
    plaintext = json.dumps(BODY, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    yield vector(
        "envelope",
        "v2_body",
        "ok",
        V2_ABOUT + "a version 2 report sealed with a fixed content key and nonce; its header "
        "binds rk of reporter_public_key, and its associated data starts "
        "whistle/v2/report.",
        kind="report",
        header=V2_HEADER,
        body=BODY,
        content_key=b64u(CONTENT_KEY),
        nonce=b64u(NONCE),
        recipient_public_keys=[b64u(COMMITTEE.public), b64u(MEMBER.public)],
        kids=[COMMITTEE.kid, MEMBER.kid],
        reporter_public_key=b64u(REPORTER.public),
        associated_data=env.associated_data("report", V2_HEADER).decode("ascii"),
        body_key=b64u(env.body_key(CONTENT_KEY)),
        plaintext=b64u(plaintext),
        padded_size=env.bucket(len(plaintext)),
        ciphertext=sealed.envelope["body"],
    )
    good = _with_deterministic_recipients(sealed.envelope, CONTENT_KEY, [COMMITTEE, MEMBER], "v2")

    def opened(case, expect, about, envelope, pair=COMMITTEE, **extra):
        return vector("envelope", case, expect, V2_ABOUT + about, envelope=envelope, key=_keys(pair), **extra)

    yield opened(
        "v2_open", "ok", "a recipient opens the version 2 report.", good, body=BODY, content_key=b64u(CONTENT_KEY)
    )

    def tampered(case, expect, about, change):
        envelope = json.loads(json.dumps(good))
        change(envelope)
        return opened(case, expect, about, envelope)

    yield tampered(
        "v2_changed_reporter_key",
        "open_failed",
        "rk replaced by the rk of another key (the outsider's).",
        lambda e: e["header"].update(rk=env.reporter_key_id(OUTSIDER.public)),
    )
    yield tampered(
        "v2_relabelled_v1",
        "open_failed",
        "v changed to 1 (v is associated data from version 2 on).",
        lambda e: e.update(v=1),
    )
    yield tampered(
        "v2_downgraded",
        "open_failed",
        "v changed to 1 and rk dropped.",
        lambda e: (e.update(v=1), e["header"].pop("rk")),
    )
    yield tampered(
        "v2_missing_reporter_key", "bad_reporter_key", "a version 2 report without rk.", lambda e: e["header"].pop("rk")
    )
    yield tampered(
        "v2_short_reporter_key", "bad_reporter_key", "rk of 15 bytes.", lambda e: e["header"].update(rk=b64u(bytes(15)))
    )
    reply = env.seal(
        "reply",
        {"case": "c" * 32},
        {"text": "已受理"},
        [MEMBER.public, REPORTER.public],
        content_key=fixed("content-key-3"),
        nonce=fixed("body-nonce-3", env.NONCE_BYTES),
    )
    reply_env = _with_deterministic_recipients(reply.envelope, fixed("content-key-3"), [MEMBER, REPORTER], "v2-reply")
    yield opened(
        "v2_reply",
        "ok",
        "a version 2 reply (no rk: only a report binds one) opened by the reporter.",
        reply_env,
        REPORTER,
        body={"text": "已受理"},
        content_key=b64u(fixed("content-key-3")),
    )

    v1 = env.seal("report", HEADER, BODY, [COMMITTEE.public], content_key=CONTENT_KEY, nonce=NONCE, version=1).envelope
    v1 = _with_deterministic_recipients(v1, CONTENT_KEY, [COMMITTEE], "v1-report")
    checks = [
        {"report": name, "public_key": b64u(pair.public), "binding": env.reporter_key_binding(report, pair.public)}
        for name, report in (("v2", good), ("v1", v1))
        for pair in (REPORTER, OUTSIDER)
    ]
    assert [c["binding"] for c in checks] == [env.BOUND, env.MISMATCH, env.UNBOUND, env.UNBOUND]
    yield vector(
        "envelope",
        "reporter_key",
        "ok",
        V2_ABOUT + "rk of fixed keys, and the verdict of comparing a report's bound key with a "
        "given one: bound, mismatch (another key), unbound (a version 1 report).",
        rk=[
            {"public_key": b64u(pair.public), "rk": env.reporter_key_id(pair.public)}
            for pair in (REPORTER, OUTSIDER, COMMITTEE)
        ],
        reports={"v2": good, "v1": v1},
        checks=checks,
    )


def _stream_vector(case, expect, about, size, ciphertext: bytes, key: bytes, attachment_id: str = ATTACHMENT_ID):
    return vector(
        "stream",
        case,
        expect,
        about,
        content_key=b64u(CONTENT_KEY),
        attachment_id=attachment_id,
        key=b64u(key),
        size=size,
        ciphertext_size=len(ciphertext),
        ciphertext=b64u(ciphertext),
    )


def stream_vectors():
    key = attachment_key(CONTENT_KEY, ATTACHMENT_ID)
    header = fixed("stream-header", stream.HEADER_BYTES)

    def make(size, chunks=None):
        return _stream(key, header, chunks if chunks is not None else _stream_chunks(size))

    for case, size, about in [
        ("empty", 0, "an empty file: one empty FINAL chunk."),
        ("small", 1000, "1000 bytes padded to padme = 1024, one FINAL chunk."),
        ("exact_chunk", CHUNK, "exactly 65536 bytes: one full-size FINAL chunk."),
        ("two_chunks", CHUNK + 1, "65537 bytes padded to 67584: a MESSAGE chunk and a 2048-byte FINAL chunk."),
        (
            "three_chunks",
            2 * CHUNK + 100,
            "131172 bytes padded to 135168: two MESSAGE chunks and a 4096-byte FINAL chunk.",
        ),
    ]:
        data = make(size)
        assert len(data) == ciphertext_size(size)
        yield _stream_vector(case, "ok", about, size, data, key)

    small = make(1000)
    two = make(CHUNK + 1)
    first_chunk_end = stream.HEADER_BYTES + CHUNK + stream.ABYTES
    yield _stream_vector(
        "truncated",
        "truncated",
        "the FINAL chunk of the two-chunk stream dropped.",
        CHUNK + 1,
        two[:first_chunk_end],
        key,
    )
    yield _stream_vector(
        "header_only", "truncated", "nothing after the header.", 1000, small[: stream.HEADER_BYTES], key
    )
    yield _stream_vector("cut_final", "truncated", "the last 10 bytes of the FINAL chunk cut.", 1000, small[:-10], key)
    yield _stream_vector(
        "no_final_tag",
        "truncated",
        "the only chunk is tagged MESSAGE, so the stream never ends.",
        1000,
        make(1000, [(pattern(1000) + bytes(24), _TAG_MESSAGE)]),
        key,
    )
    yield _stream_vector(
        "size_beyond_end", "truncated", "the stream of a 1000-byte file read with size 5000.", 5000, small, key
    )
    yield _stream_vector("trailing_byte", "trailing_data", "one zero byte after FINAL.", 1000, small + b"\x00", key)
    # Chunk boundaries fall every 65553 bytes, so anything after a short FINAL chunk merges
    # with it and fails its MAC. After a full-size FINAL chunk, a second authentic FINAL
    # chunk can only be refused by the "nothing after FINAL" rule itself.
    after_final = make(CHUNK, _stream_chunks(CHUNK) + [(b"more", _TAG_FINAL)])
    yield _stream_vector(
        "trailing_chunk",
        "trailing_data",
        "a second, authentic FINAL chunk after a full-size FINAL chunk.",
        CHUNK,
        after_final,
        key,
    )
    flipped = bytearray(small)
    flipped[stream.HEADER_BYTES + 500] ^= 0x01
    yield _stream_vector("flipped_byte", "open_failed", "one bit of the chunk flipped.", 1000, bytes(flipped), key)
    flipped_header = bytearray(small)
    flipped_header[3] ^= 0x01
    yield _stream_vector(
        "flipped_header", "open_failed", "one bit of the header flipped.", 1000, bytes(flipped_header), key
    )
    other_id = fixed("attachment-id-2", 16).hex()
    yield _stream_vector(
        "wrong_key",
        "open_failed",
        "decrypted with the key of another attachment id.",
        1000,
        small,
        attachment_key(CONTENT_KEY, other_id),
        other_id,
    )


KEYFILE_PASSPHRASE = "correct horse 电池 staple"


def _keyfile(pair: KeyPair, passphrase: str, tag: str, kdf=None, **changes) -> str:
    """A key file as crypto.keyfile.wrap writes it, with fixed salt and nonce (and ``kdf``
    changes made after wrapping)."""
    salt = fixed(f"keyfile-salt/{tag}", 16)
    nonce = fixed(f"keyfile-nonce/{tag}", sodium.crypto_secretbox_NONCEBYTES)
    wrapping = stretch(passphrase.encode("utf-8"), salt, ARGON_OPSLIMIT, ARGON_MEMLIMIT)
    data = {
        "v": 1,
        "kind": "whistle-private-key",
        "kid": kid(pair.public),
        "public_key": b64u(pair.public),
        "kdf": {"salt": b64u(salt), "opslimit": ARGON_OPSLIMIT, "memlimit": ARGON_MEMLIMIT},
        "nonce": b64u(nonce),
        "box": b64u(sodium.crypto_secretbox(pair.secret, nonce, wrapping)),
    }
    data.update(changes)
    data["kdf"].update(kdf or {})
    return json.dumps(data, indent=2) + "\n"


def keyfile_vectors():
    good = _keyfile(COMMITTEE, KEYFILE_PASSPHRASE, "main")

    def case(name, expect, about, text, passphrase=KEYFILE_PASSPHRASE):
        return vector("keyfile", name, expect, about, file=text, passphrase=passphrase, **_keys(COMMITTEE))

    yield case("ok", "ok", "the passphrase (UTF-8, non-ASCII) opens the file.", good)
    yield case("wrong_passphrase", "open_failed", "a wrong passphrase.", good, KEYFILE_PASSPHRASE + " ")
    data = json.loads(good)
    yield case(
        "flipped_box",
        "open_failed",
        "one bit of the box flipped.",
        _keyfile(COMMITTEE, KEYFILE_PASSPHRASE, "main", box=_flip(data["box"], 5)),
    )
    yield case(
        "other_public_key",
        "open_failed",
        "the recorded public key is not the secret key's.",
        _keyfile(COMMITTEE, KEYFILE_PASSPHRASE, "main", public_key=b64u(MEMBER.public)),
    )
    yield case("bad_version", "bad_version", "v is 2.", _keyfile(COMMITTEE, KEYFILE_PASSPHRASE, "main", v=2))
    yield case(
        "cost_too_high",
        "bad_cost",
        "a memlimit of 1 TiB: refused before stretching.",
        _keyfile(COMMITTEE, KEYFILE_PASSPHRASE, "main", kdf={"memlimit": 1 << 40}),
    )
    yield case(
        "cost_too_many_passes",
        "bad_cost",
        "an opslimit of 2^20: refused before stretching.",
        _keyfile(COMMITTEE, KEYFILE_PASSPHRASE, "main", kdf={"opslimit": 1 << 20}),
    )
    yield case(
        "cost_too_low",
        "bad_cost",
        "a memlimit of 4 KiB, under libsodium's minimum.",
        _keyfile(COMMITTEE, KEYFILE_PASSPHRASE, "main", kdf={"memlimit": 4096}),
    )


# --- output ---------------------------------------------------------------------------


def build() -> dict[str, dict]:
    """Every vector, by file stem, in a stable order."""
    vectors: dict[str, dict] = {}
    for area in (
        encoding_vectors,
        keys_vectors,
        receipt_vectors,
        padding_vectors,
        envelope_vectors,
        envelope_v2_vectors,
        stream_vectors,
        keyfile_vectors,
    ):
        for stem, content in area():
            assert stem not in vectors, stem
            vectors[stem] = content
    return vectors


def dumps(content: dict) -> str:
    """The exact text of a vector file (ASCII, so no editor or platform can alter it)."""
    return json.dumps(content, indent=1, ensure_ascii=True) + "\n"


def main(directory: Path = VECTOR_DIR) -> int:
    """Write every vector and delete vector files no scenario produces any more."""
    write(build(), directory)
    return 0


def write(vectors: dict, directory: Path) -> None:
    """Write ``vectors`` as ``<stem>.json`` files and delete the other JSON files there."""
    for stem, content in vectors.items():
        (directory / f"{stem}.json").write_text(dumps(content), encoding="ascii")
    for path in directory.glob("*.json"):
        if path.stem not in vectors:
            path.unlink()
    total = sum((directory / f"{stem}.json").stat().st_size for stem in vectors)
    print(f"wrote {len(vectors)} vectors ({total // 1024} KiB) to {directory}")


if __name__ == "__main__":
    sys.exit(main())
