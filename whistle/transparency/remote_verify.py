"""`whistle audit verify --from URL`: check a deployment from its public endpoints alone.

What an outsider can check without the database: the latest checkpoint is signed by the
log key (given, or as the deployment publishes it); the entries it serves hash to the
signed root; they are numbered 1, 2, 3… without a gap and each names the previous one's
hash; the entries after the checkpoint link on the same way. The entry hashes themselves
cover withheld detail, so only whoever holds the database can recompute them (`whistle
audit verify` without --from). The first bad entry or checkpoint is named.
"""

import json
from dataclasses import dataclass, field

from crypto import note, tlog
from crypto.errors import CryptoError
from whistle.custody.audit import GENESIS
from whistle.custody.public_log import MAX_ENTRIES
from whistle.transparency.witness import NotFound, WitnessError, http_get


@dataclass
class RemoteVerdict:
    ok: bool
    message: str
    size: int = 0  # entries under the checkpoint
    length: int = 0  # entries served in all
    cosigners: dict = field(default_factory=dict)
    first_bad: int | None = None  # seq of the first bad entry (0: the checkpoint itself)


def _json(url: str):
    try:
        return json.loads(http_get(url))
    except ValueError as exc:
        raise WitnessError(f"GET {url}: not JSON") from exc


def _leaves(base: str, start: int, end: int) -> list[bytes]:
    out: list[bytes] = []
    while start + len(out) < end:
        at = start + len(out)
        answer = _json(f"{base}/log/entries?start={at}&end={end}")
        chunk = [note.unb64(e) for e in answer.get("entries", [])]
        if answer.get("start") != at or not chunk or len(chunk) > MAX_ENTRIES:
            raise WitnessError(f"/log/entries from {at}: an answer that is not the entries asked for")
        out += chunk
    return out[: end - start]


def _bad(message: str, seq: int, **kw) -> RemoteVerdict:
    return RemoteVerdict(False, message, first_bad=seq, **kw)


def verify(base_url: str, log_vkey: str | None, cosigner_vkeys=()) -> RemoteVerdict:
    """Verify the deployment at ``base_url``; WitnessError when it cannot be read at all."""
    base = base_url.rstrip("/")
    published = _json(f"{base}/transparency/audit-head.json")
    vkeys = [log_vkey] if log_vkey else published.get("log", {}).get("vkeys", [])
    if not vkeys:
        return _bad("checkpoint: the deployment publishes no log key, and none was given", 0)
    try:
        text = http_get(f"{base}/log/checkpoint").decode("utf-8")
    except NotFound:
        return _bad("checkpoint: the deployment serves no signed checkpoint", 0)
    cosigners = [note.parse_vkey(v) for v in cosigner_vkeys]
    opened = None
    for vkey in vkeys:
        try:
            opened = note.open_checkpoint(text, note.parse_vkey(vkey), cosigners)
            break
        except (CryptoError, ValueError):
            continue
    if opened is None:
        return _bad(
            "checkpoint: not signed by the log key" + (" given" if log_vkey else "s the deployment publishes"), 0
        )
    size, root = opened.checkpoint.size, opened.checkpoint.root
    length = max(int(published.get("audit", {}).get("length", 0)), size)
    leaves = _leaves(base, 0, length) if length else []
    store = tlog.MemoryStore()
    prev = GENESIS
    first_bad = None
    for index, leaf in enumerate(leaves):
        seq = index + 1
        try:
            entry = json.loads(leaf)
            ok_fields = entry.get("v") == 1 and isinstance(entry.get("hash"), str)
        except ValueError:
            entry, ok_fields = {}, False
        if not ok_fields:
            first_bad = first_bad or _bad(f"entry {seq}: not an audit entry of the public log", seq)
        elif entry.get("seq") != seq:
            first_bad = first_bad or _bad(f"entry {seq}: sequence gap: leaf {index} is entry {entry.get('seq')}", seq)
        elif entry.get("prev_hash") != prev:
            first_bad = first_bad or _bad(
                f"entry {seq}: broken link: its previous hash is not the hash of entry {seq - 1}", seq
            )
        prev = entry.get("hash") if ok_fields else prev
        tlog.append_leaf(store, index, tlog.leaf_hash(leaf))
    if tlog.root_hash(store, size) != root:
        seq = _first_unproven(base, leaves, size, root)
        if seq is None:  # the server's own tree was rebuilt too: no proof ties any entry to it
            return _bad(
                f"checkpoint of size {size}: the entries served do not hash to its signed root, and "
                f"no inclusion proof the server gives verifies: an entry up to {size} was changed "
                f"and the stored tree rebuilt (compare with an older checkpoint or a witness)",
                0,
                size=size,
                length=length,
            )
        return _bad(
            f"entry {seq}: does not match the signed checkpoint of size {size}: the entries served "
            f"are not the ones it signed",
            seq,
            size=size,
            length=length,
        )
    if first_bad is not None:
        first_bad.size, first_bad.length = size, length
        return first_bad
    return RemoteVerdict(
        True,
        f"public log intact: {length} entries, {size} under the signed checkpoint",
        size=size,
        length=length,
        cosigners=dict(opened.cosignatures),
    )


def _first_unproven(base: str, leaves: list[bytes], size: int, root: bytes) -> int | None:
    """The seq of the first served entry whose leaf no inclusion proof puts under ``root``,
    when the one before it is proven; None when not even the first one is (every proof
    path crosses a changed subtree once the server's stored tree was rebuilt)."""
    for index in range(size):
        answer = _json(f"{base}/log/proof/inclusion?index={index}&size={size}")
        try:
            tlog.verify_inclusion(
                tlog.leaf_hash(leaves[index]), index, size, [note.unb64(h) for h in answer["proof"]], root
            )
        except (CryptoError, ValueError, KeyError, TypeError):
            return index + 1 if index else None
    return size
