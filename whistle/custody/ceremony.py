"""The split committee key: the key ceremony, recovery from shares, re-granting orphaned cases.

Plain functions taking a database session (the CLI wraps them; tests call them). The
committee's private key exists only in memory: ``split_committee_key`` generates it, splits
it (crypto/shares.py, SLIP-39) and writes nothing but the sealed shares;
``recover_committee_key`` rebuilds it from enough shares and hands it back as a KeyPair.
"""

from dataclasses import dataclass
from pathlib import Path

import nacl.bindings as sodium
from sqlalchemy import select
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto import shares
from crypto.errors import CryptoError, FormatError
from crypto.keys import KeyPair, kid
from whistle import catalog
from whistle.custody import audit
from whistle.cases import store as cases
from whistle.models import Case, CaseGrant, CaseItem, CommitteeKey, ItemKey, Member
from whistle.custody.offline import register_key, write_new_file
from whistle.triage.routing import KEY_HOLDER, can_grant
from whistle.cases import actions

# The audit actor of what is done with the committee key itself (the split, a recovery, a
# re-grant), and the granted_by of a re-grant's case_grants row.
ACTOR = "committee-key"
SUFFIX = ".share"


class CeremonyError(Exception):
    """A ceremony or recovery mistake; the message says which (never anything secret)."""


class GrantRefused(CeremonyError):
    """The rules forbid giving this case to this member; the refusal is in the audit log."""

    def __init__(self, case_id: str, username: str, reason: str) -> None:
        super().__init__(f"{case_id}: not re-granted to {username} ({reason})")
        self.case_id = case_id
        self.username = username
        self.reason = reason


# --- the ceremony -----------------------------------------------------------------------------


def share_path(out_dir: Path, holder: str) -> Path:
    """Where a holder's share is written."""
    return Path(out_dir) / f"{holder}{SUFFIX}"


def check_holders(holders, threshold: int, out_dir: Path) -> None:
    """CeremonyError unless the holders and M-of-N make a valid ceremony whose files do not
    exist yet (checked before anyone types a passphrase)."""
    try:
        shares.check_parameters(threshold, len(holders))
    except ValueError as exc:
        raise CeremonyError(str(exc)) from exc
    seen = set()
    for name in holders:
        if not isinstance(name, str) or not shares.HOLDER.match(name):
            raise CeremonyError(f"holder {name!r}: use 1-64 letters, digits, '.', '_' or '-' (it names the share file)")
        if name.casefold() in seen:
            raise CeremonyError(f"holder {name} is listed twice: each holder keeps exactly one share")
        seen.add(name.casefold())
        if share_path(out_dir, name).exists():
            raise CeremonyError(f"{share_path(out_dir, name)} exists; refusing to overwrite a share")


@dataclass(frozen=True)
class Split:
    """What a ceremony made: the key id, the share files (in share order), the audit verify key."""

    kid: str
    paths: list
    verify_key: str


def split_committee_key(
    db: Session,
    out_dir: Path,
    holders: list[tuple[str, str]],
    threshold: int,
    label: str,
    on,
    *,
    opslimit: int = shares.DEFAULT_OPSLIMIT,
    memlimit: int = shares.DEFAULT_MEMLIMIT,
) -> Split:
    """Generate the committee key, split it ``threshold``-of-``len(holders)``, write each
    holder's share sealed under their passphrase to ``out_dir/<holder>.share`` (0600) and
    register the public key (and the audit verify key derived from the secret, as the
    single-file `keys init` does). The private key is never written, not even to a
    temporary file.

    ``holders`` is [(name, passphrase)] in share order. The caller commits; if it does not,
    it should remove the share files.
    """
    out_dir = Path(out_dir)
    check_holders([name for name, _ in holders], threshold, out_dir)
    for name, passphrase in holders:
        if len(passphrase) < 12:
            raise CeremonyError(f"holder {name}: use a passphrase of at least 12 characters")
    keypair = KeyPair.generate()
    mnemonics = shares.split(keypair.secret, threshold, len(holders))
    try:
        texts = [
            shares.seal_share(
                mnemonic,
                shares.ShareHeader(keypair.kid, name, index, threshold, len(holders)),
                passphrase,
                opslimit=opslimit,
                memlimit=memlimit,
            )
            for index, ((name, passphrase), mnemonic) in enumerate(zip(holders, mnemonics), start=1)
        ]
    except ValueError as exc:  # FormatError too: a key-derivation cost out of range, say
        raise CeremonyError(str(exc)) from exc
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for (name, _), text in zip(holders, texts):
            path = share_path(out_dir, name)
            write_new_file(path, text)  # on disk before the key is registered
            written.append(path)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise CeremonyError(f"cannot write the shares: {exc.strerror} ({exc.filename})") from exc
    try:
        register_key(db, keypair.public, label, demo=False, on=on)
        db.flush()
        verify_key = audit.register_verify_key(db, keypair)
        audit.record(
            db,
            "key_split",
            actor=ACTOR,
            on=on,
            key=keypair.kid,
            threshold=threshold,
            count=len(holders),
            holders=[name for name, _ in holders],
        )
    except BaseException:
        for path in written:  # a key that was not registered: its shares are useless
            path.unlink(missing_ok=True)
        raise
    return Split(keypair.kid, written, verify_key)


# --- recovery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareInput:
    """One share file given for recovery: its text, where it came from, its clear header."""

    text: str
    source: str
    header: shares.ShareHeader


def read_share_files(paths) -> list[ShareInput]:
    """Read share files and check, before any passphrase is asked, that they belong to one
    committee key and one split, that no share is given twice and that there are enough.

    NotEnoughShares (with how many were given and are needed) or CeremonyError.
    """
    found = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
            found.append(ShareInput(text, str(path), shares.read_header(text)))
        except OSError as exc:
            raise CeremonyError(f"cannot read {path}: {exc.strerror}") from exc
        except (FormatError, UnicodeDecodeError) as exc:
            raise CeremonyError(f"{path}: not a whistle key-share file ({exc})") from exc
    check_share_set([s.header for s in found])
    return found


def check_share_set(headers: list[shares.ShareHeader]) -> None:
    """The checks of ``read_share_files`` on clear headers alone."""
    if not headers:
        raise CeremonyError("no share given: give the share files with --share")
    first = headers[0]
    for header in headers[1:]:
        if header.committee_kid != first.committee_kid:
            raise CeremonyError(
                f"the shares belong to different committee keys ({first.committee_kid} and {header.committee_kid})"
            )
        if (header.threshold, header.count) != (first.threshold, first.count):
            raise CeremonyError("the shares come from different ceremonies (threshold or count differ)")
    indexes = [h.index for h in headers]
    for index in sorted(set(indexes)):
        if indexes.count(index) > 1:
            raise CeremonyError(f"share {index} ({_holder_of(headers, index)}) is given twice: each share counts once")
    if len(headers) < first.threshold:
        raise shares.NotEnoughShares(len(headers), first.threshold)


def _holder_of(headers, index: int) -> str:
    return next(h.holder for h in headers if h.index == index)


def recover_committee_key(share_texts_with_passphrases, db: Session | None = None) -> KeyPair:
    """Rebuild the committee key, in memory only, from share files and their holders'
    passphrases: [(share file text, passphrase)].

    Checks the set first (one key, one split, no share twice, at least the threshold:
    NotEnoughShares otherwise, before anything is opened), opens each share
    (CeremonyError naming the holder on a wrong passphrase or a changed file), combines
    them, and verifies that the rebuilt secret's public key is the shares' committee key
    and, with ``db``, a committee key registered there.
    """
    given = list(share_texts_with_passphrases)
    headers = []
    for text, _passphrase in given:
        try:
            headers.append(shares.read_header(text))
        except FormatError as exc:
            raise CeremonyError(f"not a whistle key-share file ({exc})") from exc
    check_share_set(headers)
    mnemonics = []
    for (text, passphrase), header in zip(given, headers):
        try:
            mnemonics.append(shares.open_share(text, passphrase))
        except CryptoError as exc:
            raise CeremonyError(
                f"share {header.index} ({header.holder}): wrong passphrase or damaged share file"
            ) from exc
    try:
        secret = shares.combine(mnemonics)
    except shares.NotEnoughShares:
        raise
    except shares.ShareError as exc:
        raise CeremonyError(str(exc)) from exc
    keypair = KeyPair(sodium.crypto_scalarmult_base(secret), secret)
    if keypair.kid != headers[0].committee_kid:
        raise CeremonyError("the shares rebuild a key that is not the committee key they name")
    if db is not None:
        row = db.get(CommitteeKey, keypair.kid)
        if row is None or bytes(row.public_key) != keypair.public:
            raise CeremonyError(f"the rebuilt key {keypair.kid} is not a committee key of this database")
    return keypair


def record_recovery(db: Session, keypair: KeyPair, holders: list[str], on) -> None:
    """Audit that the committee key was rebuilt, and from whose shares."""
    audit.record(db, "key_recovered", actor=ACTOR, on=on, key=keypair.kid, holders=sorted(holders))


# --- orphaned cases and re-grants -------------------------------------------------------------


def _item_kids(db: Session, item: CaseItem) -> set[str]:
    """Every key id that holds the content key of ``item``: in its envelope or re-sealed."""
    kids = set(env.recipient_kids(cases.item_envelope(item)))
    kids.update(db.scalars(select(ItemKey.kid).where(ItemKey.item_id == item.id)))
    return kids


def readers(db: Session, rules, case: Case) -> list[Member]:
    """Members who can open ``case`` today: active, enrolled, allowed by the rules, holding
    a grant whose keys their browser did not report as failing (a hand-over with keys that
    do not open the case leaves it orphaned), and whose current key holds every item's content key (a member who enrolled a
    new key after losing a passphrase keeps the grant row but cannot open anything)."""
    header = catalog.routing_header(case)
    holders = db.scalars(
        select(Member)
        .join(CaseGrant, CaseGrant.member_id == Member.id)
        .where(CaseGrant.case_id == case.id, CaseGrant.key_failed.is_(False), KEY_HOLDER)
        .order_by(Member.username)
    ).all()
    # A real name (item kind "identity") is never held by the case's readers: not counted.
    item_kids = [_item_kids(db, item) for item in case.items if item.kind != "identity"]
    return [
        m
        for m in holders
        if can_grant(rules, header, m.username)[0] and all(kid(m.public_key) in kids for kids in item_kids)
    ]


def orphaned_cases(db: Session, rules) -> list[Case]:
    """Cases (not held for the superior body) that no member can open any more: only the
    committee key holds them. Oldest first."""
    found = db.scalars(select(Case).where(Case.held_for_superior.is_(False)).order_by(Case.received_on, Case.id)).all()
    return [case for case in found if not readers(db, rules, case)]


def member_by_username(db: Session, username: str) -> Member | None:
    """The member account called ``username``, if any."""
    return db.scalar(select(Member).where(Member.username == username))


def regrant(
    db: Session, rules, keypair: KeyPair, case: Case, member: Member | None, on, *, username: str | None = None
) -> int:
    """Give ``member`` the keys of ``case``: open every item's content key with the committee
    key, re-seal it to the member's public key (``item_keys``), add the grant, audit it.
    Returns how many item keys were sealed. A real-name reporter's identity is not among
    them: it is disclosed only through a custodian (whistle.committee.identity).

    A member the rules refuse (their own department is the accused one, an admin, a held
    case, not enrolled) raises GrantRefused after recording ``refused_grant`` in the audit
    log: the caller commits that entry. An item the committee key cannot open raises
    CeremonyError and nothing is written.
    """
    try:
        member = actions.grant_target(
            db, rules, case, member.username if member is not None else username or "", actor=ACTOR, on=on
        )
    except actions.Refused as exc:
        raise GrantRefused(case.id, member.username if member is not None else username, exc.reason) from exc
    sealed = []
    for item in case.items:
        if item.kind == "identity":
            continue
        try:
            content_key = env.open_content_key(cases.item_envelope(item), keypair)
        except (CryptoError, FormatError) as exc:
            raise CeremonyError(f"{case.id}: item {item.seq} is not sealed to committee key {keypair.kid}") from exc
        sealed.append((item.id, sodium.crypto_box_seal(content_key, bytes(member.public_key))))
    actions.record_grant(
        db,
        case,
        member,
        dict(sealed),
        actor=ACTOR,
        granted_by=ACTOR,
        on=on,
        action="regrant",
        key=keypair.kid,
        items=len(sealed),
    )
    db.flush()
    return len(sealed)
