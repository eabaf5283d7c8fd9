"""What a copy of the shared state tells about clients: a Redis dump (or the in-memory
store's contents) must link no address to its rate-limit counters, even to someone who
tries every address against every key material the dump holds."""

import hashlib
import hmac
import ipaddress
import secrets

import pytest

from whistle import create_app
from whistle.services import services
from whistle.security import privacy
from whistle.config import ConfigError
from whistle.security.redis_settings import problems

from tests.conftest import build_app
from tests.client_side import proof_of_work
from tests.helpers import redis_or_skip

REDIS_URL = "redis://127.0.0.1:6379/10"  # a database of these tests' own (hardening: 13, leak scan: 12)
MARKED = [f"198.51.100.{i}" for i in range(1, 21)] + [f"2001:db8:{i:x}::1" for i in range(1, 6)]
# What an attacker tries: every address of a few networks (a real one tries all of IPv4).
CANDIDATES = [str(ip) for ip in ipaddress.ip_network("198.51.100.0/24")] + [f"2001:db8:{i:x}::1" for i in range(0, 64)]


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
        services(app).engine.dispose()
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
        services(app).engine.dispose()


def test_spent_proofs_of_a_day_share_one_key_that_expires_at_a_midnight(config, redis_db):
    """Each spent proof in a key of its own kept, in that key's idle time (OBJECT IDLETIME
    under any policy but LFU), the second of each submission for three days. One set per
    challenge day keeps at most the time of the latest."""
    from whistle.security import proof_of_work as proof

    prefix = f"whistle-test-{secrets.token_hex(4)}:"
    app = build_app(config.with_(ratelimit_storage=REDIS_URL, extra={"redis_key_prefix": prefix}))
    try:
        client = app.test_client()
        proofs = [proof_of_work(client) for _ in range(5)]
        with app.app_context():
            for answer in proofs:
                proof.spend(answer["challenge"])
            with pytest.raises(proof.ProofOfWorkRequired):  # spent once only
                proof.spend(proofs[0]["challenge"])
    finally:
        services(app).engine.dispose()
    keys = list(redis_db.scan_iter(match=f"{prefix}pow-spent*"))
    assert len(keys) == 1 and redis_db.type(keys[0]) == b"set" and redis_db.scard(keys[0]) == 5
    expires = redis_db.execute_command("EXPIRETIME", keys[0])
    assert expires % 86_400 == 0 and expires == proof.forget_at(proofs[0]["challenge"])


@pytest.fixture
def redis_config(redis_db):
    """CONFIG SET on the real Redis for one test; every setting changed is restored."""
    saved = {}

    def set_(name, value):
        if name not in saved:
            saved.update(redis_db.config_get(name))
        redis_db.config_set(name, value)

    yield set_
    for name, value in saved.items():
        redis_db.config_set(name, value)


def test_a_redis_that_keeps_request_times_is_refused_at_start(config, redis_config):
    strict = config.with_(ratelimit_storage=REDIS_URL, redis_settings="refuse")
    redis_config("maxmemory-policy", "allkeys-lru")
    redis_config("slowlog-max-len", "0")
    with pytest.raises(ConfigError, match="maxmemory-policy volatile-lfu") as refused:
        create_app(strict)
    assert "slowlog" not in str(refused.value) and "aof" not in str(refused.value)
    redis_config("maxmemory-policy", "noeviction")  # the default keeps each key's last use too
    redis_config("aof-timestamp-enabled", "yes")
    redis_config("slowlog-max-len", "128")
    with pytest.raises(ConfigError) as refused:
        create_app(strict)
    for line in ("maxmemory-policy volatile-lfu", "aof-timestamp-enabled no", "slowlog-max-len 0"):
        assert line in str(refused.value)
    # "warn" starts, and says what to set.
    services(create_app(config.with_(ratelimit_storage=REDIS_URL, redis_settings="warn"))).engine.dispose()
    redis_config("maxmemory-policy", "volatile-lfu")
    redis_config("aof-timestamp-enabled", "no")
    redis_config("slowlog-log-slower-than", "-1")  # no slow log at all is as good as an empty one
    app = create_app(strict)
    services(app).engine.dispose()


def test_redis_settings_are_named_by_what_to_set():
    assert problems({"maxmemory-policy": "allkeys-lfu", "aof-timestamp-enabled": "no", "slowlog-max-len": "0"}) == []
    assert [
        line.split()[0]
        for line in problems(
            {"maxmemory-policy": "volatile-lru", "slowlog-max-len": "10", "slowlog-log-slower-than": "10000"}
        )
    ] == ["maxmemory-policy", "slowlog-max-len"]
