"""whistle: anonymous, end-to-end sealed reporting for an inspection committee."""

import logging
import os
import secrets
import tempfile
from pathlib import Path

from flask import Flask
from flask.logging import default_handler, wsgi_errors_stream
from flask_babel import get_locale
from sqlalchemy.orm import sessionmaker
from werkzeug.middleware.proxy_fix import ProxyFix

from crypto.keys import derive
from whistle import config as config_mod, db, i18n, linkify
from whistle.cases import derivations, uploads
from whistle.security import (
    doors,
    privacy,
    ratelimit_storage,
    passwords,
    redis_settings,
    sessions,
    proof_of_work as proof,
)
from whistle.config import TEMPLATES_DIR, Config, ConfigError
from whistle.web import WhistleFlask, refuse_bad_host, register_error_handlers
from whistle.extensions import csrf, limiter
from whistle.rules.parse import load as load_rules
from whistle.services import Services, install as install_services, services

SECRET_BYTES = 32
# No %(asctime)s: whistle records no time of day, not even in its own log lines.
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
BAD_HOST = "whistle.bad_host"  # environ flag: the Host header could not be bound


def _create_secret(path: Path) -> None:
    """Create ``path`` holding 32 random bytes, atomically: the bytes are written and synced
    to a private temporary file first, then hard-linked into place. Starters racing each
    other all end up reading the one file that won; none can read a half-written one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".instance-secret-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(SECRET_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if it exists: never replaces a secret in use
        except FileExistsError:
            pass
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new name survives a crash, too
        finally:
            os.close(dir_fd)
    finally:
        os.unlink(tmp)


def _instance_secret(cfg: Config) -> bytes:
    """The persistent instance secret: fake receipt salts and costs, locator tokens and CSRF
    tokens depend on it, so it must be stable across restarts and the same on every host."""
    if cfg.instance_secret_file is not None:
        path = cfg.instance_secret_file
        if not path.is_file():
            raise ConfigError(
                f"WHISTLE_INSTANCE_SECRET_FILE: no such file {path}; create it once "
                f"(head -c 32 /dev/urandom > {path}, mode 0600) and share it with every host"
            )
    else:
        path = cfg.instance_dir / "instance-secret"
        if not path.exists():
            _create_secret(path)
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        raise ConfigError(
            f"instance secret {path} must hold exactly {SECRET_BYTES} bytes, it holds "
            f"{len(secret)}; restore it from backup (a new one changes every fake salt)"
        )
    return secret


_log_handler = logging.StreamHandler(wsgi_errors_stream)  # the request's error stream, else stderr
_log_handler.setFormatter(logging.Formatter(LOG_FORMAT))


def _configure_logging(app: Flask) -> None:
    """Give our loggers a handler whose format has no time of day, in place of Flask's
    default one (which stamps each line with the time)."""
    app.logger  # noqa: B018 - Flask sets its logger up (and maybe its default handler) on first use
    for name in ("whistle", "flask.app"):
        logger = logging.getLogger(name)
        logger.removeHandler(default_handler)
        if _log_handler not in logger.handlers:
            logger.addHandler(_log_handler)


def _warn_of_unknown_years(rules, timezone: str) -> None:
    """Log, at start, a holiday calendar that deadlines set now can outrun (the rules file's
    [calendar] fills it in); the app starts either way."""
    from whistle.clock import today
    from whistle.triage.deadlines import unknown_years_warning

    warning = unknown_years_warning(rules, today(timezone))
    if warning:
        logging.getLogger("whistle").warning("rules: %s", warning)


def create_app(cfg: Config | None = None) -> Flask:
    """Build the application from a checked configuration (default: the environment)."""
    cfg = cfg or config_mod.from_env()
    cfg.instance_dir.mkdir(parents=True, exist_ok=True)
    secret = _instance_secret(cfg)
    app = WhistleFlask(__name__, template_folder=str(TEMPLATES_DIR), instance_path=str(cfg.instance_dir))
    _configure_logging(app)
    app.request_class = uploads.WhistleRequest
    app.config.update(
        TESTING=cfg.testing,
        MAX_CONTENT_LENGTH=cfg.max_request_bytes,  # enforced by werkzeug while reading
        MAX_FORM_MEMORY_SIZE=4 * 1024 * 1024,  # sealed envelopes travel as a form field
        RATELIMIT_STORAGE_URI=ratelimit_storage.aligned_uri(cfg.ratelimit_storage),
        RATELIMIT_STRATEGY="fixed-window",
        RATELIMIT_ENABLED=cfg.extra.get("ratelimit", True),
        SECRET_KEY=derive(secret, "whistle/v1/flask-secret"),  # signs CSRF tokens
        WTF_CSRF_SSL_STRICT=False,  # it wants a Referer, which Referrer-Policy never sends
        WTF_CSRF_TIME_LIMIT=None,  # tokens die with the server-side session instead
        SESSION_COOKIE_NAME="__Host-session",  # only the committee side will ever use it
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        JSON_SORT_KEYS=False,
    )
    if cfg.trusted_proxies:
        # Only behind our own nginx: take the address it saw, so limits hit the right client.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=cfg.trusted_proxies, x_proto=cfg.trusted_proxies)

    rules = load_rules(cfg.rules_file)
    _warn_of_unknown_years(rules, cfg.timezone)
    engine = db.make_engine(cfg.database_url)
    prefix = cfg.extra.get("redis_key_prefix", "whistle:")
    install_services(
        app,
        Services(
            config=cfg,
            rules=rules,
            secret=secret,
            engine=engine,
            sessions=sessionmaker(engine, expire_on_commit=False),
            derivations=derivations.DerivationSlots(cfg.derivation_slots),
            # The rate-limit key's daily HMAC key: in this process's memory, or one every worker
            # computes alike (never kept in Redis beside the counters).
            daily_key=privacy.daily_key_for(cfg.ratelimit_storage, cfg.ratelimit_key_path),
            pow_spent=proof.spent_store_for(cfg.ratelimit_storage, prefix),
            # The TOTP steps logins used, beside the sessions (never in the database: a step is a time).
            totp_used=proof.spent_store_for(cfg.ratelimit_storage, prefix, kind="totp-used"),
        ),
    )
    if cfg.ratelimit_storage.startswith(("redis://", "rediss://")):
        redis_settings.check(cfg.ratelimit_storage, refuse=cfg.redis_settings == "refuse")
    db.init_app(app)
    passwords.configure(cfg.password_time_cost, cfg.password_memory_kib)
    i18n.init_app(app)
    linkify.init_app(app)
    limiter.init_app(app)
    # Committee sessions live on the server (memory or Redis), never in a signed cookie.
    app.session_interface = sessions.ServerSessionInterface(sessions.store_for(cfg.ratelimit_storage))
    csrf.init_app(app)
    privacy.quiet_request_logs()

    from whistle.reporter import api, pages, vendor, notices as notice_pages, surveys as survey_pages
    from whistle import health
    from whistle.committee import admin as committee_admin  # noqa: F401 - registers views on bp
    from whistle.committee import dashboard as committee_dashboard  # noqa: F401
    from whistle.committee import api as committee_api, auth as committee_auth
    from whistle.committee import workspace  # noqa: F401 - registers views on bp
    from whistle.committee import oversight  # noqa: F401 - registers views on bp
    from whistle.committee import identity, notices as committee_notices  # noqa: F401 - views on bp
    from whistle.transparency import views as transparency, log_views
    from whistle.committee import surveys as committee_surveys  # noqa: F401 - views on bp
    from whistle.committee import pdf_viewer  # noqa: F401 - views on bp

    for reporter_bp in (
        pages.bp,
        api.bp,
        vendor.bp,
        health.bp,
        transparency.bp,
        notice_pages.bp,
        survey_pages.bp,
        log_views.bp,
    ):
        csrf.exempt(reporter_bp)  # no session, no cookie: cross-site posts are refused by Origin instead
        app.register_blueprint(reporter_bp)
    app.register_blueprint(committee_auth.bp)
    app.register_blueprint(committee_api.bp)
    app.context_processor(pages.catalog_context)
    app.context_processor(_template_globals)
    app.before_request(refuse_bad_host)
    doors.init_app(app)  # before the other checks: the other door's routes do not exist here
    app.before_request(privacy.refuse_cross_site_posts)
    app.after_request(privacy.add_security_headers)
    app.teardown_request(uploads.close_spools)
    register_error_handlers(app)
    return app


def _template_globals():
    from whistle.models import CommitteeKey
    from sqlalchemy import select

    session = db.session()
    demo = session.scalar(select(CommitteeKey.kid).where(CommitteeKey.demo.is_(True), CommitteeKey.active.is_(True)))
    names = services().rules.committee_names
    return {
        "languages": i18n.LANGUAGES,
        "demo_keys": demo is not None,
        "locale": str(get_locale()),
        "settings": services().config,
        "committee_name": names.get(str(get_locale())) or names["zh_Hans"],
    }
