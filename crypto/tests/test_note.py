"""Signed notes, checkpoints and cosignatures: vectors, the formulas written out, round trips."""

import hashlib
import json

import nacl.signing
import pytest

from crypto import note
from crypto.errors import FormatError, VerifyError
from crypto.vectors.generate_tlog import VECTOR_DIR


def load(name: str) -> dict:
    return json.loads((VECTOR_DIR / f"{name}.json").read_text(encoding="ascii"))


def key(seed_hex: str) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes.fromhex(seed_hex))


def test_go_reference_note():
    v = load("note_go_reference")
    signing = key(v["seed"])
    assert note.sign_note(v["text"], v["name"], signing) == v["note"]
    assert note.verifier_of(v["name"], signing).vkey() == v["vkey"]
    opened = note.open_note(v["note"], [note.parse_vkey(v["vkey"])])
    assert opened.text == v["text"] and len(opened.verified) == 1
    assert note.parse_note(v["note"]).encode() == v["note"]
    with pytest.raises(VerifyError):
        note.open_note(v["note"].replace("cryptography", "cryptographY"), [note.parse_vkey(v["vkey"])])


def test_vkeys():
    v = load("note_vkeys")
    for case in v["cases"]:
        verifier = note.parse_vkey(case["vkey"])
        assert (verifier.name, verifier.key_type, verifier.public_key.hex()) == (
            case["name"],
            case["type"],
            case["public_key"],
        )
        # The key ID formula of signed-note, written out.
        expected = hashlib.sha256(
            case["name"].encode() + b"\n" + bytes([case["type"]]) + bytes.fromhex(case["public_key"])
        ).digest()[:4]
        assert verifier.key_id == expected == bytes.fromhex(case["key_id"])
        assert verifier.vkey() == case["vkey"]
    for text in v["reject"]:
        with pytest.raises(FormatError):
            note.parse_vkey(text)


def test_signed_checkpoint():
    v = load("note_checkpoint")
    checkpoint = note.Checkpoint(v["origin"], v["size"], bytes.fromhex(v["root"]))
    assert checkpoint.body() == v["body"] == f"{v['origin']}\n{v['size']}\n{note.b64(bytes.fromhex(v['root']))}\n"
    assert note.sign_checkpoint(checkpoint, key(v["log_seed"])) == v["note"]
    assert note.verifier_of(v["origin"], key(v["log_seed"])).vkey() == v["log_vkey"]
    opened = note.open_checkpoint(v["note"], note.parse_vkey(v["log_vkey"]))
    assert opened.checkpoint == checkpoint and opened.cosignatures == {}


def test_empty_tree_checkpoint_with_extension():
    v = load("note_checkpoint_empty_tree")
    opened = note.open_checkpoint(v["note"], note.parse_vkey(v["log_vkey"]))
    assert opened.checkpoint == note.Checkpoint(v["origin"], 0, bytes.fromhex(v["root"]), tuple(v["extensions"]))
    assert opened.checkpoint.body() == v["body"]


def test_cosignatures():
    v = load("note_cosignature")
    log = note.parse_vkey(v["log_vkey"])
    cosigners = [note.parse_vkey(text) for text in v["cosigner_vkeys"]]
    opened = note.open_checkpoint(v["note"], log, cosigners, quorum=v["quorum"])
    assert opened.cosignatures == {c.name: t for c, t in zip(cosigners, v["timestamps"])}
    assert len(opened.note.signatures) == 4  # one line from a key nobody configured
    # The message and the signature bytes of tlog-cosignature, written out.
    first = key(v["cosigner_seeds"][0])
    assert v["message"] == f"cosignature/v1\ntime {v['timestamps'][0]}\n" + v["body"]
    raw = note.unb64(v["signature_line"].split(" ")[2].strip())
    assert raw[:4] == cosigners[0].key_id
    assert raw[4:12] == v["timestamps"][0].to_bytes(8, "big")
    assert raw[12:] == first.sign(v["message"].encode()).signature
    assert note.cosign(v["body"], cosigners[0].name, first, v["timestamps"][0]).line() == v["signature_line"]
    with pytest.raises(VerifyError):
        note.open_checkpoint(v["note"], log, cosigners, quorum=3)


def test_malformed_checkpoints():
    for case in load("note_checkpoint_malformed")["cases"]:
        with pytest.raises(FormatError):
            note.parse_checkpoint(case["body"])


def test_rejected_notes():
    v = load("note_rejected")
    log = note.parse_vkey(v["log_vkey"])
    cosigners = [note.parse_vkey(text) for text in v["cosigner_vkeys"]]
    assert {c["expect"] for c in v["cases"]} == {"format_error", "verify_failed"}
    for case in v["cases"]:
        data = note.unb64(case["note_base64"]) if "note_base64" in case else case["note"]
        error = VerifyError if case["expect"] == "verify_failed" else FormatError
        with pytest.raises(error):
            note.open_checkpoint(data, log, cosigners, quorum=v["quorum"])


def test_round_trip_with_fresh_keys_and_unknown_lines_ignored():
    log_key, witness_key = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    log = note.verifier_of("log.example/a", log_key)
    witness = note.verifier_of("w.example/1", witness_key, note.COSIGNATURE_V1)
    body = note.Checkpoint("log.example/a", 2**63 - 1, bytes(32)).body()
    lines = [
        note.sign(body, log.name, log_key),
        note.cosign(body, witness.name, witness_key, note.MAX_TIMESTAMP),
        note.Signature("unknown.example", b"\x00\x01\x02\x03", b"anything"),
    ]
    text = note.format_note(body, lines)
    opened = note.open_checkpoint(text, log, [witness], quorum=1)
    assert opened.cosignatures == {witness.name: note.MAX_TIMESTAMP}
    # The same key as a plain note key has another key ID: its line is not a cosignature.
    plain = note.verifier_of(witness.name, witness_key)
    assert plain.key_id != witness.key_id
    with pytest.raises(VerifyError):
        note.open_note(note.format_note(body, lines[2:]), [log, witness])  # no known key
    with pytest.raises(FormatError):
        note.open_checkpoint(text, witness, [log])  # key types swapped
    with pytest.raises(FormatError):
        note.cosign(body, witness.name, witness_key, 2**63)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\u2003b", "tab\there", "a\x01"])
def test_bad_key_names(name):
    with pytest.raises(FormatError):
        note.key_id(name, note.ED25519, bytes(32))


def test_unicode_names_are_fine():
    signing = nacl.signing.SigningKey(bytes(range(32)))
    verifier = note.verifier_of("委员会.example/日志", signing)
    assert note.parse_vkey(verifier.vkey()) == verifier
    text = "第一行\n第二行\n"
    assert note.open_note(note.sign_note(text, verifier.name, signing), [verifier]).text == text


def test_lone_surrogate_is_a_format_error():
    with pytest.raises(FormatError):
        note.parse_note("text \ud800\n\n\u2014 a AAAAAAA=\n")
