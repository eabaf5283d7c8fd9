"""The committee's audit log: append-only and hash-chained (each entry commits to the last).

Entries carry the member, the action, the case and the day: never a time of day, never a
reporter detail. `verify` recomputes the chain and names the first entry that does not fit.

Chain
    ``entry_hash = SHA-256(JSON [prev_hash, seq, day, actor, action, case_id, detail])``
    (compact JSON, UTF-8); the first entry's ``prev_hash`` is 64 zeros. ``seq`` counts from
    1 without gaps. A one-row table (``audit_head``) holds the length and the last hash, so
    entries cut off the end are noticed too.

Signed statements
    `whistle audit sign` signs (length, head) with the committee's Ed25519 key (derived from
    the committee key, see ``crypto.signing``) into ``audit_statements``; the latest one is
    published on /transparency. A rewrite of history that recomputes every hash still fails
    `verify`, because the entry at a statement's length no longer has the signed hash.

Actions recorded (detail keys in brackets): login, login_failed, logout, enrolled, invite
[member, before: none, invited, enrolled or deactivated], deactivate [member], view, decrypt, download, reply, note, grant [to],
refused_grant [to, reason: unknown, unknown_department, held, conflict, admin, not_enrolled], refused_view (of a notice: [notice, reason]) / refused_change /
refused_decrypt / refused_download, refused_self_confirm, refused_reply [reason:
reporter_key_mismatch (the stored reporter key is not the one the report binds) or
reporter_key_unverifiable (the report did not open in the member's browser)], status [event], disposition, grade_override
[before, after, reason, confirmed_by], proposed_* / confirmed_* / rejected_* (downgrade,
close, purge), withdrawn_* (the same three) [action_id, proposed_by, status: the case
outgrew the proposal before it was confirmed], export,
key_registered [kid], key_retired [kid], purge, audit_signed [statement, length], oversight_view,
identity_requested [request, reason], identity_approved [request, requester],
identity_refused [because: no_custodian, no_other_custodian, same_member, not_custodian,
conflict, custodian, not_approved, requester_gone; request, requester, reason],
identity_disclosed [request, to], notice_published [notice, opens_on, closes_on],
survey_created / survey_changed / survey_opened / survey_closed / survey_published /
survey_deleted / survey_texts / refused_survey_texts [survey], survey_texts_purged [survey,
texts, reason], intake [commitment, recipients] and rules_loaded [sha256, published]
(whistle.custody.intake_log). The full list is ACTIONS.
"""

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crypto import tlog

from whistle.custody import public_log
from whistle.models import AuditEntry, AuditHead, AuditStatement, CommitteeKey, LogCheckpoint, LogNode

GENESIS = "0" * 64

# Actors of entries made outside the web workspace: with the committee's own key (the CLI
# opened the key file), and at the server's console without it.
COMMITTEE_KEY = "committee-key"
CONSOLE = "cli"

# What verify found wrong (Verdict.problem).
HASH_MISMATCH = "hash mismatch"
BROKEN_LINK = "broken link"
SEQUENCE_GAP = "sequence gap"
MISSING_AT_END = "entries missing at the end"
STATEMENT_MISMATCH = "does not match a signed statement"
BAD_SIGNATURE = "invalid statement signature"
UNKNOWN_SIGNER = "statement signed by an unknown key"
NOT_IN_LOG = "differs from the public log"
CHECKPOINT_MISMATCH = "does not match a signed checkpoint"
BAD_CHECKPOINT = "invalid checkpoint signature"
KEY_NOT_ENROLLED = "member key differs from the enrolled one"


def entry_digest(prev_hash: str, seq: int, on: dt.date, actor, action: str, case_id, detail: str) -> str:
    """The hash of one entry, over its fields and the previous entry's hash."""
    body = json.dumps(
        [prev_hash, seq, on.isoformat(), actor, action, case_id, detail], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# Every action an entry may record. The oversight view labels each one (a test checks
# that every action here has a label); recording an action missing from this list is a
# bug, and record() refuses it.
_DUAL_CONTROL = ("downgrade", "close", "purge", "disposition")
ACTIONS = frozenset(
    {
        "login",
        "login_failed",
        "logout",
        "enrolled",
        "invite",
        "deactivate",
        "refused_invite",
        "grants_revoked",
        "enrolment_confirmed",
        "refused_enrolment_confirm",
        "deactivate_requested",
        "deactivate_confirmed",
        "refused_deactivate",
        "view",
        "decrypt",
        "download",
        "reply",
        "note",
        "export",
        "grant",
        "refused_grant",
        "regrant",
        "grant_key_failed",
        "retention_fixed",
        "refused_view",
        "refused_change",
        "refused_decrypt",
        "refused_download",
        "refused_self_confirm",
        "refused_reply",
        "status",
        "disposition",
        "grade_override",
        "purge",
        *(f"{step}_{action}" for step in ("proposed", "confirmed", "rejected") for action in _DUAL_CONTROL),
        *(f"withdrawn_{action}" for action in _DUAL_CONTROL),
        "key_registered",
        "key_retired",
        "key_split",
        "key_recovered",
        "key_opened",
        "audit_signed",
        "oversight_view",
        "identity_requested",
        "identity_approved",
        "identity_refused",
        "identity_disclosed",
        "notice_published",
        "survey_created",
        "survey_changed",
        "survey_opened",
        "survey_closed",
        "survey_published",
        "survey_deleted",
        "survey_texts",
        "refused_survey_texts",
        "survey_texts_purged",
        "intake",
        "rules_loaded",
    }
)


def lock_head(db: Session) -> None:
    """Take the audit head's row lock (as every append does first) without appending: what
    is read after it is one state of the log until the caller's transaction ends."""
    db.execute(update(AuditHead).where(AuditHead.id == 1).values(length=AuditHead.length))


def record(
    db: Session, action: str, *, actor: str | None, on: dt.date, case_id: str | None = None, **detail
) -> AuditEntry:
    """Append an entry inside the caller's transaction: it lands with the action or not at all.

    Any code path may call this (web views, the CLI, retention's purge); the caller commits.
    ``detail`` holds small JSON values only: codes, usernames, counts; never case content.
    ``action`` is one of ACTIONS.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    seq, prev = db.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(length=AuditHead.length + 1)
        .returning(AuditHead.length, AuditHead.head_hash)
    ).one()
    digest = entry_digest(prev, seq, on, actor, action, case_id, text)
    db.execute(update(AuditHead).where(AuditHead.id == 1).values(head_hash=digest))
    entry = AuditEntry(
        seq=seq, on=on, actor=actor, action=action, case_id=case_id, detail=text, prev_hash=prev, entry_hash=digest
    )
    db.add(entry)
    db.flush()
    public_log.append(db, entry)  # the same transaction, under the head's lock taken above
    return entry


class Verdict(tuple):
    """What `verify` found. It unpacks and compares as ``(count, first_bad)`` as before
    (``count, bad = verify(db)``; ``verify(db) == (n, None)``) and carries the detail:

    ``count`` entries in the log; ``first_bad`` the seq of the first bad entry (None when
    intact); ``problem`` one of the module's problem constants; ``message`` a sentence that
    names the entry and what is wrong; ``head`` the last entry's hash (when intact);
    ``statements`` how many signed statements were checked; ``statement`` the id of the
    statement involved in a statement problem.
    """

    def __new__(
        cls,
        count: int,
        first_bad: int | None,
        *,
        problem: str | None = None,
        message: str = "",
        head: str = GENESIS,
        statements: int = 0,
        statement: int | None = None,
    ):
        self = super().__new__(cls, (count, first_bad))
        self.problem, self.message, self.head = problem, message, head
        self.statements, self.statement = statements, statement
        return self

    @property
    def count(self) -> int:
        return self[0]

    @property
    def first_bad(self) -> int | None:
        return self[1]

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __repr__(self) -> str:
        return f"Verdict(count={self.count}, first_bad={self.first_bad}, problem={self.problem!r})"


@dataclass
class _Finding:
    seq: int
    problem: str
    message: str
    statement: int | None = None


def _walk(db: Session, keep: set, tree: tlog.MemoryStore) -> tuple[int, str, _Finding | None, dict]:
    """Recompute the chain: (entries, last hash, first finding or None, {seq: stored hash}
    for the seqs in ``keep``). The public log's tree of the entries as they are goes into
    ``tree``, and each leaf is compared with the one the log stored when the entry was made."""
    prev, expected, count, hashes, finding = GENESIS, 1, 0, {}, None
    stored_leaves = db.execute(select(LogNode.idx, LogNode.hash).where(LogNode.level == 0).order_by(LogNode.idx))
    leaves = iter(stored_leaves)
    rows = db.execute(
        select(
            AuditEntry.seq,
            AuditEntry.on,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.case_id,
            AuditEntry.detail,
            AuditEntry.prev_hash,
            AuditEntry.entry_hash,
        ).order_by(AuditEntry.seq)
    )
    for row in rows:
        seq, on, actor, action, case_id, detail, prev_hash, entry_hash = row
        count += 1
        if seq in keep:
            hashes[seq] = entry_hash
        if finding is not None:
            continue
        leaf = tlog.leaf_hash(public_log.leaf_of(row))
        stored = next(leaves, None)
        if seq == expected:
            tlog.append_leaf(tree, seq - 1, leaf)
        if seq != expected:
            if seq > expected:
                missing = f"entry {expected} is" if seq == expected + 1 else f"entries {expected}-{seq - 1} are"
                finding = _Finding(
                    expected,
                    SEQUENCE_GAP,
                    f"entry {expected}: sequence gap: {missing} missing (entry {seq} follows entry {expected - 1})"
                    if expected > 1
                    else f"entry {expected}: sequence gap: the log starts at entry {seq}",
                )
            else:  # a seq below 1, or a duplicate could not exist (primary key)
                finding = _Finding(
                    seq, SEQUENCE_GAP, f"entry {seq}: sequence number out of range (expected {expected})"
                )
        elif prev_hash != prev:
            finding = _Finding(
                seq,
                BROKEN_LINK,
                f"entry {seq}: broken link: its previous hash is not the hash of entry {seq - 1}"
                if seq > 1
                else f"entry {seq}: broken link: the first entry must follow the genesis hash",
            )
        elif entry_hash != entry_digest(prev_hash, seq, on, actor, action, case_id, detail):
            finding = _Finding(
                seq, HASH_MISMATCH, f"entry {seq}: hash mismatch: its content was changed after it was written"
            )
        elif stored is None or stored[0] != seq - 1 or bytes(stored[1]) != leaf:
            finding = _Finding(
                seq,
                NOT_IN_LOG,
                f"entry {seq}: differs from the public log: leaf {seq - 1} of the log is not this entry",
            )
        else:
            prev, expected = entry_hash, seq + 1
    return count, prev, finding, hashes


def _registered_verify_keys(db: Session) -> dict:
    """committee kid -> the verify key it must sign with (recorded on the committee key)."""
    return {kid: key for kid, key in db.execute(select(CommitteeKey.kid, CommitteeKey.verify_key))}


def _check_statements(db: Session, count: int, hashes: dict) -> tuple[int, list[_Finding]]:
    from crypto import signing
    from crypto.errors import CryptoError, FormatError

    registered = _registered_verify_keys(db)
    pinned: dict[str, str] = {}
    findings, checked = [], 0
    # Plain rows, not ORM objects: a session that loaded them earlier must not hide a change.
    for st in db.execute(
        select(
            AuditStatement.id,
            AuditStatement.day,
            AuditStatement.committee_kid,
            AuditStatement.length,
            AuditStatement.head,
            AuditStatement.verify_key,
            AuditStatement.signature,
        ).order_by(AuditStatement.id)
    ):
        checked += 1
        seq = max(st.length, 1)
        try:
            obj = signing.statement(st.committee_kid, st.length, st.head, st.day)
            signing.verify(st.verify_key, obj, st.signature)
        except (CryptoError, FormatError):
            findings.append(
                _Finding(
                    seq,
                    BAD_SIGNATURE,
                    f"entry {st.length}: signed statement #{st.id} about it has an invalid signature",
                    st.id,
                )
            )
            continue
        expected_key = registered.get(st.committee_kid) or pinned.setdefault(st.committee_kid, st.verify_key)
        if st.committee_kid not in registered or st.verify_key != expected_key:
            findings.append(
                _Finding(
                    seq,
                    UNKNOWN_SIGNER,
                    f"entry {st.length}: signed statement #{st.id} about it was not made "
                    f"with the audit key of committee key {st.committee_kid}",
                    st.id,
                )
            )
            continue
        if st.length > count:
            first_missing = count + 1
            findings.append(
                _Finding(
                    first_missing,
                    MISSING_AT_END,
                    f"entry {first_missing}: entries missing at the end: signed statement "
                    f"#{st.id} covers {st.length} entries, the log has {count}",
                    st.id,
                )
            )
        elif (hashes.get(st.length) if st.length else GENESIS) != st.head:
            findings.append(
                _Finding(
                    seq,
                    STATEMENT_MISMATCH,
                    f"entry {st.length}: does not match signed statement #{st.id}: history "
                    f"up to this entry was rewritten",
                    st.id,
                )
            )
    return checked, findings


def _check_checkpoints(db: Session, count: int, tree: tlog.MemoryStore) -> list[_Finding]:
    """Every stored checkpoint: signed by a committee key's log key under its origin, and
    its root the root of the entries as they are now."""
    from crypto import note
    from crypto.encoding import unb64u
    from crypto.errors import CryptoError

    keys = [unb64u(k) for k in db.scalars(select(CommitteeKey.verify_key).where(CommitteeKey.verify_key.is_not(None)))]
    findings = []
    for size, text in db.execute(select(LogCheckpoint.size, LogCheckpoint.note).order_by(LogCheckpoint.size)):
        opened = None
        for key in keys:
            try:
                origin = note.parse_checkpoint(note.parse_note(text).text).origin
                opened = note.open_checkpoint(text, public_log.log_verifier(origin, key))
                break
            except (CryptoError, ValueError):  # VerifyError, FormatError: not this key, or no checkpoint
                continue
        if opened is None or opened.checkpoint.size != size:
            findings.append(
                _Finding(
                    max(size, 1),
                    BAD_CHECKPOINT,
                    f"entry {size}: the checkpoint of size {size} is not signed by a committee key",
                )
            )
        elif size > count:
            findings.append(
                _Finding(
                    count + 1,
                    MISSING_AT_END,
                    f"entry {count + 1}: entries missing at the end: a signed checkpoint "
                    f"covers {size} entries, the log has {count}",
                )
            )
        elif tlog.root_hash(tree, size) != opened.checkpoint.root:
            findings.append(
                _Finding(
                    max(size, 1),
                    CHECKPOINT_MISMATCH,
                    f"entry {size}: does not match the signed checkpoint of size {size}: "
                    f"history up to this entry was rewritten",
                )
            )
    return findings


def _check_member_keys(db: Session) -> list[_Finding]:
    """Every member key in the database is the one its member's last enrolment recorded
    (enrolments before keys were recorded name none, and are not checked)."""
    from crypto.keys import kid
    from whistle.models import Member

    enrolled = {}
    for seq, actor, detail in db.execute(
        select(AuditEntry.seq, AuditEntry.actor, AuditEntry.detail)
        .where(AuditEntry.action == "enrolled")
        .order_by(AuditEntry.seq)
    ):
        try:
            enrolled[actor] = (seq, json.loads(detail).get("key"))
        except (ValueError, AttributeError):
            enrolled[actor] = (seq, None)
    findings = []
    for username, public_key in db.execute(
        select(Member.username, Member.public_key).where(Member.public_key.is_not(None))
    ):
        seq, key = enrolled.get(username, (None, None))
        if key is not None and kid(bytes(public_key)) != key:
            findings.append(
                _Finding(
                    seq,
                    KEY_NOT_ENROLLED,
                    f"entry {seq}: member key differs from the enrolled one: {username}'s key "
                    f"in the database is not the key this enrolment recorded",
                )
            )
    return findings


def verify(db: Session) -> Verdict:
    """Check the chain, the stored head and every signed statement.

    An edited, inserted, reordered or deleted entry breaks the chain at that entry (hash
    mismatch, broken link or sequence gap); entries cut off the end no longer match the
    stored head, reported as the first missing seq. A rewrite that recomputes every hash is
    caught by a signed statement: the entry at its length no longer has the signed hash.
    When several things are wrong, the lowest entry is named.
    """
    tree = tlog.MemoryStore()
    count, last, finding, hashes = _walk(db, set(db.scalars(select(AuditStatement.length))), tree)
    findings = [finding] if finding is not None else []
    stored = db.execute(select(AuditHead.length, AuditHead.head_hash).where(AuditHead.id == 1)).first()
    if finding is None and stored is not None and (stored.length != count or stored.head_hash != last):
        if stored.length > count:
            findings.append(
                _Finding(
                    count + 1,
                    MISSING_AT_END,
                    f"entry {count + 1}: entries missing at the end: the head records "
                    f"{stored.length} entries, the log has {count}",
                )
            )
        elif stored.length < count:
            findings.append(
                _Finding(
                    stored.length + 1,
                    BROKEN_LINK,
                    f"entry {stored.length + 1}: broken link: the head records "
                    f"{stored.length} entries, so this entry and the ones after it "
                    f"were added outside the log",
                )
            )
        else:
            findings.append(
                _Finding(count, HASH_MISMATCH, f"entry {count}: hash mismatch: the last entry is not the recorded head")
            )
    checked, statement_findings = _check_statements(db, count, hashes)
    findings += statement_findings
    if finding is None:
        findings += _check_checkpoints(db, count, tree)
        findings += _check_member_keys(db)
    if not findings:
        return Verdict(count, None, head=last, statements=checked)
    first = min(findings, key=lambda f: f.seq)  # stable: chain findings come first
    return Verdict(
        count,
        first.seq,
        problem=first.problem,
        message=first.message,
        head=last,
        statements=checked,
        statement=first.statement,
    )


def head(db: Session) -> tuple[int, str]:
    """(length, hash of the last entry): what the transparency page publishes."""
    last = db.execute(select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return (last[0], last[1]) if last else (0, GENESIS)


def count(db: Session) -> int:
    """How many entries there are."""
    return db.scalar(select(func.count()).select_from(AuditEntry)) or 0


# --- signed statements ---------------------------------------------------------------------


class SigningRefused(Exception):
    """`sign` refuses: the chain is broken, or the key is not a registered committee key."""


def latest_statement(db: Session) -> AuditStatement | None:
    """The most recent signed statement, if any."""
    return db.scalar(select(AuditStatement).order_by(AuditStatement.id.desc()).limit(1))


def statement_of(row: AuditStatement) -> dict:
    """The signed statement object of a stored row (crypto.signing.statement)."""
    from crypto import signing

    return signing.statement(row.committee_kid, row.length, row.head, row.day)


def register_verify_key(db: Session, keypair) -> str:
    """Record the audit verify key derived from committee ``keypair`` on its CommitteeKey row."""
    from crypto import signing
    from crypto.encoding import b64u

    verify_key = b64u(signing.verify_key_of(keypair.secret))
    row = db.get(CommitteeKey, keypair.kid)
    if row is not None:
        row.verify_key = verify_key
    return verify_key


def sign(db: Session, keypair, on: dt.date, origin: str | None = None) -> AuditStatement:
    """Sign the current (length, head) with the committee key, store the statement, and
    record an ``audit_signed`` entry after it (so the statement covers the log as it was).
    With ``origin``, also sign the public log's checkpoint of the same size with the same key.

    Refuses to vouch for a chain that does not verify, or for a key that is not a committee key.
    """
    from crypto import signing
    from crypto.encoding import b64u

    # The head's lock first (as an append takes it): the chain checked below and the head
    # signed are then one state of the log; an entry appended between the two reads would
    # be vouched for unchecked.
    lock_head(db)
    row = db.get(CommitteeKey, keypair.kid)
    if row is None:
        raise SigningRefused(f"{keypair.kid} is not a registered committee key")
    key = signing.signing_key(keypair.secret)
    verify_key = b64u(bytes(key.verify_key))
    if row.verify_key not in (None, verify_key):
        raise SigningRefused(f"committee key {keypair.kid} records a different audit verify key")
    verdict = verify(db)
    if not verdict.ok:
        raise SigningRefused(f"the audit log does not verify: {verdict.message}")
    row.verify_key = verify_key
    length, last = head(db)
    obj = signing.statement(keypair.kid, length, last, on)
    next_id = (db.scalar(select(func.max(AuditStatement.id))) or 0) + 1
    statement = AuditStatement(
        id=next_id,
        day=on,
        committee_kid=keypair.kid,
        length=length,
        head=last,
        verify_key=verify_key,
        signature=signing.sign(key, obj),
    )
    db.add(statement)
    db.flush()
    if origin is not None:
        public_log.sign_checkpoint(db, origin, key, on)
    record(db, "audit_signed", actor=COMMITTEE_KEY, on=on, statement=next_id, length=length)
    return statement
