"""Server-side sessions for committee members, kept in memory or Redis, never in the database.

The cookie carries only a random id (`__Host-` prefixed, Secure, HttpOnly, SameSite=Strict,
no expiry so it dies with the browser). Idle timeout is the store's time-to-live, refreshed on
every request; the absolute timeout is checked against the creation time kept in the store.
Logout deletes the entry, so the session ends on the server, not just in the browser.
Reporter pages never touch the session, so they never receive a cookie.
"""

import json
import secrets
import threading
import time

from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from whistle.security.stores import redis_client, uses_redis

IDLE_SECONDS = 15 * 60
ABSOLUTE_SECONDS = 12 * 60 * 60


class MemoryStore:
    """One process: a dict with expiry (the embedded default)."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The value, if present and not expired."""
        with self._lock:
            entry = self._data.get(key)
            if entry is None or entry[0] < time.monotonic():
                self._data.pop(key, None)
                return None
            return entry[1]

    def set(self, key: str, value: str, ttl: int) -> None:
        """Store with a time-to-live in seconds."""
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)
            if len(self._data) > 10_000:  # drop expired entries now and then
                now = time.monotonic()
                self._data = {k: v for k, v in self._data.items() if v[0] >= now}

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._data.pop(key, None)


class RedisStore:
    """Several workers: entries in Redis with a TTL."""

    def __init__(self, url: str) -> None:
        self._redis = redis_client(url)

    def get(self, key: str) -> str | None:
        value = self._redis.get("whistle:session:" + key)
        return value.decode("utf-8") if value is not None else None

    def set(self, key: str, value: str, ttl: int) -> None:
        self._redis.set("whistle:session:" + key, value, ex=ttl)

    def delete(self, key: str) -> None:
        self._redis.delete("whistle:session:" + key)


def store_for(url: str):
    """The session store matching the rate-limit storage setting (memory:// or redis://)."""
    return RedisStore(url) if uses_redis(url) else MemoryStore()


class ServerSession(CallbackDict, SessionMixin):
    """A session whose data lives on the server."""

    def __init__(self, initial=None, sid: str | None = None, created: float | None = None):
        def on_update(self_):
            self_.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.created = created
        self.modified = False
        self.destroyed = False

    def end(self) -> None:
        """Log out: forget everything, here and in the store."""
        self.clear()
        self.destroyed = True

    def rotate(self) -> None:
        """A new id after login, so a pre-login id can never be ridden (session fixation)."""
        self.destroyed = True
        self.new_sid = secrets.token_urlsafe(32)
        self.created = time.time()
        self.modified = True


class ServerSessionInterface(SessionInterface):
    """Flask session interface backed by a MemoryStore or RedisStore."""

    def __init__(self, store) -> None:
        self.store = store

    def open_session(self, app, request):
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and len(sid) < 100:
            raw = self.store.get(sid)
            if raw is not None:
                data = json.loads(raw)
                created = data.pop("_created", 0)
                if time.time() - created < ABSOLUTE_SECONDS:
                    return ServerSession(data, sid=sid, created=created)
                self.store.delete(sid)
        return ServerSession()

    def save_session(self, app, session: ServerSession, response):
        name = self.get_cookie_name(app)
        options = dict(domain=None, path="/", secure=True, httponly=True, samesite="Strict")
        old_sid = session.sid
        if session.destroyed and old_sid:
            self.store.delete(old_sid)
        if not session:
            if old_sid:
                response.delete_cookie(name, **options)
            return
        sid = getattr(session, "new_sid", None) or old_sid or secrets.token_urlsafe(32)
        created = session.created or time.time()
        self.store.set(sid, json.dumps(dict(session, _created=created)), IDLE_SECONDS)
        if sid != old_sid:
            response.set_cookie(name, sid, **options)  # no max_age: gone when the browser closes
        response.vary.add("Cookie")
