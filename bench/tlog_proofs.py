"""Micro benchmark of the public log's proofs (crypto/tlog.py) on a large in-memory tree.

    .venv/bin/python -m bench.tlog_proofs              # 1,000,000 entries
    .venv/bin/python -m bench.tlog_proofs --size 100000

Appends SIZE entries (each a small canonical-JSON-like line) to a MemoryStore, then times
root, inclusion and consistency proof generation for random positions, and their
verification, printing milliseconds per operation and how many stored hashes each proof
read. The database-backed store adds one indexed row read per stored hash on top of this.
"""

import argparse
import random
import time
from typing import Callable

from crypto import tlog


def timed(label: str, count: int, run: Callable[[int], object]) -> None:
    """Run ``run(i)`` for i in range(count) and print the mean time per call."""
    start = time.perf_counter()
    for i in range(count):
        run(i)
    elapsed = time.perf_counter() - start
    print(f"{label:<34} {elapsed / count * 1000:8.3f} ms/op  ({count} ops)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2000)
    args = parser.parse_args()
    size, count = args.size, args.proofs
    rng = random.Random(2026)

    store = tlog.MemoryStore()
    start = time.perf_counter()
    for i in range(size):
        entry = b'{"action":"case.view","seq":%d}' % (i + 1)
        tlog.append_leaf(store, i, tlog.leaf_hash(entry))
    elapsed = time.perf_counter() - start
    print(
        f"append {size:,} entries                {elapsed:8.2f} s total, "
        f"{elapsed / size * 1e6:.2f} us/entry, {sum(map(len, store.levels)):,} stored hashes"
    )

    root = tlog.root_hash(store, size)
    indices = [rng.randrange(size) for _ in range(count)]
    firsts = [rng.randrange(1, size) for _ in range(count)]
    store.reads = 0
    timed("root hash", count, lambda i: tlog.root_hash(store, size))
    print(f"{'':<34} {store.reads / count:8.1f} reads/op")

    store.reads = 0
    proofs = [tlog.inclusion_proof(store, index, size) for index in indices]
    reads = store.reads / count
    timed("inclusion proof (generate)", count, lambda i: tlog.inclusion_proof(store, indices[i], size))
    print(f"{'':<34} {reads:8.1f} reads/op, {sum(map(len, proofs)) / count:.1f} hashes/proof")
    leaves = [store.get_node(0, index) for index in indices]
    timed(
        "inclusion proof (verify)", count, lambda i: tlog.verify_inclusion(leaves[i], indices[i], size, proofs[i], root)
    )

    store.reads = 0
    consistency = [tlog.consistency_proof(store, first, size) for first in firsts]
    reads = store.reads / count
    old_roots = [tlog.root_hash(store, first) for first in firsts]
    timed("consistency proof (generate)", count, lambda i: tlog.consistency_proof(store, firsts[i], size))
    print(f"{'':<34} {reads:8.1f} reads/op, {sum(map(len, consistency)) / count:.1f} hashes/proof")
    timed(
        "consistency proof (verify)",
        count,
        lambda i: tlog.verify_consistency(firsts[i], size, consistency[i], old_roots[i], root),
    )


if __name__ == "__main__":
    main()
