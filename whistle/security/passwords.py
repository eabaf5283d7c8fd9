"""Committee login passwords: argon2id at the cost the configuration sets.

The cost is one process-wide setting (``Config.password_time_cost`` and
``password_memory_kib``), applied by ``create_app`` through ``configure``. A hash records
its own parameters, so raising or lowering the cost never locks anyone out: a member's hash
is redone at the new cost on their next login (``needs_rehash``).
"""

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from whistle.config import PASSWORD_MEMORY_KIB, PASSWORD_TIME_COST


class Passwords:
    """Hashing and checking at one cost, with a dummy hash of the same cost to verify
    against when a username is unknown (so timing does not tell which usernames exist)."""

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self.cost = (time_cost, memory_kib)
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        self._dummy = self._hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def check(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; with no stored hash, one verification is
        still spent and the answer is no."""
        try:
            self._hasher.verify(stored or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


_current: Passwords | None = None


def configure(time_cost: int, memory_kib: int) -> None:
    """Set the process's cost (a no-op when it is the cost already set)."""
    global _current
    if _current is None or _current.cost != (time_cost, memory_kib):
        _current = Passwords(time_cost, memory_kib)


def current() -> Passwords:
    """The process's password hashing; the default cost until ``configure`` runs."""
    if _current is None:
        configure(PASSWORD_TIME_COST, PASSWORD_MEMORY_KIB)
    return _current
