"""RFC 6962 / RFC 9162 Merkle tree of the public log (docs/transparency-log.md §2-3).

The server keeps the hash of every complete subtree in a ``NodeStore``: node
``(level, index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)`` and is written
once, when its last leaf is appended. Any root or proof is then assembled from O(log n)
stored hashes, so a proof for a log of millions of entries costs a few dozen reads, not a
walk over the entries. Verification needs no store: it works on the proof alone.
"""

import hashlib
from typing import Protocol, Sequence

from crypto.errors import FormatError, VerifyError

HASH_BYTES = 32
MAX_SIZE = 2**63 - 1  # a checkpoint's tree size fits an int64 (docs §4)
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the hash of one log entry."""
    return hashlib.sha256(_LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an inner node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def split(size: int) -> int:
    """The largest power of two smaller than ``size`` (``size`` > 1): RFC 6962's k."""
    return 1 << ((size - 1).bit_length() - 1)


class NodeStore(Protocol):
    """Where the complete subtree hashes live (memory here, a table in the application)."""

    def get_node(self, level: int, index: int) -> bytes:
        """The stored hash of node (level, index); KeyError if it was never stored."""
        ...

    def put_node(self, level: int, index: int, digest: bytes) -> None:
        """Store the hash of node (level, index); it never changes afterwards."""
        ...


class MemoryStore:
    """A NodeStore in lists, one per level: for tests, tools and the benchmark.

    ``reads`` counts get_node calls, what a database store would pay in row reads.
    """

    def __init__(self) -> None:
        self.levels: list[list[bytes]] = []
        self.reads = 0

    def get_node(self, level: int, index: int) -> bytes:
        self.reads += 1
        if level >= len(self.levels) or not 0 <= index < len(self.levels[level]):
            raise KeyError((level, index))
        return self.levels[level][index]

    def put_node(self, level: int, index: int, digest: bytes) -> None:
        while len(self.levels) <= level:
            self.levels.append([])
        row = self.levels[level]
        if index == len(row):
            row.append(digest)
        elif index > len(row) or row[index] != digest:
            # Nodes are append-only: a different hash for a stored node is a rewrite.
            raise ValueError(f"node ({level}, {index}) cannot be rewritten")


def append_leaf(store: NodeStore, size: int, digest: bytes) -> list[tuple[int, int, bytes]]:
    """Add leaf hash ``digest`` as leaf number ``size``; return the nodes written.

    One leaf node plus one node per level the new leaf completes: amortized two writes
    and one read per append, at most log2(size) + 1 writes.
    """
    _check_hash(digest)
    _check_size(size + 1)
    written = [(0, size, digest)]
    level, index, current = 0, size, digest
    while index & 1:  # a right child: its parent's subtree is now complete
        current = node_hash(store.get_node(level, index - 1), current)
        level, index = level + 1, index >> 1
        written.append((level, index, current))
    for node in written:
        store.put_node(*node)
    return written


def subtree_hash(store: NodeStore, start: int, end: int) -> bytes:
    """MTH of leaves [start, end), for a range the RFC 6962 recursion produces.

    ``start`` must be a multiple of the largest power of two not above ``end - start`` (every
    range the root, path and proof recursions visit is): each step then reads one stored
    complete subtree, so at most log2(end - start) + 1 reads.
    """
    count = end - start
    if count <= 0:
        raise ValueError("empty range")
    if count & (count - 1) == 0:
        level = count.bit_length() - 1
        return store.get_node(level, start >> level)
    k = split(count)
    return node_hash(subtree_hash(store, start, start + k), subtree_hash(store, start + k, end))


def root_hash(store: NodeStore, size: int) -> bytes:
    """The root of the tree of the first ``size`` leaves (any size up to the stored one)."""
    _check_size(size)
    return EMPTY_ROOT if size == 0 else subtree_hash(store, 0, size)


def inclusion_proof(store: NodeStore, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf's sibling first."""
    _check_size(size)
    if not 0 <= index < size:
        raise ValueError("index must be below size")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:  # descend; siblings are collected top-down, returned bottom-up
        k = split(end - start)
        if index < start + k:
            path.append(subtree_hash(store, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(store, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(store: NodeStore, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 §2.1.4.1 (empty when first is 0 or second)."""
    _check_size(second)
    if not 0 <= first <= second:
        raise ValueError("first must be between 0 and second")
    if first in (0, second):
        return []
    proof: list[bytes] = []
    start, end, whole = 0, second, True  # whole: the old tree is still this subtree's root
    m = first
    while m != end - start:
        k = split(end - start)
        if m <= k:
            proof.append(subtree_hash(store, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(store, start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        proof.append(subtree_hash(store, start, end))
    proof.reverse()
    return proof


def root_of(entries: Sequence[bytes]) -> bytes:
    """MTH of a list of entries, via a fresh MemoryStore (for tools and tests)."""
    store = MemoryStore()
    for size, entry in enumerate(entries):
        append_leaf(store, size, leaf_hash(entry))
    return root_hash(store, len(entries))


# --- verification (no store: the proof and the signed roots are all a client has) ----------


def root_from_inclusion_proof(digest: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` gives for leaf hash ``digest`` at ``index`` of ``size``.

    RFC 9162 §2.1.3.2. VerifyError if the proof has the wrong length for (index, size).
    """
    _check_hash(digest)
    _check_proof(proof)
    _check_size(size)
    if not 0 <= index < size:
        raise VerifyError()
    fn, sn, r = index, size - 1, digest
    for p in proof:
        if sn == 0:
            raise VerifyError()
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerifyError()
    return r


def verify_inclusion(digest: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """VerifyError unless ``proof`` shows leaf hash ``digest`` at ``index`` under ``root``."""
    _check_hash(root)
    if root_from_inclusion_proof(digest, index, size, proof) != root:
        raise VerifyError()


def verify_consistency(first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes) -> None:
    """VerifyError unless tree ``second_root`` extends tree ``first_root`` (RFC 9162 §2.1.4.2)."""
    _check_hash(first_root)
    _check_hash(second_root)
    _check_proof(proof)
    _check_size(second)
    if not 0 <= first <= second:
        raise VerifyError()
    if first == second:
        if proof or first_root != second_root:
            raise VerifyError()
        return
    if first == 0:
        if proof or first_root != EMPTY_ROOT:
            raise VerifyError()
        return
    if not proof:
        raise VerifyError()
    path = list(proof)
    if first & (first - 1) == 0:  # the old root is itself a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerifyError()
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise VerifyError()


def _check_hash(digest: bytes) -> None:
    if not isinstance(digest, bytes) or len(digest) != HASH_BYTES:
        raise FormatError("a hash is 32 bytes")


def _check_proof(proof: Sequence[bytes]) -> None:
    if len(proof) > 64:  # no tree of at most 2^63 - 1 leaves needs more
        raise FormatError("proof too long")
    for item in proof:
        _check_hash(item)


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_SIZE:
        raise FormatError("tree size must be a whole number below 2^63")
