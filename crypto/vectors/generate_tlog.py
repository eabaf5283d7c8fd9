"""Write the vectors of docs/transparency-log.md into crypto/vectors/tlog/.

Run ``python -m crypto.vectors.generate_tlog`` from the project root. Like
``crypto.vectors.generate``, the output is reproducible (Ed25519 is deterministic and every
key comes from a fixed seed), one file per scenario named ``<area>_<case>.json``, and the
tests check that the files on disk are what this writes.

Conventions: hashes are lowercase hex in the tree vectors; notes, keys and checkpoints are
the exact text of their format. Each case of a rejection file carries its own ``expect``:
``format_error`` (not well formed: FormatError) or ``verify_failed`` (well formed, does not
verify: VerifyError).
"""

import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import nacl.signing

from crypto import note, tlog
from crypto.errors import FormatError, VerifyError
from crypto.vectors.generate import fixed, write

VECTOR_DIR = Path(__file__).resolve().parent / "tlog"
EXPECT = ("ok", "format_error", "verify_failed")

# The leaves of Certificate Transparency's reference tree (RFC 6962 implementations'
# shared test data) and the hashes those implementations publish for it: an anchor no
# code of ours produced.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
_P = {  # the published proof hashes, by their first four hex digits
    "96a2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f08": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca85": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37e": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "fac5": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6e34": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "0ebc": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b086": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}
CT_INCLUSION = [
    (0, 8, ["96a2", "5f08", "6b47"]),
    (5, 8, ["bc1a", "ca85", "d37e"]),
    (2, 3, ["fac5"]),
    (1, 5, ["6e34", "5f08", "bc1a"]),
]
CT_CONSISTENCY = [
    (1, 8, ["96a2", "5f08", "6b47"]),
    (6, 8, ["0ebc", "ca85", "d37e"]),
    (2, 5, ["5f08", "bc1a"]),
    (6, 7, ["0ebc", "b086", "d37e"]),
]

# golang.org/x/mod/sumdb/note's documented example: the seed of its private key
# "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALV..." and the note Go writes with it.
GO_SEED = "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# A type-0x04 vkey published by transparency-dev/formats' tests (a real witness's key).
OUTSIDE_COSIGNER_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"

ORIGIN = "example.org/whistle-log"
LOG_KEY = nacl.signing.SigningKey(fixed("tlog/log-seed"))
OTHER_LOG_KEY = nacl.signing.SigningKey(fixed("tlog/other-log-seed"))
COSIGNERS = [
    ("witness.example.org/w1", nacl.signing.SigningKey(fixed("tlog/witness-1"))),
    ("oversight.example.org/audit", nacl.signing.SigningKey(fixed("tlog/witness-2"))),
]
STRANGER = ("stranger.example.net/w", nacl.signing.SigningKey(fixed("tlog/stranger")))
TIMESTAMPS = [1767225600, 1767229200]
ENTRY_RULE = "entry i is the 3 bytes [i & 255, i >> 8, 0x2a]"
GENERATED_SIZE = 21

AREA_ABOUT = {
    "tlog": "docs/transparency-log.md §2-3: leaf_hash = SHA-256(0x00 || entry), node_hash = "
    "SHA-256(0x01 || left || right), RFC 6962 trees, RFC 9162 inclusion and "
    "consistency proofs. Hashes are lowercase hex.",
    "note": "docs/transparency-log.md §4-6: C2SP signed notes (key ID = SHA-256(name || 0x0A "
    "|| type || key)[:4]; vkey = name+hex ID+base64(type || key)), tlog-checkpoint "
    "bodies and cosignature/v1 (message 'cosignature/v1\\ntime T\\n' + body; "
    "signature = T as 8 bytes big-endian || Ed25519). Keys come from 32-byte seeds "
    "given in hex.",
}


def vector(area: str, case: str, expect: str, about: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    """One scenario: file stem and content, the shared header fields first."""
    assert expect in EXPECT, expect
    return f"{area}_{case}", {
        "about": f"{AREA_ABOUT[area]} This case: {about}",
        "area": area,
        "case": case,
        "expect": expect,
        **fields,
    }


def outcome(check: Callable[[], object]) -> str:
    """The class of what ``check`` does: ok, format_error or verify_failed."""
    try:
        check()
    except VerifyError:
        return "verify_failed"
    except FormatError:
        return "format_error"
    return "ok"


def entry(i: int) -> bytes:
    """The entries of the generated trees (``ENTRY_RULE``)."""
    return bytes([i & 255, i >> 8, 0x2A])


def _hexes(items: list[bytes]) -> list[str]:
    return [item.hex() for item in items]


# --- tree vectors ---------------------------------------------------------------------------


def _store(entries: list[bytes]) -> tlog.MemoryStore:
    store = tlog.MemoryStore()
    for size, data in enumerate(entries):
        tlog.append_leaf(store, size, tlog.leaf_hash(data))
    return store


def tlog_vectors() -> Iterator[tuple[str, dict[str, Any]]]:
    ct = [bytes.fromhex(h) for h in CT_LEAVES]
    store = _store(ct)
    assert [tlog.root_hash(store, n).hex() for n in range(9)] == CT_ROOTS
    inclusion: list[dict[str, Any]] = [
        {"index": i, "size": n, "leaf_hash": tlog.leaf_hash(ct[i]).hex(), "proof": [_P[p] for p in proof]}
        for i, n, proof in CT_INCLUSION
    ]
    consistency: list[dict[str, Any]] = [
        {"from": m, "to": n, "proof": [_P[p] for p in proof]} for m, n, proof in CT_CONSISTENCY
    ]
    for case in inclusion:
        assert _hexes(tlog.inclusion_proof(store, case["index"], case["size"])) == case["proof"]
    for case in consistency:
        assert _hexes(tlog.consistency_proof(store, case["from"], case["to"])) == case["proof"]
    yield vector(
        "tlog",
        "ct_reference",
        "ok",
        "Certificate Transparency's reference tree of 8 leaves: roots of sizes 0-8 "
        "(index = size), the published inclusion and consistency proofs.",
        leaves=CT_LEAVES,
        roots=CT_ROOTS,
        inclusion=inclusion,
        consistency=consistency,
    )

    entries = [entry(i) for i in range(GENERATED_SIZE)]
    store = _store(entries)
    roots = [tlog.root_hash(store, n) for n in range(GENERATED_SIZE + 1)]
    yield vector(
        "tlog",
        "roots",
        "ok",
        f"{ENTRY_RULE}; leaf hashes of entries 0-{GENERATED_SIZE - 1} and the root of "
        f"every size 0-{GENERATED_SIZE} (index = size).",
        entry_rule=ENTRY_RULE,
        entries=_hexes(entries),
        leaf_hashes=_hexes([tlog.leaf_hash(e) for e in entries]),
        roots=_hexes(roots),
    )
    yield vector(
        "tlog",
        "inclusion",
        "ok",
        f"the inclusion proof of every leaf in every tree of the roots vector "
        f"(sizes 1-{GENERATED_SIZE}); each verifies against that size's root.",
        cases=[
            {"index": i, "size": n, "proof": _hexes(tlog.inclusion_proof(store, i, n))}
            for n in range(1, GENERATED_SIZE + 1)
            for i in range(n)
        ],
    )
    yield vector(
        "tlog",
        "consistency",
        "ok",
        f"the consistency proof between every two sizes 0 <= from <= to <= "
        f"{GENERATED_SIZE} of the roots vector's tree.",
        cases=[
            {"from": m, "to": n, "proof": _hexes(tlog.consistency_proof(store, m, n))}
            for n in range(GENERATED_SIZE + 1)
            for m in range(n + 1)
        ],
    )
    yield from _bad_proofs(entries, store, roots)


def _flip(digest: str) -> str:
    return f"{int(digest[:2], 16) ^ 8:02x}" + digest[2:]


Change = tuple[str, dict[str, Any]]


def _corrupted(
    good: dict[str, Any], variants: list[Change], check: Callable[[dict[str, Any]], object]
) -> list[dict[str, Any]]:
    """Each variant of a good proof, plus one bit flipped in each hash and the last removed.

    A variant that still verifies is left out: a size with the same path shape proves
    the same thing, so it is not a bad proof.
    """
    proof = good["proof"]
    variants = list(variants)
    for k in range(len(proof)):
        variants.append((f"bit flipped in proof[{k}]", {"proof": proof[:k] + [_flip(proof[k])] + proof[k + 1 :]}))
    if proof:
        variants.append(("last hash removed", {"proof": proof[:-1]}))
    cases = []
    for why, change in variants:
        case = dict(good, **change)
        if case == good or any(isinstance(x, int) and x < 0 for x in case.values()):
            continue
        result = outcome(lambda c=case: check(c))  # type: ignore[misc]
        if result != "ok":
            cases.append({"why": why, "expect": result, **case})
    return cases


def _check_inclusion(c: dict[str, Any]) -> None:
    tlog.verify_inclusion(
        bytes.fromhex(c["leaf_hash"]),
        c["index"],
        c["size"],
        [bytes.fromhex(p) for p in c["proof"]],
        bytes.fromhex(c["root"]),
    )


def _check_consistency(c: dict[str, Any]) -> None:
    tlog.verify_consistency(
        c["from"],
        c["to"],
        [bytes.fromhex(p) for p in c["proof"]],
        bytes.fromhex(c["from_root"]),
        bytes.fromhex(c["to_root"]),
    )


def _bad_proofs(
    entries: list[bytes], store: tlog.MemoryStore, roots: list[bytes]
) -> Iterator[tuple[str, dict[str, Any]]]:
    some = "ab" * 32
    cases = []
    for i, n in [(0, 1), (0, 8), (5, 8), (6, 7), (12, 13), (16, 21), (20, 21)]:
        good: dict[str, Any] = {
            "leaf_hash": tlog.leaf_hash(entries[i]).hex(),
            "index": i,
            "size": n,
            "proof": _hexes(tlog.inclusion_proof(store, i, n)),
            "root": roots[n].hex(),
        }
        cases += _corrupted(
            good,
            [
                ("index - 1", {"index": i - 1}),
                ("index + 1", {"index": i + 1}),
                ("index ^ 2", {"index": i ^ 2}),
                ("size * 2", {"size": n * 2}),
                ("size // 2", {"size": n // 2}),
                ("size + 1", {"size": n + 1}),
                ("wrong leaf", {"leaf_hash": some}),
                ("empty-tree root", {"root": roots[0].hex()}),
                ("other root", {"root": some}),
                ("trailing root", {"proof": good["proof"] + [good["root"]]}),
                ("preceding root", {"proof": [good["root"]] + good["proof"]}),
                ("short leaf hash", {"leaf_hash": good["leaf_hash"][:62]}),
                ("proof hash of 33 bytes", {"proof": good["proof"] + ["00" * 33]}),
            ],
            _check_inclusion,
        )
    yield vector(
        "tlog",
        "inclusion_invalid",
        "verify_failed",
        "valid inclusion proofs of the roots vector's tree, each changed one way; "
        "every case must be refused with its expect class.",
        cases=cases,
    )

    cases = []
    for m, n in [(1, 2), (1, 8), (2, 5), (4, 8), (6, 8), (7, 21), (16, 21), (5, 5), (0, 3)]:
        good = {
            "from": m,
            "to": n,
            "proof": _hexes(tlog.consistency_proof(store, m, n)),
            "from_root": roots[m].hex(),
            "to_root": roots[n].hex(),
        }
        cases += _corrupted(
            good,
            [
                ("from - 1", {"from": m - 1}),
                ("from + 1", {"from": m + 1}),
                ("from ^ 2", {"from": m ^ 2}),
                ("to * 2", {"to": n * 2}),
                ("to // 2", {"to": n // 2}),
                ("other from_root", {"from_root": some}),
                ("other to_root", {"to_root": some}),
                ("swapped roots", {"from_root": good["to_root"], "to_root": good["from_root"]}),
                ("empty proof", {"proof": []}),
                ("trailing from_root", {"proof": good["proof"] + [good["from_root"]]}),
                ("preceding to_root", {"proof": [good["to_root"]] + good["proof"]}),
                ("from greater than to", {"from": n + 1, "to": n}),
                ("short root", {"to_root": good["to_root"][:62]}),
            ],
            _check_consistency,
        )
    yield vector(
        "tlog",
        "consistency_invalid",
        "verify_failed",
        "valid consistency proofs of the roots vector's tree (and the trivial ones "
        "5 -> 5, 0 -> 3), each changed one way; every case must be refused with "
        "its expect class.",
        cases=cases,
    )


# --- note vectors ---------------------------------------------------------------------------


def _seed(key: nacl.signing.SigningKey) -> str:
    return bytes(key).hex()


def note_vectors() -> Iterator[tuple[str, dict[str, Any]]]:
    go_key = nacl.signing.SigningKey(bytes.fromhex(GO_SEED))
    assert note.sign_note(GO_TEXT, "PeterNeumann", go_key) == GO_NOTE
    assert note.verifier_of("PeterNeumann", go_key).vkey() == GO_VKEY
    yield vector(
        "note",
        "go_reference",
        "ok",
        "the signed note documented by golang.org/x/mod/sumdb/note, reproduced "
        "byte for byte from its key's seed (Ed25519 is deterministic).",
        name="PeterNeumann",
        seed=GO_SEED,
        vkey=GO_VKEY,
        text=GO_TEXT,
        note=GO_NOTE,
    )

    yield vector(
        "note",
        "vkeys",
        "ok",
        "each vkey parses to its name, type, key ID and public key and encodes "
        "back to itself; every string in reject must be refused (FormatError).",
        cases=[_vkey_case(v) for v in _good_vkeys()],
        reject=_bad_vkeys(),
    )

    yield from _checkpoint_vectors()
    yield from _rejected_notes()


def _vkey_case(vkey: str) -> dict[str, Any]:
    verifier = note.parse_vkey(vkey)
    return {
        "vkey": vkey,
        "name": verifier.name,
        "type": verifier.key_type,
        "key_id": verifier.key_id.hex(),
        "public_key": verifier.public_key.hex(),
    }


def _good_vkeys() -> list[str]:
    keys = [
        GO_VKEY,
        OUTSIDE_COSIGNER_VKEY,
        note.verifier_of(ORIGIN, LOG_KEY).vkey(),
        note.verifier_of("名字.example/日志", LOG_KEY).vkey(),
    ]
    keys += [note.verifier_of(name, key, note.COSIGNATURE_V1).vkey() for name, key in COSIGNERS]
    return keys


def _bad_vkeys() -> list[str]:
    name, hash_, key = GO_VKEY.split("+", 2)
    raw = note.unb64(key)
    reject = [
        f"{name}+00000000+{key}",  # key ID does not match
        f"{name}+{hash_.upper()}+{key}",  # key IDs are lowercase
        f"{name}+{hash_[:7]}+{key}",
        f"{name}+{hash_}",
        f"{name}+{hash_}+{key[:-1]}",  # not canonical base64
        f"{name}+{hash_}+{key}=",
        f"{name}+{hash_}+" + note.b64(b"\x02" + raw[1:]),  # ECDSA type is not supported
        f"{name}+{hash_}+" + note.b64(raw[:-1]),  # 31-byte key
        f"+{hash_}+{key}",  # empty name
        f"Peter Neumann+{hash_}+{key}",
        f"{name}\u3000+{hash_}+{key}",  # ideographic space in the name
        f"{name}+{hash_}+{key.replace('/', '_')}",  # URL-safe alphabet
        f"{name}+{hash_}+ {key}",
        "",
    ]
    for text in reject:
        assert outcome(lambda t=text: note.parse_vkey(t)) == "format_error", text  # type: ignore[misc]
    return reject


def _cosigned(
    body: str,
    cosigners: list[tuple[str, nacl.signing.SigningKey]],
    log_key: nacl.signing.SigningKey = LOG_KEY,
    name: str = ORIGIN,
) -> str:
    signatures = [note.sign(body, name, log_key)]
    signatures += [note.cosign(body, cname, ckey, TIMESTAMPS[i % 2]) for i, (cname, ckey) in enumerate(cosigners)]
    return note.format_note(body, signatures)


def _checkpoint_vectors() -> Iterator[tuple[str, dict[str, Any]]]:
    root = bytes.fromhex(CT_ROOTS[8])
    checkpoint = note.Checkpoint(ORIGIN, 8, root)
    body = checkpoint.body()
    signed = note.sign_checkpoint(checkpoint, LOG_KEY)
    log_vkey = note.verifier_of(ORIGIN, LOG_KEY).vkey()
    cosigner_vkeys = [note.verifier_of(n, k, note.COSIGNATURE_V1).vkey() for n, k in COSIGNERS]
    yield vector(
        "note",
        "checkpoint",
        "ok",
        "the checkpoint of the CT reference tree (size 8) signed by the log: body, "
        "signed note, and the log's seed and vkey.",
        origin=ORIGIN,
        size=8,
        root=CT_ROOTS[8],
        body=body,
        log_seed=_seed(LOG_KEY),
        log_vkey=log_vkey,
        note=signed,
    )

    full = _cosigned(body, [*COSIGNERS, STRANGER])
    opened = note.open_checkpoint(
        full, note.parse_vkey(log_vkey), [note.parse_vkey(v) for v in cosigner_vkeys], quorum=2
    )
    assert opened.cosignatures == {COSIGNERS[0][0]: TIMESTAMPS[0], COSIGNERS[1][0]: TIMESTAMPS[1]}
    cosigner = COSIGNERS[0]
    yield vector(
        "note",
        "cosignature",
        "ok",
        "the same checkpoint with the log's signature and three cosignatures; the "
        "first two come from the cosigner vkeys given (each states its timestamp), "
        "the third from a key the verifier does not know (ignored). message is "
        "exactly what the first cosigner signed.",
        body=body,
        log_vkey=log_vkey,
        cosigner_vkeys=cosigner_vkeys,
        cosigner_seeds=[_seed(k) for _, k in COSIGNERS],
        timestamps=TIMESTAMPS,
        message=note.cosigned_message(body, TIMESTAMPS[0]).decode("utf-8"),
        signature_line=note.cosign(body, cosigner[0], cosigner[1], TIMESTAMPS[0]).line(),
        note=full,
        quorum=2,
    )

    with_extension = note.Checkpoint(ORIGIN, 0, tlog.EMPTY_ROOT, ("whistle extension line",))
    yield vector(
        "note",
        "checkpoint_empty_tree",
        "ok",
        "the empty tree's checkpoint (size 0, root SHA-256('')) with one extension line, signed by the log.",
        origin=ORIGIN,
        size=0,
        root=tlog.EMPTY_ROOT.hex(),
        extensions=list(with_extension.extensions),
        body=with_extension.body(),
        log_vkey=log_vkey,
        note=note.sign_checkpoint(with_extension, LOG_KEY),
    )

    good_root = note.b64(root)
    bodies = [
        ("no final newline", body[:-1]),
        ("two lines", f"{ORIGIN}\n8\n"),
        ("leading zero", f"{ORIGIN}\n08\n{good_root}\n"),
        ("negative size", f"{ORIGIN}\n-1\n{good_root}\n"),
        ("size 2^63", f"{ORIGIN}\n{2**63}\n{good_root}\n"),
        ("plus sign", f"{ORIGIN}\n+8\n{good_root}\n"),
        ("empty origin", f"\n8\n{good_root}\n"),
        ("root of 31 bytes", f"{ORIGIN}\n8\n{note.b64(root[:31])}\n"),
        ("root without padding", f"{ORIGIN}\n8\n{good_root.rstrip('=')}\n"),
        ("root in hex", f"{ORIGIN}\n8\n{CT_ROOTS[8]}\n"),
        ("empty extension line", f"{body}\n"),
        ("carriage return", body.replace("\n", "\r\n")),
        ("full-width digit", f"{ORIGIN}\n\uff18\n{good_root}\n"),
        ("space after size", f"{ORIGIN}\n8 \n{good_root}\n"),
    ]
    cases: list[dict[str, Any]] = []
    for why, text in bodies:
        assert outcome(lambda t=text: note.parse_checkpoint(t)) == "format_error", why  # type: ignore[misc]
        cases.append({"why": why, "body": text})
    yield vector(
        "note",
        "checkpoint_malformed",
        "format_error",
        "checkpoint bodies that are not exactly the format; each must be refused.",
        cases=cases,
    )


def _rejected_notes() -> Iterator[tuple[str, dict[str, Any]]]:
    body = note.Checkpoint(ORIGIN, 8, bytes.fromhex(CT_ROOTS[8])).body()
    log = note.verifier_of(ORIGIN, LOG_KEY)
    cosigners = [note.verifier_of(n, k, note.COSIGNATURE_V1) for n, k in COSIGNERS]
    signed = _cosigned(body, COSIGNERS)
    log_line = note.sign(body, ORIGIN, LOG_KEY).line()
    cosig = note.cosign(body, *COSIGNERS[0], TIMESTAMPS[0])
    later = note.cosign(body, *COSIGNERS[0], TIMESTAMPS[0] + 1)
    forged_time = note.Signature(cosig.name, cosig.key_id, later.signature[:8] + cosig.signature[8:])
    other_body = note.Checkpoint(ORIGIN, 7, bytes.fromhex(CT_ROOTS[7])).body()
    raw_line = log_line.split(" ")
    sig_bytes = note.unb64(raw_line[2].strip())
    notes = [
        ("no final newline", signed[:-1]),
        ("no blank line", body + log_line),
        ("hyphen instead of em dash", signed.replace("\u2014", "-", 1)),
        ("two spaces after the dash", signed.replace("\u2014 ", "\u2014  ", 1)),
        ("space at the end of a signature line", signed[:-1] + " \n"),
        ("signature of 4 bytes", f"{body}\n\u2014 {ORIGIN} {note.b64(sig_bytes[:4])}\n"),
        ("unpadded base64", f"{body}\n{raw_line[0]} {raw_line[1]} {raw_line[2].strip().rstrip('=')}\n"),
        ("duplicate line", f"{body}\n{log_line}{log_line}"),
        ("tab in the text", body.replace("\n", "\t\n", 1) + "\n" + log_line),
        ("carriage return", signed.replace("\n", "\r\n")),
        ("no signature line", body + "\n"),
        ("name with a plus", signed.replace(f"\u2014 {ORIGIN}", f"\u2014 {ORIGIN}+x", 1)),
        (
            "101 signature lines",
            body + "\n" + "".join(note.Signature(f"n{i}", b"abcd", b"x").line() for i in range(101)),
        ),
    ]
    cases = [{"why": why, "expect": "format_error", "note": text} for why, text in notes]
    cases.append(
        {
            "why": "invalid UTF-8",
            "expect": "format_error",
            "note_base64": note.b64(signed.encode("utf-8").replace(b"example", b"ex\xffmple", 1)),
        }
    )
    rejected = [
        ("a blank line among the signatures makes them note text", f"{body}\n{log_line}\n{cosig.line()}"),
        ("text changed after signing", signed.replace("\n8\n", "\n9\n", 1)),
        (
            "log signature by another key",
            note.sign_checkpoint(note.Checkpoint(ORIGIN, 8, bytes.fromhex(CT_ROOTS[8])), OTHER_LOG_KEY),
        ),
        (
            "log line's key ID right, signature of another text",
            f"{body}\n{note.sign(other_body, ORIGIN, LOG_KEY).line()}",
        ),
        ("a known cosigner's line does not verify", f"{body}\n{log_line}{forged_time.line()}"),
        (
            "cosignature of another checkpoint",
            f"{body}\n{log_line}{note.cosign(other_body, *COSIGNERS[0], TIMESTAMPS[0]).line()}",
        ),
        (
            "cosigner key used as the log's type-0x01 signature",
            f"{body}\n{log_line}"
            + note.Signature(cosig.name, cosig.key_id, note.sign(body, *COSIGNERS[0]).signature).line(),
        ),
        ("only cosignatures, no log signature", f"{body}\n{cosig.line()}"),
        ("quorum of 2 not reached", f"{body}\n{log_line}{cosig.line()}"),
        (
            "log signed under a name that is not the origin",
            note.format_note(
                note.Checkpoint("example.org/other-log", 8, bytes.fromhex(CT_ROOTS[8])).body(),
                [
                    note.sign(
                        note.Checkpoint("example.org/other-log", 8, bytes.fromhex(CT_ROOTS[8])).body(), ORIGIN, LOG_KEY
                    )
                ],
            ),
        ),
    ]
    for why, text in rejected:
        cases.append({"why": why, "expect": "verify_failed", "note": text})
    for case in cases:
        data = note.unb64(case["note_base64"]) if "note_base64" in case else case["note"]
        got = outcome(lambda d=data: note.open_checkpoint(d, log, cosigners, quorum=2))  # type: ignore[misc]
        assert got == case["expect"], (case["why"], got)
    yield vector(
        "note",
        "rejected",
        "verify_failed",
        "signed checkpoints opened with the log vkey and the two cosigner vkeys of the "
        "cosignature vector, quorum 2: each is refused with its expect class "
        "(note_base64 holds raw bytes that are not UTF-8).",
        log_vkey=log.vkey(),
        cosigner_vkeys=[c.vkey() for c in cosigners],
        quorum=2,
        cases=cases,
    )


# --- output ---------------------------------------------------------------------------------


def build() -> dict[str, dict[str, Any]]:
    """Every vector, by file stem, in a stable order."""
    vectors: dict[str, dict[str, Any]] = {}
    for area in (tlog_vectors, note_vectors):
        for stem, content in area():
            assert stem not in vectors, stem
            vectors[stem] = content
    return vectors


def main(directory: Path = VECTOR_DIR) -> int:
    """Write every vector and delete vector files no scenario produces any more."""
    directory.mkdir(exist_ok=True)
    write(build(), directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
