"""The web layer's shared parts: the Flask class whistle runs on and its error pages (a
clear message in the user's language, JSON for the APIs), and how an unexpected error is
logged (by type and place only)."""

import logging
import os
import traceback
from pathlib import Path

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadHost, HTTPException

from whistle import db
from whistle.config import PROJECT_DIR
from whistle.errors import WhistleError

BAD_HOST = "whistle.bad_host"  # environ flag: the Host header could not be bound


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


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(WhistleError)
    def whistle_error(exc: WhistleError):
        db.rollback()
        return error_response(exc.status, exc.code, str(exc.message))

    app.register_error_handler(HTTPException, http_error_response)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log_unhandled(exc)
        db.rollback()  # what was not committed is not stored, and the error page can still query
        if request.method == "POST" and db.committed_in_request():
            # Failed after its data was committed (rendering a receipt page, say): sending it
            # again would file it twice.
            message = _(
                "Something went wrong on our side, but what you sent was stored. Check before you send it again."
            )
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

    def create_url_adapter(self, request):
        """The URL adapter, also for a Host werkzeug cannot bind (a label over 63 characters
        has no IDNA form): then one bound to a placeholder name, so the error page can still
        build its links (relative: the Host is never in them), and ``refuse_bad_host`` makes
        the request a 400."""
        try:
            return super().create_url_adapter(request)
        except BadHost:
            if request is None:
                raise
            request.environ[BAD_HOST] = True
            return self.url_map.bind_to_environ(request.environ, server_name="invalid", subdomain="")

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


def refuse_bad_host() -> None:
    """before_request: a Host the URL map could not bind (``create_url_adapter``), or whose
    punycode does not decode (``host_url``, which the Origin check reads), is a 400."""
    if request.environ.get(BAD_HOST):
        raise BadHost()
    try:
        request.host_url  # noqa: B018 - decoded here, so no later use of it can fail
    except UnicodeError as exc:
        raise BadHost() from exc


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
