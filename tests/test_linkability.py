"""What a copy of the shared state tells about clients: a Redis dump (or the in-memory
store's contents) must link no address to its rate-limit counters, even to someone who
tries every address against every key material the dump holds."""
import hashlib
import hmac
import ipaddress
import secrets

import pytest

from whistle import privacy

from tests.conftest import build_app
from tests.helpers import redis_or_skip

REDIS_URL = "redis://127.0.0.1:6379/10"  # a database of these tests' own (hardening: 13, leak scan: 12)
MARKED = [f"198.51.100.{i}" for i in range(1, 21)] + [f"2001:db8:{i:x}::1" for i in range(1, 6)]
# What an attacker tries: every address of a few networks (a real one tries all of IPv4).
CANDIDATES = ([str(ip) for ip in ipaddress.ip_network("198.51.100.0/24")]
              + [f"2001:db8:{i:x}::1" for i in range(0, 64)])


@pytest.fixture
def redis_db():
    """This test's Redis database, empty before and after."""
    connection = redis_or_skip(REDIS_URL)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def _requests_from_marked_addresses(app) -> None:
    """Rate-limited requests (receipt attempts, proof-of-work challenges) from each address."""
    client = app.test_client()
    for address in MARKED:
        environ = {"REMOTE_ADDR": address}
        assert client.get("/api/v1/receipts/7654321/salt", environ_base=environ).status_code == 200
        assert client.post("/api/v1/pow", environ_base=environ).status_code == 200


def _materials(blobs) -> set[bytes]:
    """Every piece of a dump that could be key material: each value and key name whole, and
    each part of them between separators, raw and hex-decoded."""
    out = set()
    for blob in blobs:
        parts = {blob}
        for sep in (b":", b"/", b"|", b" ", b"\n", b"."):
            parts |= {part for piece in list(parts) for part in piece.split(sep)}
        for part in parts:
            if not part:
                continue
            out.add(part)
            try:
                out.add(bytes.fromhex(part.decode("ascii")))
            except ValueError:
                pass
    return out


def _links(materials: set[bytes], names: str) -> set[str]:
    """The marked addresses whose rate-limit key (HMAC of the client under some material
    found, as privacy.keyed computes it) appears among ``names``."""
    found = set()
    clients = {candidate: privacy.client_of(candidate) for candidate in CANDIDATES}
    for material in materials:
        for candidate, client in clients.items():
            tag = hmac.new(material, client.encode(), hashlib.sha256).hexdigest()[:32]
            if tag in names:
                found.add(candidate)
    return found


def test_a_redis_dump_links_no_address(config, redis_db):
    prefix = f"whistle-test-{secrets.token_hex(4)}:"
    app = build_app(config.with_(ratelimit_storage=REDIS_URL, extra={"redis_key_prefix": prefix}))
    try:
        _requests_from_marked_addresses(app)
    finally:
        app.extensions["whistle.engine"].dispose()
    dump = {}
    for key in redis_db.scan_iter():
        kind = redis_db.type(key)
        if kind == b"string":
            dump[key] = [redis_db.get(key)]
        elif kind == b"set":
            dump[key] = list(redis_db.smembers(key))
        elif kind == b"hash":
            dump[key] = [b for pair in redis_db.hgetall(key).items() for b in pair]
        else:
            dump[key] = [redis_db.dump(key)]
    names = " ".join(key.decode("utf-8", "replace") for key in dump)
    assert "LIMITS:" in names  # the counters are there...
    materials = _materials(list(dump) + [value for values in dump.values() for value in values])
    assert _links(materials, names) == set()  # ...but no address can be tied to one


def test_the_in_memory_store_links_no_address(config):
    from whistle.extensions import limiter

    app = build_app(config)
    try:
        _requests_from_marked_addresses(app)
        storage = limiter._storage  # the live storage of the app just built
        names = " ".join(list(storage.storage) + list(storage.expirations))
        assert "LIMITS" in names or "/" in names
        blobs = [name.encode() for name in storage.storage] + [str(v).encode() for v in storage.storage.values()]
        blobs += [str(v).encode() for v in storage.expirations.values()]
        assert _links(_materials(blobs), names) == set()
    finally:
        app.extensions["whistle.engine"].dispose()
