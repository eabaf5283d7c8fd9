"""Where the security stores keep what they keep: this process's memory (the embedded
default, one worker) or Redis (shared by every worker), decided once from the rate-limit
storage setting for all of them: the daily rate-limit key, spent proofs of work and TOTP
steps, and member sessions."""

REDIS_SCHEMES = ("redis://", "rediss://")


def uses_redis(url: str) -> bool:
    """True for a redis:// or rediss:// (TLS) setting; memory:// keeps everything in the process."""
    return url.startswith(REDIS_SCHEMES)


def redis_client(url: str):
    """A client for ``url`` (redis is imported only when a Redis store is set up)."""
    import redis

    return redis.Redis.from_url(url)
