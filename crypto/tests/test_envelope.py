"""The sealed envelope (FORMAT.md §3)."""

import copy
import json

import nacl.bindings as sodium
import pytest

from crypto.encoding import b64u, unb64u
from crypto.envelope import (
    BOUND,
    KINDS,
    MAX_RECIPIENTS,
    MISMATCH,
    UNBOUND,
    associated_data,
    bind_reporter_key,
    body_key,
    bucket,
    open_body,
    open_content_key,
    open_envelope,
    recipient_kids,
    reporter_key_binding,
    reporter_key_id,
    seal,
    validate,
)
from crypto.errors import CryptoError, FormatError
from crypto.keys import KeyPair, derive, kid, random_bytes

HEADER = {"department": "finance", "category": "conduct", "urgent": True, "rules_version": 2}
BODY = {"narrative": "报销造假 \u2028 😀", "attachments": [], "size": 12}
REPORTER = KeyPair.generate()


def header_of(kind: str) -> dict:
    """HEADER, with the reporter's key bound for a report (version 2)."""
    return bind_reporter_key(HEADER, REPORTER.public) if kind == "report" else HEADER


@pytest.fixture(scope="module")
def committee():
    return KeyPair.generate()


@pytest.fixture(scope="module")
def member():
    return KeyPair.generate()


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_for_every_kind_and_recipient(kind, committee, member):
    sealed = seal(kind, header_of(kind), BODY, [committee.public, member.public])
    wire = json.loads(json.dumps(sealed.envelope))  # what travels is JSON
    for pair in (committee, member):
        body, key = open_envelope(wire, pair)
        assert body == BODY and key == sealed.content_key
    assert recipient_kids(wire) == [committee.kid, member.kid]


def test_envelope_fields_and_sizes(committee):
    envelope = seal("report", header_of("report"), BODY, [committee.public]).envelope
    assert list(envelope) == ["v", "kind", "header", "recipients", "nonce", "body"]
    assert envelope["v"] == 2 and envelope["header"] == dict(HEADER, rk=reporter_key_id(REPORTER.public))
    assert len(unb64u(envelope["nonce"])) == 24
    assert len(unb64u(envelope["recipients"][0]["key"])) == 32 + sodium.crypto_box_SEALBYTES
    assert len(unb64u(envelope["body"])) == 1024 + 16


def test_padding_hides_the_length_within_a_bucket(committee):
    short = seal("message", {}, {"t": "x"}, [committee.public]).envelope
    longer = seal("message", {}, {"t": "x" * 900}, [committee.public]).envelope
    assert len(short["body"]) == len(longer["body"])
    larger = seal("message", {}, {"t": "x" * 1100}, [committee.public]).envelope
    assert len(unb64u(larger["body"])) == 2048 + 16


@pytest.mark.parametrize(
    "size,padded", [(0, 1024), (1023, 1024), (1024, 2048), (2047, 2048), (2048, 4096), (100_000, 131072)]
)
def test_bucket(size, padded):
    assert bucket(size) == padded


def test_fresh_key_and_nonce_every_time(committee):
    a = seal("report", header_of("report"), BODY, [committee.public])
    b = seal("report", header_of("report"), BODY, [committee.public])
    assert a.content_key != b.content_key
    assert a.envelope["nonce"] != b.envelope["nonce"] and a.envelope["body"] != b.envelope["body"]


def test_given_key_and_nonce_make_the_body_deterministic(committee, member):
    key, nonce = random_bytes(32), random_bytes(24)
    a = seal("report", header_of("report"), BODY, [committee.public], content_key=key, nonce=nonce)
    b = seal("report", header_of("report"), BODY, [member.public], content_key=key, nonce=nonce)
    assert a.envelope["body"] == b.envelope["body"]
    assert a.envelope["recipients"] != b.envelope["recipients"]


def test_duplicate_recipients_are_sealed_once(committee, member):
    envelope = seal("reply", {}, {}, [committee.public, member.public, committee.public]).envelope
    assert recipient_kids(envelope) == [committee.kid, member.kid]


def test_recipient_count_limits(committee):
    with pytest.raises(FormatError):
        seal("message", {}, {}, [])
    many = [KeyPair.generate().public for _ in range(MAX_RECIPIENTS + 1)]
    assert len(seal("message", {}, {}, many[:MAX_RECIPIENTS]).envelope["recipients"]) == MAX_RECIPIENTS
    with pytest.raises(FormatError):
        seal("message", {}, {}, many)


def test_seal_refuses_unknown_kind_and_non_canonical_header(committee):
    with pytest.raises(FormatError):
        seal("letter", {}, {}, [committee.public])
    with pytest.raises(FormatError):
        seal("message", {"name": "张三"}, {}, [committee.public])
    with pytest.raises(FormatError):
        seal("message", {"nested": {"a": 1}}, {}, [committee.public])


def test_associated_data_binds_kind_and_header():
    assert associated_data("report", {"b": 1, "a": "x"}) == b'whistle/v2/report\n{"a":"x","b":1}'
    assert associated_data("report", {"b": 1, "a": "x"}, 1) == b'whistle/v1/report\n{"a":"x","b":1}'


def test_sealed_repr_hides_the_content_key(committee):
    sealed = seal("message", {}, {}, [committee.public])
    assert repr(sealed.content_key) not in repr(sealed) and sealed.content_key.hex() not in repr(sealed)


def _sealed(committee, member):
    return seal("report", header_of("report"), BODY, [committee.public, member.public])


def _open_fails(envelope, pair):
    with pytest.raises(CryptoError) as caught:
        open_envelope(envelope, pair)
    assert str(caught.value) == "decryption failed"  # one message whatever the cause


def test_not_a_recipient(committee, member):
    _open_fails(_sealed(committee, member).envelope, KeyPair.generate())


def test_every_body_byte_is_authenticated(committee, member):
    envelope = _sealed(committee, member).envelope
    raw = unb64u(envelope["body"])
    for index in (0, 1, len(raw) // 2, len(raw) - 17, len(raw) - 1):
        tampered = copy.deepcopy(envelope)
        flipped = bytearray(raw)
        flipped[index] ^= 0x80
        tampered["body"] = b64u(bytes(flipped))
        _open_fails(tampered, committee)


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e["header"].update(department="hr"),
        lambda e: e["header"].update(urgent=False),
        lambda e: e["header"].pop("category"),
        lambda e: e.update(kind="reply"),
        lambda e: e.update(nonce=b64u(random_bytes(24))),
        lambda e: e["recipients"][0].update(key=e["recipients"][1]["key"]),
        lambda e: e["recipients"][0].update(key=b64u(random_bytes(80))),
    ],
)
def test_tampering_is_detected(change, committee, member):
    envelope = copy.deepcopy(_sealed(committee, member).envelope)
    change(envelope)
    _open_fails(envelope, committee)


def test_a_sealed_key_of_the_wrong_length_is_refused(committee):
    envelope = seal("message", {}, {}, [committee.public]).envelope
    envelope["recipients"][0]["key"] = b64u(sodium.crypto_box_seal(bytes(31), committee.public))
    with pytest.raises(FormatError):
        open_envelope(envelope, committee)


def test_open_content_key_then_body(committee, member):
    sealed = _sealed(committee, member)
    key = open_content_key(sealed.envelope, member)
    assert key == sealed.content_key
    assert open_body(sealed.envelope, key) == BODY
    with pytest.raises(CryptoError):
        open_body(sealed.envelope, random_bytes(32))


def _raw(committee, plain: bytes) -> dict:
    """An envelope with a correctly encrypted but chosen padded plaintext."""
    key, nonce = random_bytes(32), random_bytes(24)
    body = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plain, associated_data("message", {}, 1), nonce, body_key(key)
    )
    return {
        "v": 1,
        "kind": "message",
        "header": {},
        "recipients": [{"kid": committee.kid, "key": b64u(sodium.crypto_box_seal(key, committee.public))}],
        "nonce": b64u(nonce),
        "body": b64u(body),
    }


@pytest.mark.parametrize(
    "plain",
    [
        bytes(1024),  # no pad marker
        sodium.sodium_pad(b'{"a":1}', 1024)[:-1] + b"\x01",  # garbage after the marker
        sodium.sodium_pad(b"[]", 1024),  # JSON, not an object
        sodium.sodium_pad(b"null", 1024),
        sodium.sodium_pad(b'{"a":Infinity}', 1024),  # not JSON
        sodium.sodium_pad(b'{"a":-NaN}', 1024),
        sodium.sodium_pad(b'\xef\xbb\xbf{"a":1}', 1024),  # byte order mark
        sodium.sodium_pad(b'{"a":"\xc3"}', 1024),  # invalid UTF-8
        sodium.sodium_pad(b'{"a":1}', 1024) + bytes(100),  # not a bucket size
    ],
)
def test_malformed_bodies_fail_like_any_other_opening(plain, committee):
    _open_fails(_raw(committee, plain), committee)


def test_a_well_formed_raw_body_opens(committee):
    assert open_envelope(_raw(committee, sodium.sodium_pad(b'{"a":1}', 1024)), committee)[0] == {"a": 1}


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda e: e.update(v=3), "bad_version"),
        (lambda e: e.update(v=True), "bad_version"),
        (lambda e: e.update(v="1"), "bad_version"),
        (lambda e: e.pop("v"), "bad_version"),
        (lambda e: e.pop("nonce"), "fields"),
        (lambda e: e.update(extra=1), "fields"),
        (lambda e: e.update(kind="letter"), "kind"),
        (lambda e: e["header"].update(name="张三"), "ASCII"),
        (lambda e: e.update(recipients=[]), "recipients"),
        (lambda e: e.update(recipients={}), "recipients"),
        (lambda e: e["recipients"].append(dict(e["recipients"][0])), "kid"),
        (lambda e: e["recipients"][0].update(kid="AAAA"), "kid"),
        (lambda e: e["recipients"][0].update(extra=1), "recipient"),
        (lambda e: e["recipients"][0].update(key="AA="), "base64"),
        (lambda e: e.update(nonce=b64u(bytes(12))), "nonce"),
        (lambda e: e.update(body=b64u(bytes(1039))), "short"),
    ],
)
def test_validate_refuses_malformed_envelopes(change, message, committee):
    envelope = copy.deepcopy(seal("report", header_of("report"), BODY, [committee.public]).envelope)
    change(envelope)
    with pytest.raises(FormatError, match=message):
        validate(envelope)
    with pytest.raises(FormatError):
        open_envelope(envelope, committee)


@pytest.mark.parametrize("value", [None, [], "envelope"])
def test_validate_refuses_non_objects(value):
    with pytest.raises(FormatError):
        validate(value)


# --- version 2: the reporter's key bound to the report --------------------------------------


def test_reporter_key_id_is_a_domain_separated_hash_of_the_key():
    rk = reporter_key_id(REPORTER.public)
    assert rk == b64u(derive(REPORTER.public, "whistle/v1/reporter-key", 16))
    assert len(rk) == 22 and rk != kid(REPORTER.public)
    assert reporter_key_id(KeyPair.generate().public) != rk
    with pytest.raises(FormatError):
        reporter_key_id(REPORTER.public[:31])


def test_a_version_2_report_binds_the_reporter_key(committee):
    envelope = seal("report", bind_reporter_key(HEADER, REPORTER.public), BODY, [committee.public]).envelope
    assert envelope["v"] == 2 and envelope["header"]["rk"] == reporter_key_id(REPORTER.public)
    assert open_envelope(envelope, committee)[0] == BODY
    assert reporter_key_binding(envelope, REPORTER.public) == BOUND
    assert reporter_key_binding(envelope, KeyPair.generate().public) == MISMATCH


def test_a_version_2_report_without_a_reporter_key_is_refused(committee):
    with pytest.raises(FormatError, match="bad_reporter_key"):
        seal("report", HEADER, BODY, [committee.public])
    envelope = seal("report", bind_reporter_key(HEADER, REPORTER.public), BODY, [committee.public]).envelope
    for bad in (None, "short", 5, b64u(bytes(17))):
        changed = copy.deepcopy(envelope)
        if bad is None:
            del changed["header"]["rk"]
        else:
            changed["header"]["rk"] = bad
        with pytest.raises(FormatError):
            validate(changed)


def test_the_bound_key_cannot_be_changed_and_the_version_cannot_be_relabelled(committee):
    envelope = seal("report", bind_reporter_key(HEADER, REPORTER.public), BODY, [committee.public]).envelope
    swapped = copy.deepcopy(envelope)
    swapped["header"]["rk"] = reporter_key_id(KeyPair.generate().public)
    with pytest.raises(CryptoError):
        open_envelope(swapped, committee)
    downgraded = copy.deepcopy(envelope)
    downgraded["v"] = 1
    del downgraded["header"]["rk"]
    with pytest.raises(CryptoError):
        open_envelope(downgraded, committee)
    relabelled = copy.deepcopy(envelope)
    relabelled["v"] = 1  # rk kept: a version 1 reader would call it unbound, but it does not open
    with pytest.raises(CryptoError):
        open_envelope(relabelled, committee)
    assert associated_data("report", {}, 2).startswith(b"whistle/v2/report\n")


def test_version_1_envelopes_still_open_and_a_version_1_report_is_unbound(committee):
    old = seal("report", HEADER, BODY, [committee.public], version=1).envelope
    assert old["v"] == 1 and "rk" not in old["header"]
    assert open_envelope(old, committee)[0] == BODY
    assert reporter_key_binding(old, REPORTER.public) == UNBOUND
    reply = seal("reply", {"case": "x"}, BODY, [committee.public]).envelope
    with pytest.raises(FormatError):
        reporter_key_binding(reply, REPORTER.public)  # only a report binds a key
    with pytest.raises(FormatError):
        seal("reply", {}, BODY, [committee.public], version=3)
