"""Run every vector of crypto/vectors/ through the Python implementation.

The browser twin runs the same files (tests/browser/test_crypto_vectors.py); together
they keep both implementations on the byte format of FORMAT.md.
"""

import json
import re
from pathlib import Path

import pytest

from crypto.encoding import b64u, canon, unb64u
from crypto.envelope import (
    associated_data,
    body_key,
    bucket,
    open_envelope,
    recipient_kids,
    reporter_key_binding,
    reporter_key_id,
    seal,
)
from crypto.errors import CryptoError, FormatError, ReceiptError
from crypto.keyfile import public_key_of, unwrap
from crypto.keys import KeyPair, derive, fingerprint, kid, stretch
from crypto.receipt import ReceiptCode, derive_reporter_keys
from crypto.stream import attachment_key, ciphertext_size, decrypt_stream, encrypt_bytes, padme
from crypto.vectors.generate import EXPECT, VECTOR_DIR, build, dumps, pattern

FILES = sorted(VECTOR_DIR.glob("*.json"))
AREAS = {"encoding", "keys", "receipt", "padding", "envelope", "stream", "keyfile"}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="ascii"))


def keypair(entry: dict) -> KeyPair:
    return KeyPair(unb64u(entry["public_key"]), unb64u(entry["secret_key"]))


# --- the set of files --------------------------------------------------------------------


def test_files_on_disk_are_what_the_generator_writes():
    """Stale or hand-edited vectors fail here: run python -m crypto.vectors.generate."""
    built = build()
    assert sorted(path.stem for path in FILES) == sorted(built)
    for path in FILES:
        assert path.read_text(encoding="ascii") == dumps(built[path.stem]), path.name


def test_vector_set_covers_every_area_and_failure_class():
    vectors = [load(path) for path in FILES]
    assert {v["area"] for v in vectors} == AREAS
    assert {v["expect"] for v in vectors} == set(EXPECT)
    for path, v in zip(FILES, vectors):
        assert path.stem == f"{v['area']}_{v['case']}"
        assert re.fullmatch(r"[a-z]+_[a-z0-9_]+", path.stem)
        assert v["about"].strip() and list(v)[:4] == ["about", "area", "case", "expect"]


def test_vectors_stay_small():
    sizes = {path.name: path.stat().st_size for path in FILES}
    assert sum(sizes.values()) < 1024 * 1024
    assert max(sizes.values()) < 256 * 1024


# --- one runner per area ------------------------------------------------------------------


def run_encoding(v):
    if v["case"] == "b64u":
        for case in v["cases"]:
            raw = bytes.fromhex(case["hex"])
            assert b64u(raw) == case["b64u"]
            assert unb64u(case["b64u"]) == raw
        for text in v["reject"]:
            with pytest.raises(FormatError):
                unb64u(text)
    elif v["case"] == "canon":
        for case in v["cases"]:
            assert canon(case["header"]) == case["canon"]
        for header in v["reject"]:
            with pytest.raises(FormatError):
                canon(header)
    else:
        pytest.fail(f"no runner for {v['case']}")


def run_keys(v):
    if v["case"] == "derive":
        for case in v["cases"]:
            assert b64u(derive(unb64u(case["key"]), case["label"])) == case["derived"]
        for label in v["reject_labels"]:
            with pytest.raises(ValueError):
                derive(bytes(32), label)
    elif v["case"] == "kid":
        for case in v["cases"]:
            pair = KeyPair.from_seed(unb64u(case["seed"]))
            assert b64u(pair.public) == case["public_key"]
            assert b64u(pair.secret) == case["secret_key"]
            assert kid(pair.public) == pair.kid == case["kid"]
    elif v["case"] == "fingerprint":
        for case in v["cases"]:
            assert fingerprint(unb64u(case["public_key"])) == case["fingerprint"]
    else:
        pytest.fail(f"no runner for {v['case']}")


def run_receipt(v):
    if v["case"] == "damm":
        from stdnum import damm  # the library receipt.py uses; test_receipt checks the table

        for case in v["cases"]:
            assert damm.calc_check_digit(case["number"]) == case["check"]
            if len(case["number"]) == 27:  # a full code body: its check digit makes it parse
                code = case["number"] + case["check"]
                assert ReceiptCode.parse(code).digits == code
        return
    if v["case"].startswith("keys"):
        code = ReceiptCode.parse(v["code"])
        salt = unb64u(v["salt"])
        assert b64u(stretch(code.digits.encode("ascii"), salt, v["opslimit"], v["memlimit"])) == v["master"]
        keys = derive_reporter_keys(code, salt, v["opslimit"], v["memlimit"])
        assert b64u(keys.lookup) == v["lookup"]
        assert b64u(keys.verifier) == v["verifier"]
        assert b64u(keys.keypair.public) == v["public_key"]
        assert b64u(keys.keypair.secret) == v["secret_key"]
        assert keys.keypair.kid == v["kid"]
        return
    if v["expect"] == "ok":
        code = ReceiptCode.parse(v["input"])
        assert (code.digits, code.grouped(), code.locator) == (v["digits"], v["grouped"], v["locator"])
    else:
        with pytest.raises(ReceiptError) as caught:
            ReceiptCode.parse(v["input"])
        assert caught.value.reason == v["expect"]


def run_padding(v):
    function = {"padme": padme, "bucket": bucket}[v["case"]]
    for size, padded in v["cases"]:
        assert function(size) == padded, size


def open_outcome(envelope: dict, pair: KeyPair):
    """(failure class or "ok", opened result) of opening ``envelope`` with ``pair``."""
    try:
        body, key = open_envelope(envelope, pair)
    except FormatError as exc:
        return str(exc), None
    except CryptoError as exc:
        # One opaque error for every cause; the class only says whether we were listed.
        assert str(exc) == "decryption failed"
        return ("open_failed" if pair.kid in recipient_kids(envelope) else "no_recipient"), None
    return "ok", (body, key)


def run_envelope(v):
    if v["case"] == "reporter_key":
        for entry in v["rk"]:
            assert reporter_key_id(unb64u(entry["public_key"])) == entry["rk"]
        for check in v["checks"]:
            report = v["reports"][check["report"]]
            assert reporter_key_binding(report, unb64u(check["public_key"])) == check["binding"]
        return
    if v["case"] in ("body", "v2_body"):
        version = 2 if v["case"] == "v2_body" else 1
        publics = [unb64u(pk) for pk in v["recipient_public_keys"]]
        sealed = seal(
            v["kind"],
            v["header"],
            v["body"],
            publics,
            content_key=unb64u(v["content_key"]),
            nonce=unb64u(v["nonce"]),
            version=version,
        )
        envelope = sealed.envelope
        assert envelope["v"] == version
        if version == 2:
            assert v["header"]["rk"] == reporter_key_id(unb64u(v["reporter_public_key"]))
        assert list(envelope) == ["v", "kind", "header", "recipients", "nonce", "body"]
        assert envelope["body"] == v["ciphertext"]
        assert envelope["nonce"] == v["nonce"]
        assert [r["kid"] for r in envelope["recipients"]] == v["kids"]
        assert associated_data(v["kind"], v["header"], version).decode("ascii") == v["associated_data"]
        assert b64u(body_key(unb64u(v["content_key"]))) == v["body_key"]
        plaintext = unb64u(v["plaintext"])
        assert json.dumps(v["body"], ensure_ascii=False, separators=(",", ":")).encode() == plaintext
        assert bucket(len(plaintext)) == v["padded_size"]
        assert len(unb64u(envelope["body"])) == v["padded_size"] + 16
        return
    outcome, opened = open_outcome(v["envelope"], keypair(v["key"]))
    assert outcome == v["expect"]
    if v["expect"] == "ok":
        body, key = opened
        assert body == v["body"] and list(body) == list(v["body"])
        assert b64u(key) == v["content_key"]


def run_stream(v):
    key = unb64u(v["key"])
    assert attachment_key(unb64u(v["content_key"]), v["attachment_id"]) == key
    data = unb64u(v["ciphertext"])
    assert len(data) == v["ciphertext_size"]
    if v["expect"] == "ok":
        expected = pattern(v["size"])
        assert ciphertext_size(v["size"]) == len(data)
        assert b"".join(decrypt_stream(key, [data], v["size"])) == expected
        # Arbitrary piece boundaries must not matter to the reader.
        pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
        assert b"".join(decrypt_stream(key, pieces, v["size"])) == expected
        # Our own encryptor produces a stream of the same shape (its header is random).
        fresh = encrypt_bytes(key, expected)
        assert len(fresh) == len(data) and fresh[:24] != data[:24]
        assert b"".join(decrypt_stream(key, [fresh], v["size"])) == expected
    else:
        with pytest.raises(CryptoError):
            b"".join(decrypt_stream(key, [data], v["size"]))


def run_keyfile(v):
    if v["expect"] in ("bad_version", "bad_cost"):
        with pytest.raises(FormatError, match="out of range" if v["expect"] == "bad_cost" else None):
            unwrap(v["file"], v["passphrase"])
        return
    assert public_key_of(v["file"]) == unb64u(json.loads(v["file"])["public_key"])
    if v["expect"] == "ok":
        pair = unwrap(v["file"], v["passphrase"])
        assert pair == keypair(v) and pair.kid == v["kid"]
    else:
        assert v["expect"] == "open_failed"
        with pytest.raises(CryptoError):
            unwrap(v["file"], v["passphrase"])


RUNNERS = {
    "encoding": run_encoding,
    "keys": run_keys,
    "receipt": run_receipt,
    "padding": run_padding,
    "envelope": run_envelope,
    "stream": run_stream,
    "keyfile": run_keyfile,
}


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_vector(path):
    v = load(path)
    RUNNERS[v["area"]](v)
