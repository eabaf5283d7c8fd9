"""Two audiences, two front doors: with WHISTLE_COMMITTEE_HOST set, the committee's pages
and API answer only on the committee's host names (its own name and onion service, which
Tor client authorization can close to everyone but members), and the reporters' host
answers 404 for them; the committee's hosts answer 404 for reporter pages in turn.

Unset (the default), one host serves both, as before. The host is the request's Host
header: nginx passes each site's own (deploy/nginx), so a visitor of one door cannot name
the other. Static files and the health checks are served on both doors.
"""

from flask import Flask, redirect, request
from werkzeug.exceptions import NotFound

from whistle.services import services

COMMITTEE_PREFIX = "/committee"
BOTH_DOORS = ("/static/", "/healthz", "/readyz")


def is_committee_path(path: str) -> bool:
    return path == COMMITTEE_PREFIX or path.startswith(COMMITTEE_PREFIX + "/")


def request_hostname() -> str:
    """The Host header's name, without its port, in lower case ([::1]:5000 -> [::1])."""
    host = request.host.lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else host


def check_door():
    """before_request: 404 for the other audience's routes (see the module docstring)."""
    committee_hosts = services().config.committee_hosts
    if not committee_hosts:
        return None
    path = request.path
    if request_hostname() in committee_hosts:
        if is_committee_path(path) or path.startswith(BOTH_DOORS):
            return None
        if path == "/":
            return redirect(COMMITTEE_PREFIX + "/")
        raise NotFound()
    if is_committee_path(path):
        raise NotFound()
    return None


def init_app(app: Flask) -> None:
    app.before_request(check_door)
