"""Every environment variable whistle reads, read here once, coerced and checked at start."""

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nacl.pwhash import argon2id
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from crypto import receipt

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
# A checkout keeps templates/ and node_modules/ beside the package; an installed wheel
# carries them inside it (deploy/build/whistle_build.py), and its instance dir is the
# working directory's.
INSTALLED = (PACKAGE_DIR / "templates").is_dir()
TEMPLATES_DIR = PACKAGE_DIR / "templates" if INSTALLED else PROJECT_DIR / "templates"
VENDOR_DIR = PACKAGE_DIR / "vendor" if INSTALLED else PROJECT_DIR / "node_modules"
MiB = 1024 * 1024
# Committee password hashing (whistle.security.passwords): argon2-cffi's default, RFC 9106's
# low-memory profile; outside tests never below OWASP's argon2id minimum (2 passes, 19 MiB).
PASSWORD_TIME_COST, PASSWORD_MEMORY_KIB = 3, 64 * 1024
PASSWORD_FLOOR = (2, 19 * 1024)


def usable_cores() -> int:
    """The CPUs this process may run on (its affinity mask, which containers and systemd's
    CPUAffinity narrow), not every CPU of the host."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


class ConfigError(Exception):
    """Raised at start-up when a setting is missing or invalid; the message names it."""


def _int(env, name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Config:
    """The checked settings of one whistle instance."""

    instance_dir: Path
    database_url: str
    # memory:// (one process) or redis:// / rediss://: rate limits and committee sessions are
    # shared through it by every worker.
    ratelimit_storage: str = "memory://"
    # With Redis: the file holding today's link of the rate-limit key chain
    # (privacy.RatchetKey), <instance_dir>/ratelimit-key unless set; every host needs a copy.
    ratelimit_key_file: Path | None = None
    # Redis settings that would keep each request's time (whistle.redis_settings): "refuse"
    # to start, or "warn" and start anyway.
    redis_settings: str = "refuse"
    # The instance secret (fake salts, locator tokens, CSRF): <instance_dir>/instance-secret,
    # created on first start, unless this names a file several hosts share.
    instance_secret_file: Path | None = None
    rules_file: Path = PACKAGE_DIR / "data" / "rules.example.toml"
    timezone: str = "Asia/Shanghai"
    # Receipt stretching cost (argon2id); stored per case, so raising it later is safe.
    receipt_opslimit: int = 3
    receipt_memlimit: int = 64 * MiB
    # Receipt derivations one process runs at once (whistle.cases.derivations); 0: one per usable core.
    # deploy/gunicorn.conf.py sets each worker's share of the cores.
    receipt_derivations: int = 0
    password_time_cost: int = PASSWORD_TIME_COST
    password_memory_kib: int = PASSWORD_MEMORY_KIB
    max_attachments: int = 10
    max_attachment_bytes: int = 250 * MiB
    max_request_bytes: int = 400 * MiB
    # The no-JS path strips a file's metadata in memory up to this size (whistle.scrub.gate);
    # a larger file is sealed unchanged, and the receipt page says so. 0: strip nothing.
    scrub_max_bytes: int = 16 * MiB
    max_narrative_chars: int = 50_000
    # Rate limits, in flask-limiter syntax.
    limit_submit: str = "60 per hour"  # a JS report spends 3 (recipients, locator, report)
    limit_followup: str = "30 per hour;300 per day"
    limit_followup_global: str = "3000 per hour"
    # Proof of work (whistle.security.proof_of_work): leading zero bits of BLAKE2b(challenge || nonce) that JS
    # submissions (reports, follow-up messages, survey answers) must find; the no-JS forms
    # skip it and spend this smaller budget instead (besides limit_submit).
    pow_bits: int = 18
    limit_pow: str = "120 per hour"
    limit_submit_nojs: str = "10 per hour;40 per day"
    trusted_proxies: int = 0
    # The committee's own host names (whistle.security.doors); empty: one host serves everyone.
    committee_hosts: tuple[str, ...] = ()
    # The site's addresses, printed with a receipt so that a reporter knows where to come back
    # (the address a request came in on may be an internal one behind the proxy).
    public_url: str = ""
    onion_url: str = ""
    # The public log's origin (docs/transparency-log.md §4): names the log in its checkpoints
    # and its signing key; no space, no '+'. Set it once, e.g. to the site's host name + /audit.
    log_origin: str = "whistle.invalid/audit"
    testing: bool = False
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.instance_dir.is_absolute():
            raise ConfigError("WHISTLE_INSTANCE_DIR must be an absolute path")
        # The URL is never repeated in the message: it can hold the database's password.
        try:
            backend = make_url(self.database_url).get_backend_name()
        except (ArgumentError, ValueError) as exc:
            raise ConfigError(
                "WHISTLE_DATABASE_URL is not a database URL (sqlite:///path or postgresql+psycopg://user@host/name)"
            ) from exc
        if backend not in ("sqlite", "postgresql"):
            raise ConfigError(f"WHISTLE_DATABASE_URL: whistle runs on SQLite or PostgreSQL, not {backend}")
        if not self.rules_file.is_file():
            raise ConfigError(f"WHISTLE_RULES: no such file {self.rules_file}")
        # Browsers refuse a follow-up cost below the floor (crypto/FORMAT.md §2).
        if self.receipt_opslimit < receipt.MIN_OPSLIMIT:
            raise ConfigError(f"WHISTLE_RECEIPT_OPSLIMIT below the floor ({receipt.MIN_OPSLIMIT})")
        if self.receipt_memlimit < receipt.MIN_MEMLIMIT:
            raise ConfigError(f"WHISTLE_RECEIPT_MEMLIMIT below the floor ({receipt.MIN_MEMLIMIT}, 8 MiB)")
        # Above it, every receipt stretched on the server would fail, not the start.
        if self.receipt_opslimit > argon2id.OPSLIMIT_MAX:
            raise ConfigError(f"WHISTLE_RECEIPT_OPSLIMIT above libsodium's maximum ({argon2id.OPSLIMIT_MAX})")
        if self.receipt_memlimit > argon2id.MEMLIMIT_MAX:
            raise ConfigError(f"WHISTLE_RECEIPT_MEMLIMIT above libsodium's maximum ({argon2id.MEMLIMIT_MAX})")
        if not self.testing and (
            self.password_time_cost < PASSWORD_FLOOR[0] or self.password_memory_kib < PASSWORD_FLOOR[1]
        ):
            raise ConfigError("WHISTLE_PASSWORD_TIME_COST / _MEMORY_KIB below the floor (2 passes, 19456 KiB)")
        if self.receipt_derivations < 0:
            raise ConfigError("WHISTLE_RECEIPT_DERIVATIONS must be 0 (one per core) or more")
        if not self.ratelimit_storage.startswith(("memory://", "redis://", "rediss://")):
            raise ConfigError("WHISTLE_RATELIMIT_STORAGE must be memory:// or a redis:// URL")
        if not 0 <= self.pow_bits <= 32:
            raise ConfigError("WHISTLE_POW_BITS must be between 0 and 32")
        if self.instance_secret_file is not None and not self.instance_secret_file.is_absolute():
            raise ConfigError("WHISTLE_INSTANCE_SECRET_FILE must be an absolute path")
        if not re.fullmatch(r"[!-*,-~]{1,200}", self.log_origin):  # printable ASCII, no space, no '+'
            raise ConfigError(
                "WHISTLE_LOG_ORIGIN must be printable ASCII without space or '+', e.g. report.example.org/audit"
            )
        if self.redis_settings not in ("refuse", "warn"):
            raise ConfigError("WHISTLE_REDIS_SETTINGS must be refuse or warn")
        if self.ratelimit_key_file is not None and not self.ratelimit_key_file.is_absolute():
            raise ConfigError("WHISTLE_RATELIMIT_KEY_FILE must be an absolute path")
        # Every request that needs today's date looks the zone up: a typo must stop the start.
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"WHISTLE_TIMEZONE: no such time zone {self.timezone!r} (an IANA name such as Asia/Shanghai)"
            ) from exc

    @property
    def ratelimit_key_path(self) -> Path:
        """Where the rate-limit key chain's link of today is kept (with Redis only)."""
        return self.ratelimit_key_file or self.instance_dir / "ratelimit-key"

    @property
    def derivation_slots(self) -> int:
        """How many receipt derivations this process runs at once."""
        return self.receipt_derivations or usable_cores()

    def with_(self, **changes) -> "Config":
        """A copy with some settings changed (tests)."""
        return replace(self, **changes)


def from_env(env=None) -> Config:
    """Build the configuration from environment variables (documented in the README)."""
    env = os.environ if env is None else env
    instance = Path(
        env.get("WHISTLE_INSTANCE_DIR") or (Path.cwd() if INSTALLED else PROJECT_DIR) / "instance"
    ).resolve()
    database = env.get("WHISTLE_DATABASE_URL") or f"sqlite:///{instance / 'whistle.db'}"
    return Config(
        instance_dir=instance,
        database_url=database,
        ratelimit_storage=env.get("WHISTLE_RATELIMIT_STORAGE") or "memory://",
        instance_secret_file=Path(env["WHISTLE_INSTANCE_SECRET_FILE"]).resolve()
        if env.get("WHISTLE_INSTANCE_SECRET_FILE")
        else None,
        ratelimit_key_file=Path(env["WHISTLE_RATELIMIT_KEY_FILE"]).resolve()
        if env.get("WHISTLE_RATELIMIT_KEY_FILE")
        else None,
        redis_settings=env.get("WHISTLE_REDIS_SETTINGS") or "refuse",
        rules_file=Path(env.get("WHISTLE_RULES") or PACKAGE_DIR / "data" / "rules.example.toml"),
        timezone=env.get("WHISTLE_TIMEZONE") or "Asia/Shanghai",
        receipt_opslimit=_int(env, "WHISTLE_RECEIPT_OPSLIMIT", 3, 1),
        receipt_memlimit=_int(env, "WHISTLE_RECEIPT_MEMLIMIT", 64 * MiB, 8192),
        receipt_derivations=_int(env, "WHISTLE_RECEIPT_DERIVATIONS", 0),
        password_time_cost=_int(env, "WHISTLE_PASSWORD_TIME_COST", PASSWORD_TIME_COST, 1),
        password_memory_kib=_int(env, "WHISTLE_PASSWORD_MEMORY_KIB", PASSWORD_MEMORY_KIB, 64),
        max_attachments=_int(env, "WHISTLE_MAX_ATTACHMENTS", 10),
        max_attachment_bytes=_int(env, "WHISTLE_MAX_ATTACHMENT_BYTES", 250 * MiB, 1),
        max_request_bytes=_int(env, "WHISTLE_MAX_REQUEST_BYTES", 400 * MiB, 1024),
        scrub_max_bytes=_int(env, "WHISTLE_SCRUB_MAX_BYTES", 16 * MiB),
        trusted_proxies=_int(env, "WHISTLE_TRUSTED_PROXIES", 0),
        pow_bits=_int(env, "WHISTLE_POW_BITS", 18),
        committee_hosts=tuple(h.strip().lower() for h in env.get("WHISTLE_COMMITTEE_HOST", "").split(",") if h.strip()),
        public_url=(env.get("WHISTLE_PUBLIC_URL") or "").rstrip("/"),
        onion_url=(env.get("WHISTLE_ONION_URL") or "").rstrip("/"),
        log_origin=env.get("WHISTLE_LOG_ORIGIN") or "whistle.invalid/audit",
    )
