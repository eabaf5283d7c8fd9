"""The Merkle tree of the public log: vectors, an independent recursive model, read counts."""

import hashlib
import json
import math

import pytest

from crypto import tlog
from crypto.errors import FormatError, VerifyError
from crypto.vectors.generate import dumps
from crypto.vectors.generate_tlog import VECTOR_DIR, build, entry

FILES = sorted(VECTOR_DIR.glob("tlog_*.json"))


def load(name: str) -> dict:
    return json.loads((VECTOR_DIR / f"{name}.json").read_text(encoding="ascii"))


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# --- RFC 6962 written out as recursion over lists: nothing shared with crypto/tlog.py -------


def ref_mth(entries: list[bytes]) -> bytes:
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < len(entries):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(entries[:k]) + ref_mth(entries[k:])).digest()


def ref_path(m: int, entries: list[bytes]) -> list[bytes]:
    if len(entries) <= 1:
        return []
    k = 1
    while k * 2 < len(entries):
        k *= 2
    if m < k:
        return ref_path(m, entries[:k]) + [ref_mth(entries[k:])]
    return ref_path(m - k, entries[k:]) + [ref_mth(entries[:k])]


def ref_subproof(m: int, entries: list[bytes], whole: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if whole else [ref_mth(entries)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, entries[:k], whole) + [ref_mth(entries[k:])]
    return ref_subproof(m - k, entries[k:], False) + [ref_mth(entries[:k])]


def built(count: int) -> tlog.MemoryStore:
    store = tlog.MemoryStore()
    for size in range(count):
        tlog.append_leaf(store, size, tlog.leaf_hash(entry(size)))
    return store


# --- vectors ----------------------------------------------------------------------------------


def test_files_on_disk_are_what_the_generator_writes():
    """Stale or hand-edited vectors fail here: run python -m crypto.vectors.generate_tlog."""
    vectors = build()
    on_disk = sorted(VECTOR_DIR.glob("*.json"))
    assert sorted(p.stem for p in on_disk) == sorted(vectors)
    for path in on_disk:
        assert path.read_text(encoding="ascii") == dumps(vectors[path.stem]), path.name
        v = json.loads(path.read_text(encoding="ascii"))
        assert list(v)[:4] == ["about", "area", "case", "expect"]
        assert path.stem == f"{v['area']}_{v['case']}"
    assert sum(p.stat().st_size for p in on_disk) < 512 * 1024


def test_ct_reference_tree():
    v = load("tlog_ct_reference")
    leaves = [h(x) for x in v["leaves"]]
    store = tlog.MemoryStore()
    for size, data in enumerate(leaves):
        tlog.append_leaf(store, size, tlog.leaf_hash(data))
    for size, root in enumerate(v["roots"]):
        assert tlog.root_hash(store, size).hex() == root == ref_mth(leaves[:size]).hex()
    for case in v["inclusion"]:
        proof = [h(p) for p in case["proof"]]
        assert tlog.inclusion_proof(store, case["index"], case["size"]) == proof
        tlog.verify_inclusion(h(case["leaf_hash"]), case["index"], case["size"], proof, h(v["roots"][case["size"]]))
    for case in v["consistency"]:
        proof = [h(p) for p in case["proof"]]
        assert tlog.consistency_proof(store, case["from"], case["to"]) == proof
        tlog.verify_consistency(case["from"], case["to"], proof, h(v["roots"][case["from"]]), h(v["roots"][case["to"]]))


def test_generated_roots_inclusion_and_consistency_vectors():
    roots_v = load("tlog_roots")
    entries = [h(e) for e in roots_v["entries"]]
    assert entries == [entry(i) for i in range(len(entries))]
    roots = [h(r) for r in roots_v["roots"]]
    assert [tlog.leaf_hash(e).hex() for e in entries] == roots_v["leaf_hashes"]
    assert roots == [ref_mth(entries[:n]) for n in range(len(entries) + 1)]
    inclusion = load("tlog_inclusion")["cases"]
    assert len(inclusion) == len(entries) * (len(entries) + 1) // 2
    for case in inclusion:
        proof = [h(p) for p in case["proof"]]
        assert proof == ref_path(case["index"], entries[: case["size"]])
        tlog.verify_inclusion(
            tlog.leaf_hash(entries[case["index"]]), case["index"], case["size"], proof, roots[case["size"]]
        )
    for case in load("tlog_consistency")["cases"]:
        proof = [h(p) for p in case["proof"]]
        m, n = case["from"], case["to"]
        assert proof == ([] if m in (0, n) else ref_subproof(m, entries[:n], True))
        tlog.verify_consistency(m, n, proof, roots[m], roots[n])


@pytest.mark.parametrize("name", ["tlog_inclusion_invalid", "tlog_consistency_invalid"])
def test_invalid_proofs_are_refused(name):
    v = load(name)
    assert {c["expect"] for c in v["cases"]} == {"verify_failed", "format_error"}
    for case in v["cases"]:
        proof = [h(p) for p in case["proof"]]
        error = VerifyError if case["expect"] == "verify_failed" else FormatError
        with pytest.raises(error):
            if "leaf_hash" in case:
                tlog.verify_inclusion(h(case["leaf_hash"]), case["index"], case["size"], proof, h(case["root"]))
            else:
                tlog.verify_consistency(case["from"], case["to"], proof, h(case["from_root"]), h(case["to_root"]))


# --- the store-based tree against the recursive model -----------------------------------------


def test_every_proof_of_small_trees_matches_the_recursive_model():
    entries = [entry(i) for i in range(40)]
    store = built(40)
    for n in range(41):
        assert tlog.root_hash(store, n) == ref_mth(entries[:n])
        for i in range(n):
            assert tlog.inclusion_proof(store, i, n) == ref_path(i, entries[:n])
        for m in range(1, n):
            assert tlog.consistency_proof(store, m, n) == ref_subproof(m, entries[:n], True)
    assert tlog.root_of(entries) == ref_mth(entries)
    assert tlog.root_of([]) == tlog.EMPTY_ROOT


def test_append_stores_each_complete_subtree_once():
    store = tlog.MemoryStore()
    writes = [len(tlog.append_leaf(store, size, tlog.leaf_hash(entry(size)))) for size in range(64)]
    # Leaf 2^k - 1 completes k + 1 nodes; in all, a tree of 64 leaves has 127 nodes.
    assert writes[63] == 7 and writes[31] == 6 and writes[62] == 1
    assert sum(writes) == 127
    assert [len(level) for level in store.levels] == [64, 32, 16, 8, 4, 2, 1]
    with pytest.raises(ValueError):
        store.put_node(0, 3, b"\x00" * 32)  # a stored node never changes
    with pytest.raises(ValueError):
        store.put_node(0, 70, b"\x00" * 32)  # nor is there a gap


@pytest.mark.parametrize("size", [1000, 4097, 6001])
def test_proofs_read_a_logarithmic_number_of_nodes(size):
    store = tlog.MemoryStore()
    for i in range(size):
        tlog.append_leaf(store, i, tlog.leaf_hash(entry(i)))
    bound = 2 * math.ceil(math.log2(size)) + 2
    for index in (0, 1, size // 3, size - 2, size - 1):
        store.reads = 0
        proof = tlog.inclusion_proof(store, index, size)
        assert store.reads <= bound
        tlog.verify_inclusion(tlog.leaf_hash(entry(index)), index, size, proof, tlog.root_hash(store, size))
    for first in (1, 2, size // 2, size - 1):
        store.reads = 0
        proof = tlog.consistency_proof(store, first, size)
        assert store.reads <= bound
        tlog.verify_consistency(first, size, proof, tlog.root_hash(store, first), tlog.root_hash(store, size))
    store.reads = 0
    tlog.root_hash(store, size)
    assert store.reads <= math.ceil(math.log2(size)) + 1


def test_bad_arguments():
    store = built(5)
    with pytest.raises(ValueError):
        tlog.inclusion_proof(store, 5, 5)
    with pytest.raises(ValueError):
        tlog.consistency_proof(store, 6, 5)
    with pytest.raises(KeyError):
        tlog.root_hash(store, 6)  # beyond what was appended
    for size in (-1, True, 2**63, 1.0):
        with pytest.raises(FormatError):
            tlog.root_hash(store, size)
    with pytest.raises(FormatError):
        tlog.append_leaf(store, 5, b"short")
    with pytest.raises(FormatError):
        tlog.verify_inclusion(b"\x00" * 32, 0, 1, [b"\x00" * 32] * 65, b"\x00" * 32)
