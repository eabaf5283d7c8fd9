"""Cases: creating them, adding sealed items and attachments, finding them by receipt.

One code path for the JSON API, the no-JavaScript forms and the CLI. Every function that
writes does so inside the caller's transaction, so a failure leaves nothing behind.
"""
import datetime as dt
import json
from dataclasses import dataclass
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from crypto import envelope as env
from crypto.errors import FormatError
from crypto.keys import kid
from crypto.receipt import fake_salt, is_locator, verifier_matches
from crypto.stream import HEADER_BYTES
from whistle.catalog import routing_problems
from whistle.errors import InvalidSubmission, LocatorTaken, NoSuchReceipt, NotReady
from whistle.models import Attachment, AttachmentChunk, Case, CaseEvent, CaseItem, CommitteeKey, new_id

STORAGE_CHUNK = 1024 * 1024  # ciphertext is stored in 1 MiB rows


@dataclass(frozen=True)
class Recipient:
    """A public key an envelope must or may be sealed to."""

    kid: str
    public_key: bytes
    label: str


@dataclass
class Upload:
    """An attachment's ciphertext waiting to be stored (a file-like positioned at 0)."""

    id: str
    stream: object


def today(tz: str) -> dt.date:
    """The current day in the committee's time zone: the only time whistle records."""
    return dt.datetime.now(ZoneInfo(tz)).date()


def committee_recipients(db: Session) -> list[Recipient]:
    """The active committee keys every case is sealed to."""
    rows = db.scalars(select(CommitteeKey).where(CommitteeKey.active.is_(True))
                      .order_by(CommitteeKey.kid)).all()
    return [Recipient(r.kid, r.public_key, r.label) for r in rows]


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


def _member_recipient(member) -> Recipient:
    return Recipient(kid(member.public_key), member.public_key, member.username)


def _superior(rules) -> list[Recipient]:
    public_key = rules.superior_public_key()
    if public_key is None:
        raise NotReady()
    return [Recipient(kid(public_key), public_key, "superior")]


def sealing_for(db: Session, rules, header: dict) -> Sealing:
    """Apply routing to a header: the committee key plus eligible members, or, for a report
    that must go straight to the superior body, that body's key alone."""
    from whistle.models import Member
    from whistle.triage.routing import route as route_of

    route = route_of(rules, header)
    if route.held_for_superior:
        return Sealing(route, _superior(rules), [])
    required = committee_recipients(db)
    if not required:
        raise NotReady()
    eligible = db.scalars(select(Member).where(Member.username.in_(route.eligible), Member.active.is_(True),
                                               Member.public_key.is_not(None))
                          .order_by(Member.username)).all() if route.eligible else []
    return Sealing(route, required, [(m, _member_recipient(m)) for m in eligible])


def recipients_for(db: Session, rules, header: dict) -> list[Recipient]:
    """Who a new report with routing ``header`` is sealed to."""
    return sealing_for(db, rules, header).recipients


def case_recipients(db: Session, rules, case: Case) -> list[Recipient]:
    """Who a new item on ``case`` is sealed to (besides the reporter): the committee (or the
    superior body, for a held case) and every member holding a grant."""
    from whistle.models import CaseGrant, Member

    if case.held_for_superior:
        return _superior(rules)
    holders = db.scalars(select(Member).join(CaseGrant, CaseGrant.member_id == Member.id)
                         .where(CaseGrant.case_id == case.id, Member.public_key.is_not(None))
                         .order_by(Member.username)).all()
    return committee_recipients(db) + [_member_recipient(m) for m in holders]


def routing_header(case: Case) -> dict:
    """The clear routing envelope of a case."""
    return {"channel": case.channel, "department": case.department, "category": case.category,
            "accused_rank": case.accused_rank, "money_band": case.money_band,
            "frequency": case.frequency, "evidence": case.evidence}


def check_envelope(envelope: dict, kind: str, required: list[Recipient], optional=()) -> dict:
    """Validate an envelope's shape and recipients; InvalidSubmission if wrong."""
    try:
        env.validate(envelope)
    except FormatError as exc:
        raise InvalidSubmission(detail=f"envelope: {exc}") from exc
    if envelope["kind"] != kind:
        raise InvalidSubmission(detail="envelope: wrong kind")
    kids = set(env.recipient_kids(envelope))
    need = {r.kid for r in required}
    if not need <= kids:
        raise InvalidSubmission(detail="envelope: not sealed to every required recipient")
    if not kids <= need | set(optional):
        raise InvalidSubmission(detail="envelope: sealed to an unknown recipient")
    return envelope


def _store_attachments(db: Session, item: CaseItem, uploads: Iterable[Upload]) -> None:
    for upload in uploads:
        attachment = Attachment(id=upload.id, item_id=item.id, case_id=item.case_id, stored_size=0)
        db.add(attachment)
        idx = 0
        while True:
            data = upload.stream.read(STORAGE_CHUNK)
            if not data:
                break
            db.add(AttachmentChunk(attachment_id=upload.id, idx=idx, data=data))
            attachment.stored_size += len(data)
            idx += 1
            if idx % 16 == 0:
                db.flush()  # keep the unit of work small for very large files
        if attachment.stored_size < HEADER_BYTES:
            raise InvalidSubmission(detail="attachment: not a sealed stream")


def _lock_case(db: Session, case_id: str) -> None:
    """Take the case row's write lock first, so concurrent writers to one case queue up
    instead of both computing the same next sequence number."""
    db.execute(update(Case).where(Case.id == case_id).values(item_count=Case.item_count))


def _add_item(db: Session, case: Case, kind: str, envelope: dict, uploads, on: dt.date) -> CaseItem:
    seq = db.execute(update(Case).where(Case.id == case.id).values(item_count=Case.item_count + 1)
                     .returning(Case.item_count)).scalar_one()
    item = CaseItem(case_id=case.id, seq=seq, kind=kind, created_on=on,
                    envelope=json.dumps(envelope, separators=(",", ":")).encode("ascii"))
    db.add(item)
    db.flush()
    _store_attachments(db, item, uploads)
    return item


def add_event(db: Session, case: Case, event: str, on: dt.date) -> None:
    """Record a timeline event (and the status it implies)."""
    _lock_case(db, case.id)
    seq = (db.scalar(select(func.max(CaseEvent.seq)).where(CaseEvent.case_id == case.id)) or 0) + 1
    db.add(CaseEvent(case_id=case.id, seq=seq, event=event, happened_on=on))
    if event in ("acknowledged", "in_review", "closed"):
        case.status = event


def create_case(db: Session, *, locator: str, salt: bytes, opslimit: int, memlimit: int,
                verifier: bytes, reporter_pk: bytes, envelope: dict, uploads: list[Upload],
                rules, on: dt.date, calendar=None) -> Case:
    """Store a new case with its sealed report, triaged and granted by the rules.

    LocatorTaken if the locator is in use; InvalidSubmission for a bad envelope, routing
    fields, or recipients that routing does not allow (a conflicted member, say).
    """
    from whistle.models import CaseGrant
    from whistle.triage import deadlines, risk

    if not is_locator(locator) or len(salt) != 16 or len(verifier) != 32 or len(reporter_pk) != 32:
        raise InvalidSubmission(detail="receipt fields")
    header = envelope.get("header") if isinstance(envelope, dict) else None
    if not isinstance(header, dict) or routing_problems(header, rules.department_codes):
        raise InvalidSubmission(detail=f"routing: {routing_problems(header or {}, rules.department_codes)}")
    sealing = sealing_for(db, rules, header)
    check_envelope(envelope, "report", sealing.required, [r.kid for _m, r in sealing.members])
    kids = set(env.recipient_kids(envelope))
    assessment = risk.assess(rules, header)
    calendar = calendar or deadlines.WorkCalendar(rules)
    due = deadlines.due_dates(rules, calendar, header["channel"], assessment.grade, on)
    values = dict(id=new_id(), locator=locator, salt=salt, kdf_opslimit=opslimit, kdf_memlimit=memlimit,
                  verifier=verifier, reporter_pk=reporter_pk, received_on=on, status="received",
                  item_count=0, handling_unit=sealing.route.unit, route_reason=sealing.route.reason,
                  held_for_superior=sealing.route.held_for_superior, risk_grade=assessment.grade,
                  risk_score=assessment.score, ack_due=due.get("acknowledge"),
                  feedback_due=due.get("feedback"), risk_override_reason=None, disposition=None,
                  duplicate_of=None, real_name=False, **{k: header[k] for k in header})
    # The case row is this transaction's first write. ON CONFLICT DO NOTHING (rather than a
    # savepoint, which pysqlite would turn into a committed outer transaction) keeps the whole
    # report one unit of work, and a taken locator is simply "no row inserted".
    insert = (sqlite_insert if db.get_bind().dialect.name == "sqlite" else pg_insert)(Case)
    inserted = db.execute(insert.values(**values).on_conflict_do_nothing(index_elements=["locator"])
                          .returning(Case.id)).scalar()
    if inserted is None:
        raise LocatorTaken()
    case = db.get(Case, inserted)
    _add_item(db, case, "report", envelope, uploads, on)
    for member, recipient in sealing.members:
        if recipient.kid in kids:  # the grant is the sealed key: no key, no grant
            db.add(CaseGrant(case_id=case.id, member_id=member.id, granted_on=on, granted_by=None))
    add_event(db, case, "received", on)
    return case


def add_message(db: Session, rules, case: Case, kind: str, envelope: dict, uploads: list[Upload],
                on: dt.date) -> CaseItem:
    """Add a reporter message, a committee reply (both also sealed to the reporter) or an
    internal note (never sealed to the reporter) to ``case``."""
    if not isinstance(envelope, dict) or envelope.get("header") != {"case": case.id}:
        raise InvalidSubmission(detail="envelope: header must name this case")
    required = case_recipients(db, rules, case)
    if kind in ("message", "reply"):
        required = required + [Recipient(kid(case.reporter_pk), case.reporter_pk, "reporter")]
    check_envelope(envelope, kind, required)
    item = _add_item(db, case, kind, envelope, uploads, on)
    if kind == "reply":
        add_event(db, case, "feedback_sent", on)
    return item


def locator_in_use(db: Session, locator: str) -> bool:
    """True if a case already has ``locator``."""
    return db.scalar(select(Case.id).where(Case.locator == locator)) is not None


def salt_for(db: Session, locator: str, instance_secret: bytes, opslimit: int, memlimit: int):
    """(salt, opslimit, memlimit) for ``locator``; a stable fake for unknown locators."""
    case = db.scalar(select(Case).where(Case.locator == locator)) if is_locator(locator) else None
    if case is None:
        return fake_salt(instance_secret, locator), opslimit, memlimit
    return case.salt, case.kdf_opslimit, case.kdf_memlimit


def find_case(db: Session, locator: str, lookup: bytes) -> Case:
    """The case whose receipt yields ``lookup``; NoSuchReceipt otherwise (same for both)."""
    case = db.scalar(select(Case).where(Case.locator == locator)) if is_locator(locator) else None
    stored = case.verifier if case is not None else bytes(32)
    # Compare even when there is no case, so both answers take the same time.
    if not verifier_matches(lookup, stored) or case is None:
        raise NoSuchReceipt()
    return case


def item_envelope(item: CaseItem) -> dict:
    """The stored envelope of an item, parsed."""
    return json.loads(item.envelope)


def attachment_stream(db: Session, attachment_id: str) -> Iterator[bytes]:
    """The stored ciphertext of an attachment, chunk by chunk, without loading it all."""
    idx = 0
    while True:
        data = db.scalar(select(AttachmentChunk.data).where(
            AttachmentChunk.attachment_id == attachment_id, AttachmentChunk.idx == idx))
        if data is None:
            return
        yield bytes(data)
        idx += 1
