"""Cases: creating them, adding sealed items and attachments, finding them by receipt.

One code path for the JSON API, the no-JavaScript forms and the CLI. Every function that
writes does so inside the caller's transaction, so a failure leaves nothing behind.
"""

import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

from sqlalchemy import bindparam, func, insert, literal_column, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto.encoding import b64u
from crypto.errors import FormatError
from crypto.keys import derive, kid
from crypto.receipt import fake_salt, is_locator, random_locator, verifier_matches
from crypto.stream import HEADER_BYTES
from whistle.catalog import ACCUSED_FIELD, NOTICE_FIELD, ROUTING_FIELDS, routing_problems
from whistle.errors import CasePurged, InvalidSubmission, LocatorTaken, NoSuchReceipt, NotReady, RecipientsChanged
from whistle.models import (
    Attachment,
    AttachmentChunk,
    Case,
    CaseEvent,
    CaseGrant,
    CaseItem,
    CommitteeKey,
    Member,
    new_id,
)
from whistle.cases.uploads import is_attachment_id
from whistle.triage.routing import KEY_HOLDER
from whistle.services import services

STORAGE_CHUNK = 1024 * 1024  # ciphertext is stored in 1 MiB rows
MAX_LOCATOR_TRIES = 20
COST_CACHE_SECONDS = 60


@dataclass(frozen=True)
class Recipient:
    """A public key an envelope must or may be sealed to."""

    kid: str
    public_key: bytes
    label: str  # for the committee only (a member's username): never shown to the public
    role: str = "committee"  # committee, member, custodian, superior or reporter


@dataclass(frozen=True)
class StoredCase:
    """What create_case stored that its callers show: not a loaded Case (nothing of the case
    is read back); load one from the session to see its items and events."""

    id: str
    received_on: dt.date
    notice_id: str | None


@dataclass
class Upload:
    """An attachment's ciphertext waiting to be stored (a file-like positioned at 0)."""

    id: str
    stream: object


# The statements a new report runs, built once: executed with parameters, SQLAlchemy
# compiles each once per dialect and caches it, so a report's time goes to the database
# rather than to building SQL. Core tables, not ORM entities: nothing here needs objects.
_keys, _members = CommitteeKey.__table__, Member.__table__
_ACTIVE_KEYS = (
    select(_keys.c.kid, _keys.c.public_key, _keys.c.label).where(_keys.c.active.is_(True)).order_by(_keys.c.kid)
)
_ELIGIBLE_MEMBERS = (
    select(_members.c.id, _members.c.username, _members.c.public_key)
    .where(_members.c.username.in_(bindparam("names", expanding=True)), KEY_HOLDER)
    .order_by(_members.c.username)
)
# Who a new report is sealed to, in one read: the active committee keys and every member
# who may hold keys (KEY_HOLDER), the members routing chose picked out in Python. Committees are small, so
# reading them all costs less than a second round trip; and the statement never changes
# (no list of names to prepare on every call). One read, never a cache: a member
# deactivated a moment ago is not sealed to.
_ROUTING_READ = union_all(
    select(
        literal_column("'key'").label("source"),
        _keys.c.kid.label("ref"),
        _keys.c.label.label("name"),
        _keys.c.public_key,
    ).where(_keys.c.active.is_(True)),
    select(literal_column("'member'"), _members.c.id, _members.c.username, _members.c.public_key).where(KEY_HOLDER),
)
_INSERT_CASE = {
    name: dialect_insert(Case.__table__)
    .on_conflict_do_nothing(index_elements=["locator"])
    .returning(Case.__table__.c.id)
    for name, dialect_insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}
_INSERT_ITEM = insert(CaseItem.__table__)
_INSERT_GRANT = insert(CaseGrant.__table__)
_INSERT_EVENT = insert(CaseEvent.__table__)


def committee_recipients(db: Session) -> list[Recipient]:
    """The active committee keys every case is sealed to."""
    return [Recipient(r.kid, bytes(r.public_key), r.label, "committee") for r in db.execute(_ACTIVE_KEYS)]


def eligible_members(db: Session, usernames) -> list:
    """Rows (id, username, public_key) of the active, enrolled members among ``usernames``."""
    if not usernames:
        return []
    return db.execute(_ELIGIBLE_MEMBERS, {"names": sorted(usernames)}).all()


@dataclass(frozen=True)
class MemberRow:
    """A member who may hold keys (KEY_HOLDER), as routing reads them."""

    id: str
    username: str
    public_key: bytes


def routing_read(db: Session, usernames) -> tuple[list[Recipient], list[MemberRow]]:
    """(the active committee keys, by kid; the members among ``usernames`` who may hold keys,
    by username), from one statement."""
    wanted = set(usernames)
    keys, people = [], []
    for row in db.execute(_ROUTING_READ):
        if row.source == "key":
            keys.append(Recipient(row.ref, bytes(row.public_key), row.name, "committee"))
        elif row.name in wanted:
            people.append(MemberRow(row.ref, row.name, bytes(row.public_key)))
    return sorted(keys, key=lambda r: r.kid), sorted(people, key=lambda m: m.username)


@dataclass(frozen=True)
class Sealing:
    """Who a new report must be sealed to (required) and may be (members routing grants)."""

    route: object
    required: list
    members: list  # (Member, Recipient) of eligible, enrolled members

    @property
    def recipients(self) -> list[Recipient]:
        """Everyone the sealer should include."""
        return self.required + [r for _m, r in self.members]


def _member_recipient(member, role: str = "member") -> Recipient:
    """A member (an ORM object or an (id, username, public_key) row) as a recipient."""
    public_key = bytes(member.public_key)
    return Recipient(kid(public_key), public_key, member.username, role)


def _superior(rules) -> list[Recipient]:
    public_key = rules.superior_public_key()
    if public_key is None:
        raise NotReady()
    return [Recipient(kid(public_key), public_key, "superior", "superior")]


def sealing_for(db: Session, rules, header: dict) -> Sealing:
    """Apply routing to a header: the committee key plus eligible members, or, for a report
    that must go straight to the superior body, that body's key alone."""
    from whistle.triage.routing import route as route_of

    route = route_of(rules, header)
    if route.held_for_superior:
        return Sealing(route, _superior(rules), [])
    required, eligible = routing_read(db, route.eligible)
    if not required:
        raise NotReady()
    return Sealing(route, required, [(m, _member_recipient(m)) for m in eligible])


def recipients_for(db: Session, rules, header: dict) -> list[Recipient]:
    """Who a new report with routing ``header`` is sealed to."""
    return sealing_for(db, rules, header).recipients


def identity_recipients(db: Session, rules, header: dict) -> tuple[list[Recipient], list[Recipient]]:
    """(required, optional) recipients of a real-name reporter's identity (FORMAT.md §3):
    the committee key(s), required, and the enrolled custodians routing allows, never the
    members routing chose nor the reporter; for a case held for the superior body, that
    body's key alone."""
    from whistle.triage.routing import custodians, route as route_of

    if route_of(rules, header).held_for_superior:
        return _superior(rules), []
    required = committee_recipients(db)
    if not required:
        raise NotReady()
    return required, [_member_recipient(m, "custodian") for m in eligible_members(db, custodians(rules, header))]


def case_recipients(db: Session, rules, case: Case) -> list[Recipient]:
    """Who a new item on ``case`` is sealed to (besides the reporter): the committee (or the
    superior body, for a held case) and every member holding a grant who may still hold it:
    active, and by the rules as they are now a reader without a conflict in the case. (A
    member deactivated or found conflicted keeps what they were given; they are sealed
    nothing new.)"""
    from whistle.triage.routing import holder_refusal

    if case.held_for_superior:
        return _superior(rules)
    holders = db.scalars(
        select(Member)
        .join(CaseGrant, CaseGrant.member_id == Member.id)
        .where(CaseGrant.case_id == case.id, KEY_HOLDER)
        .order_by(Member.username)
    ).all()
    return committee_recipients(db) + [
        _member_recipient(m)
        for m in holders
        if holder_refusal(rules, m.username, case.department, case.accused_member) is None
    ]


def check_envelope(
    envelope: dict,
    kind: str,
    required: list[Recipient],
    optional=(),
    recipients_error: type[InvalidSubmission] = InvalidSubmission,
) -> dict:
    """Validate an envelope's shape and recipients; InvalidSubmission if wrong, or
    ``recipients_error`` if only the recipients are (a message to an existing case:
    RecipientsChanged, which its sender answers by reading them again)."""
    try:
        env.validate(envelope)
    except FormatError as exc:
        raise InvalidSubmission(detail=f"envelope: {exc}") from exc
    if envelope["kind"] != kind:
        raise InvalidSubmission(detail="envelope: wrong kind")
    kids = set(env.recipient_kids(envelope))
    need = {r.kid for r in required}
    if not need <= kids:
        raise recipients_error(detail="envelope: not sealed to every required recipient")
    if not kids <= need | set(optional):
        raise recipients_error(detail="envelope: sealed to an unknown recipient")
    return envelope


_attachments, _chunks = Attachment.__table__, AttachmentChunk.__table__
_ATTACHMENT_ID_TAKEN = select(_attachments.c.id).where(_attachments.c.id == bindparam("attachment_id"))
_INSERT_ATTACHMENT = insert(_attachments)
_INSERT_CHUNK = insert(_chunks)
_SET_STORED_SIZE = (
    update(_attachments)
    .where(_attachments.c.id == bindparam("attachment_id"))
    .values(stored_size=bindparam("stored_size"))
)


def _new_attachment(db: Session, case_id: str, item_id: str, attachment_id: str) -> None:
    """Insert an attachment row. Ids are chosen by the sender, so an id already stored is
    refused here, inside the transaction, rather than failing the commit with a 500."""
    if db.execute(_ATTACHMENT_ID_TAKEN, {"attachment_id": attachment_id}).first() is not None:
        raise InvalidSubmission(detail="attachment: id already in use")
    try:
        db.execute(_INSERT_ATTACHMENT, {"id": attachment_id, "item_id": item_id, "case_id": case_id, "stored_size": 0})
    except IntegrityError as exc:  # the same id raced in from a concurrent request
        raise InvalidSubmission(detail="attachment: id already in use") from exc


def _store_attachments(db: Session, case_id: str, item_id: str, uploads: Iterable[Upload]) -> None:
    """Store each upload's ciphertext in 1 MiB rows, one at a time (memory stays flat)."""
    for upload in uploads:
        _new_attachment(db, case_id, item_id, upload.id)
        stored = idx = 0
        while data := upload.stream.read(STORAGE_CHUNK):
            db.execute(_INSERT_CHUNK, {"attachment_id": upload.id, "idx": idx, "data": data})
            stored += len(data)
            idx += 1
        if stored < HEADER_BYTES:
            raise InvalidSubmission(detail="attachment: not a sealed stream")
        db.execute(_SET_STORED_SIZE, {"attachment_id": upload.id, "stored_size": stored})


def _lock_case(db: Session, case_id: str) -> None:
    """Take the case row's write lock first, so concurrent writers to one case queue up
    instead of both computing the same next sequence number."""
    db.execute(update(Case).where(Case.id == case_id).values(item_count=Case.item_count))


def locked(db: Session, case: Case) -> Case:
    """The case with its row's write lock taken and its columns read again after it: what a
    change that depends on the current status must look at (another member may have just
    changed it)."""
    _lock_case(db, case.id)
    db.refresh(case)
    return case


def _add_item(db: Session, case: Case, kind: str, envelope: dict, uploads, on: dt.date) -> CaseItem:
    seq = db.execute(
        update(Case).where(Case.id == case.id).values(item_count=Case.item_count + 1).returning(Case.item_count)
    ).scalar_one()
    item = CaseItem(case_id=case.id, seq=seq, kind=kind, created_on=on, envelope=_stored(envelope))
    db.add(item)
    db.flush()
    _store_attachments(db, case.id, item.id, uploads)
    return item


def _stored(envelope: dict) -> bytes:
    """An envelope as stored: compact JSON (its values are base64url and ASCII keys)."""
    return json.dumps(envelope, separators=(",", ":")).encode("ascii")


def _insert_item(db: Session, case_id: str, seq: int, kind: str, envelope: dict, on: dt.date) -> str:
    """Insert item ``seq`` of a case being created (no other writer can see it yet, so the
    number needs no lock); its id."""
    item_id = new_id()
    db.execute(
        _INSERT_ITEM,
        {"id": item_id, "case_id": case_id, "seq": seq, "kind": kind, "envelope": _stored(envelope), "created_on": on},
    )
    return item_id


def add_event(db: Session, case: Case, event: str, on: dt.date) -> None:
    """Record a timeline event (and the status it implies)."""
    _lock_case(db, case.id)
    seq = (db.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case.id)) or 0) + 1
    db.add(CaseEvent(case_id=case.id, seq=seq, event=event, happened_on=on))
    if event in ("acknowledged", "in_review", "closed"):
        case.status = event


def check_identity(db: Session, rules, header: dict, report: dict, identity) -> dict:
    """Validate a real-name reporter's identity envelope (FORMAT.md §3): kind ``identity``,
    bound to the report by its nonce, sealed to the committee (or superior) key and at most
    the custodians: never to a routed member or the reporter."""
    if not isinstance(identity, dict) or identity.get("header") != {"report": report.get("nonce")}:
        raise InvalidSubmission(detail="identity: header must name the report's nonce")
    required, optional = identity_recipients(db, rules, header)
    return check_envelope(identity, "identity", required, [r.kid for r in optional])


def check_reporter_key(report: dict, reporter_pk: bytes) -> None:
    """A new report must be version 2 and bind the reporter key submitted with it (FORMAT.md
    §3): replies are sealed to that key, so a report must say which key is its reporter's."""
    if report["v"] != env.VERSION or env.reporter_key_binding(report, reporter_pk) != env.BOUND:
        raise InvalidSubmission(detail="envelope: the report must bind the reporter key submitted with it")


def work_calendar(rules):
    """The app's working-day calendar, built once per app (a fresh one outside a request)."""
    from flask import has_app_context

    from whistle.triage import deadlines

    return services().calendar if has_app_context() else deadlines.WorkCalendar(rules)


def create_case(
    db: Session,
    *,
    locator: str,
    salt: bytes,
    opslimit: int,
    memlimit: int,
    verifier: bytes,
    reporter_pk: bytes,
    envelope: dict,
    uploads: list[Upload],
    rules,
    on: dt.date,
    calendar=None,
    identity: dict | None = None,
    now: dt.datetime | None = None,
    tz: str = "Asia/Shanghai",
    sealing: Sealing | None = None,
    commitment: str | None = None,
) -> StoredCase:
    """Store a new case with its sealed report, triaged and granted by the rules.

    ``identity``: a real-name reporter's sealed name and contact, stored as the case's item
    of kind ``identity`` (the case is then ``real_name``). A comment on a notice (channel
    ``notice``) is accepted only while the notice's window is open at ``now`` (default: this
    instant) in time zone ``tz``.

    LocatorTaken if the locator is in use; InvalidSubmission for a bad envelope, routing
    fields, or recipients that routing does not allow (a conflicted member, say);
    NoticeClosed / NoticeNotOpen / NoSuchNotice for a comment outside its notice's window.

    ``sealing``: the caller's sealing_for(header), read just before, when the server sealed
    the envelope itself (whistle.cases.sealing); one routed for another header is not used, and
    without one routing is applied here.

    ``commitment``: the receipt's log commitment (crypto/FORMAT.md §10), kept with the case's
    intake until its day enters the public log (whistle.custody.intake_log).
    """
    from whistle.channels import notices
    from whistle.custody import intake_log
    from whistle.triage import deadlines, risk
    from whistle.triage.routing import route as route_of

    if not is_locator(locator) or len(salt) != 16 or len(verifier) != 32 or len(reporter_pk) != 32:
        raise InvalidSubmission(detail="receipt fields")
    header = envelope.get("header") if isinstance(envelope, dict) else None
    # A list, a string or null as the header has no routing fields at all. The reporter key id
    # (rk) is the report's, not routing's: routing reads the rest.
    header = {k: v for k, v in header.items() if k != env.REPORTER_KEY_FIELD} if isinstance(header, dict) else {}
    problems = routing_problems(header, rules.department_codes)
    if not problems and ACCUSED_FIELD in header and header[ACCUSED_FIELD] not in rules.member_usernames:
        problems = [ACCUSED_FIELD]
    if problems:
        raise InvalidSubmission(detail=f"routing: {problems}")
    notices.check_comment_header(db, header, now or dt.datetime.now(dt.timezone.utc), tz)
    if sealing is None or sealing.route != route_of(rules, header):
        sealing = sealing_for(db, rules, header)
    check_envelope(envelope, "report", sealing.required, [r.kid for _m, r in sealing.members])
    check_reporter_key(envelope, reporter_pk)
    if identity is not None:
        check_identity(db, rules, header, envelope, identity)
    kids = set(env.recipient_kids(envelope))
    assessment = risk.assess(rules, header)
    calendar = calendar or work_calendar(rules)
    real_name = identity is not None
    due = deadlines.due_dates(rules, calendar, header["channel"], assessment.grade, on, real_name=real_name)
    ack_due = due["acknowledge"]
    if real_name:  # 实名举报: the notice of acceptance may fall due first
        ack_due = min(ack_due, due["acceptance_notice"])
    values = dict(
        id=new_id(),
        locator=locator,
        salt=salt,
        kdf_opslimit=opslimit,
        kdf_memlimit=memlimit,
        verifier=verifier,
        reporter_pk=reporter_pk,
        received_on=on,
        status="received",
        item_count=2 if identity is not None else 1,
        handling_unit=sealing.route.unit,
        route_reason=sealing.route.reason,
        held_for_superior=sealing.route.held_for_superior,
        risk_grade=assessment.grade,
        risk_score=assessment.score,
        ack_due=ack_due,
        feedback_due=due.get("feedback"),
        risk_override_reason=None,
        disposition=None,
        duplicate_of=None,
        real_name=real_name,
        notice_id=header.get(NOTICE_FIELD),
        accused_member=header.get(ACCUSED_FIELD),
        **{k: header[k] for k in ROUTING_FIELDS},
    )
    # The case row is this transaction's first write. ON CONFLICT DO NOTHING (rather than a
    # savepoint, which pysqlite would turn into a committed outer transaction) keeps the whole
    # report one unit of work, and a taken locator is simply "no row inserted".
    insert_case = _INSERT_CASE.get(db.get_bind().dialect.name, _INSERT_CASE["postgresql"])
    case_id = db.execute(insert_case, values).scalar()
    if case_id is None:
        raise LocatorTaken()
    # A new case is invisible to every other transaction until this one commits, so its
    # items and its first event are numbered 1, 2 without locking or counting.
    report_id = _insert_item(db, case_id, 1, "report", envelope, on)
    _store_attachments(db, case_id, report_id, uploads)
    if identity is not None:  # a separate item, sealed to other keys, in the same transaction
        _insert_item(db, case_id, 2, "identity", identity, on)
    grants = [
        {"case_id": case_id, "member_id": member.id, "granted_on": on, "granted_by": None}
        for member, recipient in sealing.members
        if recipient.kid in kids
    ]  # the grant is the sealed key: no key, no grant
    if grants:
        db.execute(_INSERT_GRANT, grants)
    db.execute(_INSERT_EVENT, {"id": new_id(), "case_id": case_id, "seq": 1, "event": "received", "happened_on": on})
    intake_log.hold(db, case_id, on, commitment)
    return StoredCase(case_id, values["received_on"], values["notice_id"])


def add_message(
    db: Session, rules, case: Case, kind: str, envelope: dict, uploads: list[Upload], on: dt.date
) -> CaseItem:
    """Add a reporter message, a committee reply (both also sealed to the reporter) or an
    internal note (never sealed to the reporter) to ``case``; CasePurged for a purged case
    (its status read under the case's row lock, so a purge committing meanwhile is seen)."""
    if locked(db, case).status == "purged":
        raise CasePurged()
    if not isinstance(envelope, dict) or envelope.get("header") != {"case": case.id}:
        raise InvalidSubmission(detail="envelope: header must name this case")
    required = case_recipients(db, rules, case)
    if kind in ("message", "reply"):
        required = required + [Recipient(kid(case.reporter_pk), case.reporter_pk, "reporter", "reporter")]
    check_envelope(envelope, kind, required, recipients_error=RecipientsChanged)
    item = _add_item(db, case, kind, envelope, uploads, on)
    if kind == "reply":
        add_event(db, case, "feedback_sent", on)
    return item


def identity_item(case: Case) -> CaseItem | None:
    """The sealed identity of a real-name case (None for an anonymous one)."""
    return next((item for item in case.items if item.kind == "identity"), None)


def real_name_due(rules, calendar, case: Case) -> dict | None:
    """For a real-name case: the day the notice of acceptance is due and, once the case is
    closed, the day the notice of the result is due; None for an anonymous case."""
    from whistle.triage import deadlines

    if not case.real_name:
        return None
    closed = [e.happened_on for e in case.events if e.event == "closed"]
    due = deadlines.due_dates(
        rules,
        calendar,
        case.channel,
        case.risk_grade,
        case.received_on,
        real_name=True,
        closed_on=closed[-1] if closed else None,
    )
    return {"acceptance_notice": due["acceptance_notice"], "result_notice": due["result_notice"]}


def locator_in_use(db: Session, locator: str) -> bool:
    """True if a case already has ``locator``."""
    return db.scalar(select(Case.id).where(Case.locator == locator)) is not None


def unused_locator(db: Session) -> str:
    """A random locator no case has yet (uniqueness is finally enforced by the insert)."""
    for _ in range(MAX_LOCATOR_TRIES):
        locator = random_locator()
        if not locator_in_use(db, locator):
            return locator
    raise InvalidSubmission(detail="no free locator")  # pragma: no cover - 10^7 locators


def locator_token(instance_secret: bytes, locator: str, day: dt.date) -> str:
    """The token binding a server-issued ``locator`` to the day it was issued (FORMAT.md §1).

    Browsers may only submit under locators the server handed out, so a 409 for a taken
    locator says nothing about anyone else's case.
    """
    key = derive(instance_secret, "whistle/v1/locator-token")
    message = f"{locator}|{day.isoformat()}".encode("ascii")
    return b64u(hmac.new(key, message, hashlib.sha256).digest())


def locator_token_valid(instance_secret: bytes, locator: str, token, today_: dt.date) -> bool:
    """True if ``token`` was issued for ``locator`` today or yesterday (a form filled in
    over midnight still goes through; older tokens are refused)."""
    if not isinstance(token, str) or not is_locator(locator):
        return False
    presented = token.encode("utf-8")
    return any(
        hmac.compare_digest(presented, locator_token(instance_secret, locator, day).encode("ascii"))
        for day in (today_, today_ - dt.timedelta(days=1))
    )


_cost_cache: dict[str, tuple[float, list]] = {}


def cost_distribution(db: Session) -> list[tuple[int, int, int]]:
    """(opslimit, memlimit, number of cases) for every receipt cost in use, in a fixed
    order. Cached per process for a minute: it changes slowly, and counting every case on
    each salt request would cost far more than the answer."""
    key = str(db.get_bind().url)  # one cache per database (the password is masked)
    cached = _cost_cache.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    rows = db.execute(
        select(Case.kdf_opslimit, Case.kdf_memlimit, func.count())
        .group_by(Case.kdf_opslimit, Case.kdf_memlimit)
        .order_by(Case.kdf_opslimit, Case.kdf_memlimit)
    ).all()
    distribution = [(int(ops), int(mem), int(n)) for ops, mem, n in rows]
    _cost_cache[key] = (time.monotonic() + COST_CACHE_SECONDS, distribution)
    return distribution


def forget_cost_distribution() -> None:
    """Drop the cached cost distribution (tests; a new cost takes effect within a minute anyway)."""
    _cost_cache.clear()


def fake_cost(db: Session, instance_secret: bytes, locator: str, opslimit: int, memlimit: int) -> tuple[int, int]:
    """The cost answered for a locator without a case: drawn, stably per locator, from the
    costs of existing cases weighted by how many cases use each, so the cost does not tell
    a real case from a fake one, even after the site's cost changed (only a locator at a
    boundary between two costs may switch as counts grow). ``opslimit``/``memlimit`` (the
    configured cost) while there are no cases."""
    distribution = cost_distribution(db)
    total = sum(n for _ops, _mem, n in distribution)
    if not total:
        return opslimit, memlimit
    key = derive(instance_secret, "whistle/v1/receipt/fake-cost")
    uniform = int.from_bytes(hmac.new(key, locator.encode("utf-8"), hashlib.sha256).digest()[:8], "big")
    # A point in [0, total), scaled rather than reduced modulo total: as counts grow, a
    # locator keeps its cost unless it sits right at a boundary between two costs.
    point = (uniform * total) >> 64
    for ops, mem, n in distribution:
        if point < n:
            return ops, mem
        point -= n
    raise AssertionError("unreachable: point < total")  # pragma: no cover


def salt_for(db: Session, locator: str, instance_secret: bytes, opslimit: int, memlimit: int):
    """(salt, opslimit, memlimit) for ``locator``: the case's own, or a stable fake salt and
    a fake cost (see fake_cost) for a locator without a case."""
    fake = fake_cost(db, instance_secret, locator, opslimit, memlimit)  # both paths: same work
    row = (
        db.execute(select(Case.salt, Case.kdf_opslimit, Case.kdf_memlimit).where(Case.locator == locator)).first()
        if is_locator(locator)
        else None
    )
    if row is None:
        return (fake_salt(instance_secret, locator), *fake)
    return bytes(row.salt), row.kdf_opslimit, row.kdf_memlimit


def find_case(db: Session, locator: str, lookup: bytes) -> Case:
    """The case whose receipt yields ``lookup``; NoSuchReceipt otherwise (same for both).

    Only the verifier is read for the comparison, and it is compared even when there is no
    case, so a known and an unknown locator cost the same; the case is loaded on a match.
    """
    row = (
        db.execute(select(Case.id, Case.verifier).where(Case.locator == locator)).first()
        if is_locator(locator)
        else None
    )
    stored = bytes(row.verifier) if row is not None else bytes(32)
    if not verifier_matches(lookup, stored) or row is None:
        raise NoSuchReceipt()
    return db.get(Case, row.id)


def attachment_meta_problem(meta) -> str | None:
    """Why an attachment entry of an opened body is unusable, or None if it is well formed.

    Bodies of reporter messages are sealed by whoever holds the receipt, so every entry is
    checked before it is shown, downloaded or decrypted.
    """
    if not isinstance(meta, dict):
        return "not an object"
    if not is_attachment_id(meta.get("id")):
        return "bad id"
    if not isinstance(meta.get("name"), str):
        return "bad name"
    size = meta.get("size")
    if type(size) is not int or size < 0:  # bool is an int subclass: excluded by type()
        return "bad size"
    return None


def item_envelope(item: CaseItem) -> dict:
    """The stored envelope of an item, parsed."""
    return json.loads(item.envelope)


def attachment_stream(db: Session, attachment_id: str) -> Iterator[bytes]:
    """The stored ciphertext of an attachment, chunk by chunk, without loading it all."""
    idx = 0
    while True:
        data = db.scalar(
            select(AttachmentChunk.data).where(
                AttachmentChunk.attachment_id == attachment_id, AttachmentChunk.idx == idx
            )
        )
        if data is None:
            return
        yield bytes(data)
        idx += 1


def reporter_deadlines(case: Case, today: dt.date, rules=None, calendar=None) -> dict:
    """What the reporter's timeline promises and whether it was kept: the acknowledgement
    and feedback due dates, and whether either is overdue (so a case cannot be quietly
    buried). Overdue means the due day has passed without the step being taken.

    With ``rules`` and ``calendar``, a real-name case that was closed also gets the day the
    notice of its result is due (``result_notice_by``): overdue until the committee replies
    after closing it."""
    events = {e.event for e in case.events}
    acknowledged = bool(events & {"acknowledged", "in_review", "closed", "purged"})
    fed_back = outcome_told(case) is not None or bool(events & {"closed", "purged"})
    shown = {
        "acknowledge_by": case.ack_due,
        "feedback_by": case.feedback_due,
        "acknowledge_overdue": bool(case.ack_due and not acknowledged and today > case.ack_due),
        "feedback_overdue": bool(case.feedback_due and not fed_back and today > case.feedback_due),
    }
    due = real_name_due(rules, calendar, case) if rules is not None and calendar is not None else None
    if due and due["result_notice"]:
        shown["result_notice_by"] = due["result_notice"]
        shown["result_notice_overdue"] = today > due["result_notice"] and not result_notice_sent(case)
    return shown


def outcome_told(case: Case) -> CaseEvent | None:
    """The reply that told the reporter the outcome: the first committee reply after the
    decision (after the last closing, when no decision was recorded); None before that. A
    reply before the decision is an interim message. case_listing._open_due says the same
    in SQL."""
    decided = min((e.seq for e in case.events if e.event == "disposition"), default=None)
    closed = max((e.seq for e in case.events if e.event == "closed"), default=None)
    after = decided if decided is not None else closed
    if after is None:
        return None
    return min(
        (e for e in case.events if e.event == "feedback_sent" and e.seq > after), key=lambda e: e.seq, default=None
    )


def result_notice_sent(case: Case) -> bool:
    """True once the committee replied to the reporter after (last) closing the case."""
    closed_at = max((e.seq for e in case.events if e.event == "closed"), default=None)
    return closed_at is not None and any(e.event == "feedback_sent" and e.seq > closed_at for e in case.events)
