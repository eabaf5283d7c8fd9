"""The baseline: a bare Flask + SQLAlchemy endpoint that stores the bytes it is sent.

Same stack as whistle (Flask, SQLAlchemy 2, the same engine settings from whistle.db:
SQLite with WAL, synchronous=FULL and foreign keys, or the same PostgreSQL pool; served by
gunicorn with deploy/gunicorn.conf.py), but nothing else: no parsing, no checks, no crypto,
no rate limiter, no headers. One row per request, with a random id, in one transaction.

    python -c 'from bench.baseline_app import prepare; prepare("URL")'
    BASELINE_DATABASE_URL=URL gunicorn -c deploy/gunicorn.conf.py --workers 2 'bench.baseline_app:create()'
"""

import datetime as dt
import os

from flask import Flask, jsonify, request
from sqlalchemy import Date, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from whistle.db import make_engine
from whistle.models import new_id


class Base(DeclarativeBase):
    """The baseline's one table."""


class Blob(Base):
    """The bytes of one request."""

    __tablename__ = "baseline_blobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    received_on: Mapped[dt.date] = mapped_column(Date)


def prepare(url: str) -> None:
    """Create the baseline's table on ``url`` (before the workers start: two workers
    creating it at once would race, and PostgreSQL would refuse one of them)."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


def create():
    """The baseline app on BASELINE_DATABASE_URL (its table made by prepare())."""
    engine = make_engine(os.environ["BASELINE_DATABASE_URL"])
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 400 * 1024 * 1024
    app.extensions["baseline.engine"] = engine  # for a caller that must dispose of it

    @app.post("/baseline")
    def store():
        data = request.get_data()
        with Session(engine) as session:
            session.add(Blob(id=new_id(), data=data, received_on=dt.date.today()))
            session.commit()
        return jsonify(received_on=dt.date.today().isoformat()), 201

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app
