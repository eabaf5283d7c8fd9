"""whistle: anonymous, end-to-end sealed reporting for an inspection committee."""
import logging
import os
import secrets

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from crypto.keys import derive
from whistle import config as config_mod
from whistle import db, i18n, privacy, sessions, uploads
from whistle.config import PROJECT_DIR, Config
from whistle.errors import WhistleError
from whistle.extensions import csrf, limiter
from whistle.rules import load as load_rules


def _instance_secret(cfg: Config) -> bytes:
    """A persistent random secret (fake receipt salts must be stable across restarts)."""
    path = cfg.instance_dir / "instance-secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def create_app(cfg: Config | None = None) -> Flask:
    """Build the application from a checked configuration (default: the environment)."""
    cfg = cfg or config_mod.from_env()
    cfg.instance_dir.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__, template_folder=str(PROJECT_DIR / "templates"),
                instance_path=str(cfg.instance_dir))
    app.request_class = uploads.WhistleRequest
    app.config.update(
        WHISTLE=cfg,
        TESTING=cfg.testing,
        MAX_CONTENT_LENGTH=cfg.max_request_bytes,  # enforced by werkzeug while reading
        MAX_FORM_MEMORY_SIZE=4 * 1024 * 1024,  # sealed envelopes travel as a form field
        RATELIMIT_STORAGE_URI=cfg.ratelimit_storage,
        RATELIMIT_STRATEGY="fixed-window",
        RATELIMIT_ENABLED=cfg.extra.get("ratelimit", True),
        SECRET_KEY=derive(_instance_secret(cfg), "whistle/v1/flask-secret"),  # signs CSRF tokens
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
    app.extensions["whistle.secret"] = _instance_secret(cfg)
    db.init_app(app, db.make_engine(cfg.database_url))
    i18n.init_app(app)
    limiter.init_app(app)
    # Committee sessions live on the server (memory or Redis), never in a signed cookie.
    app.session_interface = sessions.ServerSessionInterface(sessions.store_for(cfg.ratelimit_storage))
    csrf.init_app(app)
    privacy.quiet_request_logs()

    from whistle.reporter import api, pages
    from whistle import vendor
    from whistle.committee import admin as committee_admin  # noqa: F401 - registers views on bp
    from whistle.committee import dashboard as committee_dashboard  # noqa: F401
    from whistle.committee import api as committee_api
    from whistle.committee import auth as committee_auth
    from whistle.committee import workspace  # noqa: F401 - registers views on bp
    for reporter_bp in (pages.bp, api.bp, vendor.bp):
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
    return request.path.startswith("/api/")


def _error_response(status: int, code: str, message: str):
    if _wants_json():
        return jsonify(error=code, message=message), status
    return render_template("error.html", status=status, message=message), status


HTTP_MESSAGES = {
    400: lambda: _("The request could not be understood."),
    403: lambda: _("This request was refused. If you followed a link from another site, open this site directly."),
    404: lambda: _("There is nothing at this address."),
    405: lambda: _("This address does not accept that kind of request."),
    413: lambda: _("The upload is too large or has too many files."),
    429: lambda: _("Too many attempts. Please wait a while and try again."),
}


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(WhistleError)
    def whistle_error(exc: WhistleError):
        return _error_response(exc.status, exc.code, str(exc.message))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 400
        message = HTTP_MESSAGES.get(status, HTTP_MESSAGES[400])()
        return _error_response(status, exc.name.lower().replace(" ", "_"), message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        # Log the type and place only: never the request (address, headers, body).
        logging.getLogger("whistle").error("unhandled %s", type(exc).__name__, exc_info=exc)
        return _error_response(500, "internal_error",
                               _("Something went wrong on our side. Nothing was stored; please try again."))
