"""The app's services: built once by create_app, stored once on the app, and reached through
one typed accessor (``services()``) instead of string keys looked up in many places."""

from dataclasses import dataclass, field
from typing import Protocol

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from whistle.config import Config
from whistle.rules.parse import Rules
from whistle.triage.deadlines import WorkCalendar

KEY = "whistle"  # the one entry whistle keeps in app.extensions


class DailyKeys(Protocol):
    """Today's HMAC key for rate-limit keys (security.privacy: memory or Redis)."""

    def current(self) -> bytes: ...


class SpentMarks(Protocol):
    """Names remembered until a given time (security.proof_of_work: memory or Redis)."""

    def add(self, name: str, forget_at: int) -> bool: ...


class Derivations(Protocol):
    """Receipt-code derivations in a bounded number of slots (cases.derivations)."""

    def derive(self, code, salt: bytes, opslimit: int, memlimit: int): ...


@dataclass
class Services:
    config: Config
    rules: Rules
    secret: bytes  # the instance secret: fake salts, locator tokens, CSRF and PoW keys
    engine: Engine
    sessions: sessionmaker[Session]
    derivations: Derivations
    daily_key: DailyKeys
    pow_spent: SpentMarks  # proof-of-work challenges spent
    totp_used: SpentMarks  # TOTP steps logins used (beside the sessions, never in the database)
    _calendar: tuple[Rules, WorkCalendar] | None = field(default=None, repr=False)

    @property
    def calendar(self) -> WorkCalendar:
        """The committee's working-day calendar, built once per rules (shared by every view)."""
        if self._calendar is None or self._calendar[0] is not self.rules:
            self._calendar = (self.rules, WorkCalendar(self.rules))
        return self._calendar[1]


def install(app: Flask, built: Services) -> None:
    app.extensions[KEY] = built


def services(app: Flask | None = None) -> Services:
    """The services of ``app`` (default: the app of this request or command)."""
    return (app or current_app).extensions[KEY]
