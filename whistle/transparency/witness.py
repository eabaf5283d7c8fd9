"""A witness of the public log: what `whistle witness` runs, outside the server it watches.

It reads only the public endpoints (``/log/checkpoint``, ``/log/proof/consistency``) over
HTTP, keeps its own state file (the last checkpoint it accepted), and cosigns a new
checkpoint (cosignature/v1) only when the log's key signed it and a consistency proof shows
it extends the one in the state file; then it posts the cosignature back. Anything else (a
smaller tree, another root for the same size, a proof that fails, a checkpoint under another
key) is a ``Refusal``: the log has rewritten, rolled back or forked its history, and the
witness keeps its state as it was, so it goes on refusing.

Key file: one line ``PRIVATE+KEY+<name>+<key id hex>+<base64(0x04 || Ed25519 seed)>``, in the
style of Go's note signer keys; its vkey (``<name>+<key id>+<base64(0x04 || public key)>``)
goes into the log's rules file as a ``[[witnesses]]`` entry.
"""

import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from crypto import note, tlog
from crypto.errors import CryptoError, FormatError

TIMEOUT = 30
_PRIVATE = "PRIVATE+KEY+"


class Refusal(Exception):
    """The log is inconsistent with what this witness saw before: never cosign."""


class WitnessError(Exception):
    """The witness could not do its job this time (network, key or state file); retry later."""


class NotFound(WitnessError):
    """The server answered 404."""


@dataclass(frozen=True)
class WitnessKey:
    name: str
    key: nacl.signing.SigningKey

    @property
    def verifier(self) -> note.Verifier:
        return note.verifier_of(self.name, self.key, note.COSIGNATURE_V1)


def new_key(name: str) -> tuple[str, str]:
    """(key file text, vkey) of a fresh witness key named ``name``."""
    key = WitnessKey(note.check_name(name), nacl.signing.SigningKey.generate())
    raw = bytes([note.COSIGNATURE_V1]) + bytes(key.key)
    text = f"{_PRIVATE}{name}+{key.verifier.key_id.hex()}+{note.b64(raw)}\n"
    return text, key.verifier.vkey()


def read_key(text: str) -> WitnessKey:
    """The witness key of a key file's text; WitnessError if it is not one."""
    line = text.strip()
    try:
        if not line.startswith(_PRIVATE):
            raise FormatError("not a witness key file")
        name, key_hash, data = line[len(_PRIVATE) :].split("+", 2)
        raw = note.unb64(data)
        if len(raw) != 33 or raw[0] != note.COSIGNATURE_V1:
            raise FormatError("not a cosignature/v1 key")
        key = WitnessKey(note.check_name(name), nacl.signing.SigningKey(raw[1:]))
        if key.verifier.key_id.hex() != key_hash:
            raise FormatError("the key id does not match the key")
    except (FormatError, ValueError) as exc:
        raise WitnessError(f"witness key file: {exc}") from exc
    return key


# --- HTTP ----------------------------------------------------------------------------------


def http_get(url: str) -> bytes:
    """GET ``url``; WitnessError (a 404 included) unless it answers 200."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "*/*"}), timeout=TIMEOUT) as resp:
            return resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound(url) from exc
        raise WitnessError(f"GET {url}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise WitnessError(f"GET {url}: {exc}") from exc


def _post(url: str, body: str) -> None:
    request = urllib.request.Request(
        url, data=body.encode("utf-8"), method="POST", headers={"Content-Type": "text/plain; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise WitnessError(f"POST {url}: HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise WitnessError(f"POST {url}: {exc}") from exc


def fetch_checkpoint(base_url: str) -> str | None:
    """The served checkpoint, or None when the log says it has none (404)."""
    try:
        return http_get(base_url.rstrip("/") + "/log/checkpoint").decode("utf-8")
    except NotFound:
        return None
    except UnicodeDecodeError as exc:
        raise Refusal("the served checkpoint is not UTF-8 text") from exc


def fetch_consistency(base_url: str, first: int, second: int) -> list[bytes]:
    query = urllib.parse.urlencode({"from": first, "to": second})
    try:
        answer = json.loads(http_get(f"{base_url.rstrip('/')}/log/proof/consistency?{query}"))
        return [note.unb64(h) for h in answer["proof"]]
    except NotFound as exc:
        raise Refusal(f"the log cannot prove its checkpoint of {second} entries") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise Refusal("the consistency proof is not well formed") from exc


# --- state ---------------------------------------------------------------------------------


def read_state(path: Path) -> str | None:
    """The checkpoint note this witness last accepted, or None on its first run."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WitnessError(f"state file {path} cannot be read: {exc}") from exc


def write_state(path: Path, checkpoint_note: str) -> None:
    """Replace the state file atomically: a crash leaves the old state or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".witness-state-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"v": 1, "checkpoint": checkpoint_note}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# --- the check ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    previous: int | None  # the size accepted before, None on the first run
    size: int
    root: bytes
    posted: str  # the cosigned checkpoint as sent back


def check(base_url: str, log: note.Verifier, served: str, previous: str | None) -> note.Checkpoint:
    """The served checkpoint, if it is signed by ``log`` and extends ``previous``; Refusal otherwise."""
    try:
        new = note.open_checkpoint(served, log).checkpoint
    except (CryptoError, ValueError) as exc:
        raise Refusal(f"the served checkpoint is not signed by the log key {log.vkey()}") from exc
    if previous is None:
        return new
    try:
        old = note.open_checkpoint(previous, log).checkpoint
    except (CryptoError, ValueError) as exc:
        raise WitnessError(
            "the state file's checkpoint is not one of this log key: a witness watches one log with one key"
        ) from exc
    if new.size < old.size:
        raise Refusal(
            f"rollback: the log now has {new.size} entries, it had {old.size} (a restored backup, or entries deleted)"
        )
    if new.size == old.size:
        if new.root != old.root:
            raise Refusal(f"fork: another tree of the same size {new.size} (history was rewritten)")
        return new
    proof = fetch_consistency(base_url, old.size, new.size)
    try:
        tlog.verify_consistency(old.size, new.size, proof, old.root, new.root)
    except (CryptoError, ValueError) as exc:
        raise Refusal(
            f"fork: the tree of {new.size} entries does not extend the one of {old.size} "
            f"entries this witness cosigned (history was rewritten)"
        ) from exc
    return new


def witness(base_url: str, log: note.Verifier, key: WitnessKey, state_path: Path, now: int) -> Outcome:
    """Fetch, check, remember and cosign the log's latest checkpoint, then post it back."""
    previous = read_state(state_path)
    served = fetch_checkpoint(base_url)
    if served is None:
        if previous is not None:
            raise Refusal(
                "rollback: the log serves no checkpoint, this witness has cosigned one "
                "(checkpoints deleted, or an old backup restored)"
            )
        raise WitnessError("the log has no signed checkpoint yet: run `whistle audit sign` first")
    checkpoint = check(base_url, log, served, previous)
    own = note.parse_note(served)
    # Keep only the log's own signature in the state: other witnesses' lines are theirs.
    log_line = [s for s in own.signatures if (s.name, s.key_id) == (log.name, log.key_id)]
    write_state(state_path, note.format_note(own.text, log_line))
    mine = note.cosign(own.text, key.name, key.key, now)
    others = [s for s in own.signatures if (s.name, s.key_id) != (key.name, key.verifier.key_id)]
    posted = note.format_note(own.text, [*others, mine])
    _post(base_url.rstrip("/") + "/log/cosignature", posted)
    previous_size = None if previous is None else note.parse_checkpoint(note.parse_note(previous).text).size
    return Outcome(previous_size, checkpoint.size, checkpoint.root, posted)
