"""Tables. Only ciphertext, enum routing fields and dates (never times) are stored."""
import datetime as dt
import secrets

from sqlalchemy import (Boolean, Date, ForeignKey, Integer, LargeBinary, String,
                        UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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


class Case(Base):
    """A report's case: receipt verifier, reporter public key, routing enums, status."""

    __tablename__ = "cases"
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

    items: Mapped[list["CaseItem"]] = relationship(back_populates="case", order_by="CaseItem.seq",
                                                   cascade="all, delete-orphan")
    events: Mapped[list["CaseEvent"]] = relationship(back_populates="case", order_by="CaseEvent.seq",
                                                     cascade="all, delete-orphan")


class CaseItem(Base):
    """One sealed envelope of a case: the report, a reporter message or a reply."""

    __tablename__ = "case_items"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    created_on: Mapped[dt.date] = mapped_column(Date)

    case: Mapped[Case] = relationship(back_populates="items")
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="item",
                                                           cascade="all, delete-orphan")


class Attachment(Base):
    """An attachment's ciphertext stream, stored as ordered chunks."""

    __tablename__ = "attachments"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[str] = mapped_column(ForeignKey("case_items.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    stored_size: Mapped[int] = mapped_column(Integer)

    item: Mapped[CaseItem] = relationship(back_populates="attachments")
    chunks: Mapped[list["AttachmentChunk"]] = relationship(
        order_by="AttachmentChunk.idx", cascade="all, delete-orphan", lazy="raise")


class AttachmentChunk(Base):
    """One slice (up to 1 MiB) of an attachment's ciphertext."""

    __tablename__ = "attachment_chunks"
    attachment_id: Mapped[str] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"),
                                               primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class CaseEvent(Base):
    """A timeline entry the reporter sees: received, acknowledged, in review, closed, feedback."""

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    happened_on: Mapped[dt.date] = mapped_column(Date)

    case: Mapped[Case] = relationship(back_populates="events")
