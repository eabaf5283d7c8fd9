"""whistle: anonymous, end-to-end sealed reporting for an inspection committee."""
import logging
import os
import secrets
import tempfile
import traceback
from pathlib import Path

from flask import Flask, current_app, g, jsonify, render_template, request
from flask.logging import default_handler, wsgi_errors_stream
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from crypto.keys import derive
from whistle import config as config_mod, db, i18n
from whistle.cases import derivations, uploads
from whistle.security import privacy, ratelimit_storage, sessions, proof_of_work as proof
from whistle.config import PROJECT_DIR, Config, ConfigError
from whistle.errors import WhistleError
from whistle.extensions import csrf, limiter
from whistle.rules.parse import load as load_rules

SECRET_BYTES = 32
# No %(asctime)s: whistle records no time of day, not even in its own log lines.
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


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
            raise ConfigError(f"WHISTLE_INSTANCE_SECRET_FILE: no such file {path}; create it once "
                              f"(head -c 32 /dev/urandom > {path}, mode 0600) and share it with every host")
    else:
        path = cfg.instance_dir / "instance-secret"
        if not path.exists():
            _create_secret(path)
    secret = path.read_bytes()
    if len(secret) != SECRET_BYTES:
        raise ConfigError(f"instance secret {path} must hold exactly {SECRET_BYTES} bytes, it holds "
                          f"{len(secret)}; restore it from backup (a new one changes every fake salt)")
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
    from whistle.cases.store import today
    from whistle.triage.deadlines import unknown_years_warning

    warning = unknown_years_warning(rules, today(timezone))
    if warning:
        logging.getLogger("whistle").warning("rules: %s", warning)


def create_app(cfg: Config | None = None) -> Flask:
    """Build the application from a checked configuration (default: the environment)."""
    cfg = cfg or config_mod.from_env()
    cfg.instance_dir.mkdir(parents=True, exist_ok=True)
    secret = _instance_secret(cfg)
    app = WhistleFlask(__name__, template_folder=str(PROJECT_DIR / "templates"),
                       instance_path=str(cfg.instance_dir))
    _configure_logging(app)
    app.request_class = uploads.WhistleRequest
    app.config.update(
        WHISTLE=cfg,
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

    app.extensions["whistle.rules"] = load_rules(cfg.rules_file)
    _warn_of_unknown_years(app.extensions["whistle.rules"], cfg.timezone)
    app.extensions["whistle.secret"] = secret
    # The rate-limit key's daily HMAC key lives where the counters live (memory or Redis).
    app.extensions["whistle.daily_key"] = privacy.daily_key_for(
        cfg.ratelimit_storage, cfg.extra.get("redis_key_prefix", "whistle:"))
    db.init_app(app, db.make_engine(cfg.database_url))
    derivations.init_app(app, cfg.derivation_slots)
    i18n.init_app(app)
    limiter.init_app(app)
    # Committee sessions live on the server (memory or Redis), never in a signed cookie.
    app.session_interface = sessions.ServerSessionInterface(sessions.store_for(cfg.ratelimit_storage))
    # The TOTP steps logins used, beside the sessions (never in the database: a step is a time).
    app.extensions["whistle.totp_used"] = proof.spent_store_for(
        cfg.ratelimit_storage, cfg.extra.get("redis_key_prefix", "whistle:"), kind="totp-used")
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
    for reporter_bp in (pages.bp, api.bp, vendor.bp, health.bp, transparency.bp, notice_pages.bp, survey_pages.bp,
                        log_views.bp):
        csrf.exempt(reporter_bp)  # no session, no cookie: cross-site posts are refused by Origin instead
        app.register_blueprint(reporter_bp)
    app.register_blueprint(committee_auth.bp)
    app.register_blueprint(committee_api.bp)
    app.context_processor(pages.catalog_context)
    app.context_processor(_template_globals)
    app.before_request(privacy.refuse_cross_site_posts)
    app.after_request(privacy.add_security_headers)
    app.teardown_request(uploads.close_spools)
    _register_error_handlers(app)
    return app


def _template_globals():
    from whistle.models import CommitteeKey
    from sqlalchemy import select

    session = db.session()
    demo = session.scalar(select(CommitteeKey.kid).where(CommitteeKey.demo.is_(True),
                                                         CommitteeKey.active.is_(True)))
    names = current_app.extensions["whistle.rules"].committee_names
    return {"languages": i18n.LANGUAGES, "demo_keys": demo is not None, "locale": str(get_locale()),
            "committee_name": names.get(str(get_locale())) or names["zh_Hans"]}


def _wants_json() -> bool:
    """The reporter's and the committee's JSON APIs: their scripts show the error's message."""
    return request.path.startswith(("/api/", "/committee/api/"))


def error_response(status: int, code: str, message: str):
    """A clear error in the user's language: JSON for the APIs, the error page otherwise."""
    if _wants_json():
        return jsonify(error=code, message=message), status
    return render_template("error.html", status=status, message=message), status


HTTP_MESSAGES = {
    400: lambda: _("The request could not be understood."),
    401: lambda: _("Your session has ended. Please log in again."),  # the committee API, logged out
    403: lambda: _("This request was refused. If you followed a link from another site, open this site directly."),
    404: lambda: _("There is nothing at this address."),
    405: lambda: _("This address does not accept that kind of request."),
    413: lambda: _("The upload is too large or has too many files."),
    429: lambda: _("Too many attempts. Please wait a while and try again."),
}


def http_error_response(exc: HTTPException):
    """Any HTTP error (404, 405, a refused CSRF token...) as a clear message."""
    status = exc.code or 400
    message = HTTP_MESSAGES.get(status, HTTP_MESSAGES[400])()
    return error_response(status, exc.name.lower().replace(" ", "_"), message)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(WhistleError)
    def whistle_error(exc: WhistleError):
        db.rollback()
        return error_response(exc.status, exc.code, str(exc.message))

    app.register_error_handler(HTTPException, http_error_response)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log_unhandled(exc)
        db.rollback()  # what was not committed is not stored, and the error page can still query
        if request.method == "POST" and g.get("whistle_committed"):
            # Failed after its data was committed (rendering a receipt page, say): sending it
            # again would file it twice.
            message = _("Something went wrong on our side, but what you sent was stored. "
                        "Check before you send it again.")
        else:
            message = _("Something went wrong on our side. Nothing was stored; please try again.")
        return error_response(500, "internal_error", message)


def log_unhandled(exc: BaseException) -> None:
    """Log an unexpected exception by its type and place only: no message and no traceback,
    since they can hold the request's data (SQL parameters, or PostgreSQL's DETAIL naming a
    key's value: case ids, locators, salts), and never the request itself."""
    logging.getLogger("whistle").error("unhandled %s at %s", type(exc).__name__, _where(exc))


class WhistleFlask(Flask):
    """Flask, except that an exception escaping even the error handlers is logged like any
    other (Flask's own line names the path, which can hold a locator, with the traceback),
    and static files are sent like pages."""

    def log_exception(self, exc_info) -> None:
        """Type and place only (see log_unhandled)."""
        log_unhandled(exc_info[1])

    def send_static_file(self, filename: str):
        """A static file, kept by no cache like every page: send_file's "no-cache" still
        lets the browser store the file (a trace of the visit on the device), and its ETag
        and Last-Modified serve only such a stored copy."""
        response = super().send_static_file(filename)
        response.headers["Cache-Control"] = "no-store"
        response.headers.remove("ETag")
        response.headers.remove("Last-Modified")
        return response


def _short_path(filename: str) -> str:
    """A source path without the machine's directories: package-relative."""
    path = filename.replace(os.sep, "/")
    for marker in ("/site-packages/", str(PROJECT_DIR).replace(os.sep, "/") + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return Path(filename).name


def _where(exc: BaseException) -> str:
    """file:line of the innermost frame of ``exc``, plus the innermost one in our own code
    when that is a different frame (where a library was called from)."""
    frames = [(frame.f_code.co_filename, line) for frame, line in traceback.walk_tb(exc.__traceback__)]
    if not frames:
        return "?"
    places = [frames[-1]]
    ours = [f for f in frames if f[0].startswith(str(PROJECT_DIR)) and "/site-packages/" not in f[0]]
    if ours and ours[-1] != frames[-1]:
        places.append(ours[-1])
    return " via ".join(f"{_short_path(name)}:{line}" for name, line in places)
