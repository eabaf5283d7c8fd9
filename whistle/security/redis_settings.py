"""The Redis settings whistle needs so that Redis keeps no time of a request, checked at start.

Redis keeps, beside each key, when it was last used, unless its eviction policy is an LFU
one: then a use count takes its place (with a coarse, minutes-only decay clock that no
command shows). That second-precise clock answers OBJECT IDLETIME for every rate-limit
counter (a client's last request) and, under an LRU policy, is written into every RDB
snapshot. An append-only file with timestamps dates every command; the slow log keeps a
slow command with its time and its keys. So whistle wants:

    maxmemory-policy volatile-lfu   (every key of whistle's has an expiry; with
                                     maxmemory 0 nothing is evicted: the policy only
                                     chooses what Redis keeps per key)
    aof-timestamp-enabled no        (Redis 7; the default)
    slowlog-max-len 0               (or slowlog-log-slower-than -1)

``check`` reads them with CONFIG GET; a Redis that refuses CONFIG (a managed service) cannot
be checked: whistle says so in its log and starts (docs/architecture.md says what to ask
the provider for). Committee sessions and used TOTP steps keep a member's last request to
the second in their expiry anyway (idle timeout), which is accepted: members are known, and
only reporters' times must not be kept.
"""

import logging

from whistle.config import ConfigError

LFU_POLICIES = ("volatile-lfu", "allkeys-lfu")


def problems(settings: dict) -> list[str]:
    """What is wrong in ``settings`` (CONFIG GET's answer, names to values), as the lines to
    set: empty when nothing is."""
    out = []
    if settings.get("maxmemory-policy") not in LFU_POLICIES:
        out.append(
            "maxmemory-policy volatile-lfu  (now %s: Redis keeps each key's last use to "
            "the second)" % settings.get("maxmemory-policy")
        )
    if settings.get("aof-timestamp-enabled", "no") != "no":
        out.append("aof-timestamp-enabled no  (the append-only file dates every command)")
    if settings.get("slowlog-max-len", "0") != "0" and not settings.get("slowlog-log-slower-than", "0").startswith("-"):
        out.append("slowlog-max-len 0  (the slow log keeps a slow command's time and keys)")
    return out


def check(url: str, refuse: bool = True) -> None:
    """Read the settings of the Redis at ``url``; raise ConfigError naming what to set when
    one would keep request times (``refuse``), or log it (not ``refuse``)."""
    import redis

    connection = redis.Redis.from_url(url, decode_responses=True)
    try:
        settings = {}
        for name in ("maxmemory-policy", "aof-timestamp-enabled", "slowlog-max-len", "slowlog-log-slower-than"):
            settings.update(connection.config_get(name))
    except (redis.ResponseError, redis.ConnectionError) as exc:
        logging.getLogger("whistle").warning(
            "redis: its settings cannot be checked (%s); make sure it runs with maxmemory-policy "
            "volatile-lfu, aof-timestamp-enabled no and slowlog-max-len 0",
            type(exc).__name__,
        )
        return
    finally:
        connection.close()
    wrong = problems(settings)
    if not wrong:
        return
    message = (
        "Redis would keep the time of each request; set (redis.conf, or CONFIG SET then "
        "CONFIG REWRITE): " + "; ".join(wrong)
    )
    if refuse:
        raise ConfigError(message + " (or WHISTLE_REDIS_SETTINGS=warn to start anyway)")
    logging.getLogger("whistle").warning("redis: %s", message)
