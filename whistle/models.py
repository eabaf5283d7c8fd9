"""Tables. Only ciphertext, enum routing fields and dates (never times) are stored."""

import datetime as dt
import secrets

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


# SQLite's hidden rowid would number rows in insertion order, which random ids exist to hide.
NO_ROWID = {"sqlite_with_rowid": False}


def new_id() -> str:
    """A random 128-bit identifier; sequential ids would leak order and volume."""
    return secrets.token_hex(16)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class CommitteeKey(Base):
    """A committee public key reports are sealed to (the private half is never here)."""

    __tablename__ = "committee_keys"
    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    label: Mapped[str] = mapped_column(String(200))
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_on: Mapped[dt.date] = mapped_column(Date)
    # base64url Ed25519 verify key of the audit-signing key derived from this key's secret
    # half (crypto.signing); recorded by `keys init` or the first `audit sign`.
    verify_key: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Case(Base):
    """A report's case: receipt verifier, reporter public key, routing enums, status."""

    __tablename__ = "cases"
    # The member's case list (whistle.committee.case_listing) reads one tier and grade at a time
    # in (received_on, id) order: closed and not-yet-due cases from the whole table, overdue
    # ones from the open cases and the real-name ones (the few due soon come from the ack_due
    # and feedback_due indexes, and the real-name one). The queries spell the status test exactly so, for both databases to match it.
    __table_args__ = (
        Index("ix_cases_grade_received", "risk_grade", "received_on", "id"),
        Index(
            "ix_cases_open_grade_received",
            "risk_grade",
            "received_on",
            "id",
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
        # Real-name cases: once closed, the only closed ones that can still be overdue or due soon (the
        # notice of the result); the list reads them apart from the open ones.
        Index(
            "ix_cases_real_name_grade_received",
            "risk_grade",
            "received_on",
            "id",
            sqlite_where=text("real_name = true"),
            postgresql_where=text("real_name = true"),
        ),
        NO_ROWID,
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    locator: Mapped[str] = mapped_column(String(7), unique=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    kdf_opslimit: Mapped[int] = mapped_column(Integer)
    kdf_memlimit: Mapped[int] = mapped_column(Integer)
    verifier: Mapped[bytes] = mapped_column(LargeBinary(32))
    reporter_pk: Mapped[bytes] = mapped_column(LargeBinary(32))
    channel: Mapped[str] = mapped_column(String(32), index=True)
    department: Mapped[str] = mapped_column(String(64), index=True)
    category: Mapped[str] = mapped_column(String(32))
    accused_rank: Mapped[str] = mapped_column(String(32))
    money_band: Mapped[str] = mapped_column(String(32))
    frequency: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), default="received", index=True)
    received_on: Mapped[dt.date] = mapped_column(Date, index=True)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    # Triage, decided by whistle.triage from the clear routing fields and the rules file.
    handling_unit: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    route_reason: Mapped[str] = mapped_column(String(40), default="")
    held_for_superior: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_grade: Mapped[str] = mapped_column(String(8), default="low", index=True)
    risk_score: Mapped[int] = mapped_column(Integer, default=0)
    risk_override_reason: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(32), nullable=True)
    duplicate_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    real_name: Mapped[bool] = mapped_column(Boolean, default=False)
    ack_due: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    feedback_due: Mapped[dt.date | None] = mapped_column(Date, nullable=True, index=True)
    # The pre-appointment notice a comment is about (channel "notice" only; whistle.channels.notices).
    notice_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # A committee member the report names as the accused (username, clear header field
    # ``accused_member``): routing keeps the case from them by identity.
    accused_member: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Retention decided when the case closed (whistle.cases.actions): the day its period
    # ends (it may be purged from then on), and who confirmed a 高危 closure. The purge
    # follows these, never the current disposition alone.
    retention_ends: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    closure_confirmed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    items: Mapped[list["CaseItem"]] = relationship(
        back_populates="case", order_by="CaseItem.seq", cascade="all, delete-orphan"
    )
    events: Mapped[list["CaseEvent"]] = relationship(
        back_populates="case", order_by="CaseEvent.seq", cascade="all, delete-orphan"
    )


class CaseItem(Base):
    """One sealed envelope of a case: the report, a reporter message or a reply."""

    __tablename__ = "case_items"
    __table_args__ = (UniqueConstraint("case_id", "seq"), NO_ROWID)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    created_on: Mapped[dt.date] = mapped_column(Date)

    case: Mapped[Case] = relationship(back_populates="items")
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="item", cascade="all, delete-orphan")


class Attachment(Base):
    """An attachment's ciphertext stream, stored as ordered chunks."""

    __tablename__ = "attachments"
    __table_args__ = NO_ROWID
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("case_items.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    stored_size: Mapped[int] = mapped_column(Integer)

    item: Mapped[CaseItem] = relationship(back_populates="attachments")
    chunks: Mapped[list["AttachmentChunk"]] = relationship(
        order_by="AttachmentChunk.idx", cascade="all, delete-orphan", lazy="raise"
    )


class AttachmentChunk(Base):
    """One slice (up to 1 MiB) of an attachment's ciphertext."""

    __tablename__ = "attachment_chunks"
    __table_args__ = NO_ROWID
    attachment_id: Mapped[str] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class CaseEvent(Base):
    """A timeline entry the reporter sees: received, acknowledged, in review, closed, feedback."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"), NO_ROWID)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    happened_on: Mapped[dt.date] = mapped_column(Date)

    case: Mapped[Case] = relationship(back_populates="events")


class Notice(Base):
    """A pre-appointment public notice (任前公示): public information, stored in clear. The
    window runs from 00:00 of ``opens_on`` to 24:00 of ``closes_on`` (committee time zone)."""

    __tablename__ = "notices"
    __table_args__ = NO_ROWID
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    candidate_name: Mapped[str] = mapped_column(String(100))
    current_post: Mapped[str] = mapped_column(String(200))
    proposed_post: Mapped[str] = mapped_column(String(200))
    # The candidate's current department (a rules department code): comments are routed with
    # it, so members whose own department it is never receive them.
    department: Mapped[str] = mapped_column(String(64))
    opens_on: Mapped[dt.date] = mapped_column(Date, index=True)
    closes_on: Mapped[dt.date] = mapped_column(Date, index=True)
    published_on: Mapped[dt.date] = mapped_column(Date)
    published_by: Mapped[str] = mapped_column(String(64))  # the member's username


# --- committee side -----------------------------------------------------------------------


class PublishedMonth(Base):
    """A closed month's published statistics, suppressed and frozen the first time they were
    published (whistle.transparency.published_months): later publications show them as they are here."""

    __tablename__ = "published_months"
    __table_args__ = NO_ROWID
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2026-03"
    min_cell: Mapped[int] = mapped_column(Integer)
    figures: Mapped[str] = mapped_column(Text)  # canonical JSON of the shown figures only
    sha256: Mapped[str] = mapped_column(String(64))  # of ``figures``: published with them


class Member(Base):
    """A committee member's account. Unit, own departments and role come from the rules file
    (by username); this row holds only credentials and the member's public key."""

    __tablename__ = "members"
    __table_args__ = NO_ROWID
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # sealed at rest
    # Always 0 now (migration 0007): the step a login used, kept to refuse a replayed code,
    # was the time of that login. Used steps are remembered beside the sessions instead.
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    wrapped_key: Mapped[str | None] = mapped_column(String(2000), nullable=True)  # opaque to us
    invite_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    enrolled_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    created_on: Mapped[dt.date] = mapped_column(Date)
    # A second person compared the enrolled key's fingerprint (whistle.committee.enrolment):
    # until then the account is sealed nothing, granted nothing and cannot log in.
    confirmed_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    invited_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a username, or "cli"


class MemberRequest(Base):
    """An account change one admin asked for that waits for a second admin: deactivating
    the only holder of a case, or the overseer."""

    __tablename__ = "member_requests"
    __table_args__ = (UniqueConstraint("action", "username"), NO_ROWID)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    action: Mapped[str] = mapped_column(String(32))
    username: Mapped[str] = mapped_column(String(64))
    proposed_by: Mapped[str] = mapped_column(String(64))  # a username
    proposed_on: Mapped[dt.date] = mapped_column(Date)


class CaseGrant(Base):
    """A member who holds a case's content key (and so may open it)."""

    __tablename__ = "case_grants"
    # The primary key answers "does member M hold case C"; this one lists a member's grants.
    __table_args__ = (Index("ix_case_grants_member_case", "member_id", "case_id"), NO_ROWID)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), primary_key=True)
    granted_on: Mapped[dt.date] = mapped_column(Date)
    granted_by: Mapped[str | None] = mapped_column(String(32), nullable=True)  # member id; None = routing
    # The holder's browser found that a key re-sealed to them does not open the case: the
    # grant is shown as failed and the case counts as orphaned until it is re-granted.
    key_failed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class ItemKey(Base):
    """A content key re-sealed, after the fact, to a member granted the case later."""

    __tablename__ = "item_keys"
    __table_args__ = NO_ROWID
    item_id: Mapped[str] = mapped_column(ForeignKey("case_items.id", ondelete="CASCADE"), primary_key=True)
    kid: Mapped[str] = mapped_column(String(32), primary_key=True)
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)


class PendingAction(Base):
    """A sensitive action proposed by one member, waiting for a second member to confirm."""

    __tablename__ = "pending_actions"
    __table_args__ = NO_ROWID
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(String(4000))
    proposed_by: Mapped[str] = mapped_column(String(32))
    proposed_on: Mapped[dt.date] = mapped_column(Date)


class AuditHead(Base):
    """The chain's current length and last hash, one row. Appending updates it first, which
    takes its lock, so concurrent appends queue instead of forking the chain; it also lets
    `verify` notice entries cut off the end."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    length: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))


class AuditEntry(Base):
    """Append-only, hash-chained record of every committee action (day granularity)."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    on: Mapped[dt.date] = mapped_column("day", Date)
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    detail: Mapped[str] = mapped_column(String(4000), default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditStatement(Base):
    """A signed statement of the audit chain's length and head (crypto.signing), made with
    the committee key by `whistle audit sign`; public, and checked by `whistle audit verify`."""

    __tablename__ = "audit_statements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[dt.date] = mapped_column(Date)
    committee_kid: Mapped[str] = mapped_column(String(32))
    length: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(64))
    verify_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


# --- the public log (whistle.custody.public_log, docs/transparency-log.md) -----------------


class LogNode(Base):
    """One complete subtree hash of the Merkle log over the audit entries: written once,
    with the audit entry whose leaf completes it, and never changed."""

    __tablename__ = "log_nodes"
    __table_args__ = NO_ROWID
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogCheckpoint(Base):
    """A checkpoint of the log signed by the committee's log key (the audit-signing key):
    the signed note exactly as published. One per tree size; sizes only grow."""

    __tablename__ = "log_checkpoints"
    __table_args__ = NO_ROWID
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    day: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(4000))


class LogCosignature(Base):
    """A witness's cosignature line on a checkpoint, as the witness sent it; ``timestamp`` is
    the witness's own clock (the time it states), never the time it was received."""

    __tablename__ = "log_cosignatures"
    __table_args__ = NO_ROWID
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    line: Mapped[str] = mapped_column(String(1000))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class PendingIntake(Base):
    """A report received today, waiting to enter the log with the rest of its day (so the
    log carries no arrival order); ``commitment`` is what only the receipt holder can
    recompute (crypto/FORMAT.md, log commitment)."""

    __tablename__ = "pending_intake"
    __table_args__ = NO_ROWID
    case_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    commitment: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LogCommitment(Base):
    """Where a receipt's log commitment sits in the log: its intake entry's seq."""

    __tablename__ = "log_commitments"
    __table_args__ = NO_ROWID
    commitment: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)


# --- integrity surveys (廉政回访) ------------------------------------------------------------


class Survey(Base):
    """A questionnaire for one period (whistle.channels.surveys). Its wording is public, stored in clear."""

    __tablename__ = "surveys"
    __table_args__ = NO_ROWID
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(200))
    intro: Mapped[str] = mapped_column(String(2000), default="")
    owner_unit: Mapped[str] = mapped_column(String(64))  # its members may read the sealed free text
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft, open, closed
    published: Mapped[bool] = mapped_column(Boolean, default=False)  # results shown to the public
    created_on: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))  # a member's username

    questions: Mapped[list["SurveyQuestion"]] = relationship(
        order_by="SurveyQuestion.idx", cascade="all, delete-orphan"
    )


class SurveyQuestion(Base):
    """One item of a survey: likert (1-5), yes_no, choice (one of its options) or free_text."""

    __tablename__ = "survey_questions"
    __table_args__ = NO_ROWID
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(500))
    bribery: Mapped[bool] = mapped_column(Boolean, default=False)  # a "yes" offers a full report
    breakdown: Mapped[bool] = mapped_column(Boolean, default=False)  # results are cross-tabulated by it
    options: Mapped[str] = mapped_column(String(2000), default="[]")  # JSON list (choice items)


class SurveyResponse(Base):
    """One anonymous response: a random id and the day, nothing that links it to anyone or
    anything else (not to a report, not to its sealed free text)."""

    __tablename__ = "survey_responses"
    __table_args__ = NO_ROWID
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    answered_on: Mapped[dt.date] = mapped_column(Date)


class SurveyAnswer(Base):
    """The answer of one response to one closed item, as a small integer (likert 1-5, yes 1 /
    no 0, the option's number); an item left unanswered has no row."""

    __tablename__ = "survey_answers"
    __table_args__ = NO_ROWID
    response_id: Mapped[str] = mapped_column(ForeignKey("survey_responses.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    value: Mapped[int] = mapped_column(Integer)


class SurveyText(Base):
    """A response's free-text answers, sealed (envelope kind "survey") to the committee key and
    the owning unit's members; deliberately not linked to the response's closed answers."""

    __tablename__ = "survey_texts"
    __table_args__ = NO_ROWID
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    survey_id: Mapped[str] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
