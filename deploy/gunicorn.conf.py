"""gunicorn settings for whistle: `gunicorn -c deploy/gunicorn.conf.py 'whistle:create_app()'`.

Command-line options override these (deploy/scale-out.sh passes --bind per instance).
"""

import multiprocessing
import os
import sys

from gunicorn.glogging import Logger

bind = "127.0.0.1:8000"
# Several worker processes need shared state: rate limits and committee sessions live in
# Redis then (their daily key is computed alike by every worker, never kept in Redis) (WHISTLE_RATELIMIT_STORAGE=redis://...). With the embedded
# in-memory default each process would keep its own, so a member logged in on one worker
# would be a stranger to the next and every client would get one budget per worker: one
# process only, then.
_shared = (os.environ.get("WHISTLE_RATELIMIT_STORAGE") or "memory://").startswith(("redis://", "rediss://"))
workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, multiprocessing.cpu_count())) if _shared else 1
threads = 4  # argon2id and uploads release the GIL; threads keep slow clients from blocking
timeout = 300  # large sealed uploads over Tor are slow
graceful_timeout = 60
preload_app = False  # each worker opens its own database pool after the fork
limit_request_field_size = 8190

# Logging. Access lines carry addresses and times: never written. Error lines: no time of
# day (the journal has its own), and nothing below ERROR, since gunicorn's warning for a
# malformed request names the peer address ("Invalid request from ip=...").
accesslog = None
access_log_format = ""
errorlog = "-"
loglevel = "error"
capture_output = False


class QuietLogger(Logger):
    """gunicorn's logger without the time of day, without access lines, and without the
    request line or traceback of a request that failed (its path can hold a locator, its
    traceback the request's data): the type of the error only."""

    error_fmt = "%(levelname)s gunicorn[%(process)d]: %(message)s"
    datefmt = ""

    def access(self, resp, req, environ, request_time):
        """Never: access lines name the client."""

    def exception(self, msg, *args, **kwargs):
        exc = sys.exc_info()[1]
        if isinstance(msg, str) and msg.startswith("Error handling request"):
            self.error_log.error("Error handling a request: %s", type(exc).__name__ if exc else "?")
        else:
            self.error_log.error(
                "%s (%s)", msg if isinstance(msg, str) else "error", type(exc).__name__ if exc else "?"
            )


logger_class = QuietLogger


def post_fork(server, worker):
    """Give each worker its share of the cores for receipt derivations (whistle.cases.derivations):
    more argon2id runs at once than cores only slows every one of them. The final worker
    count is known here (--workers on the command line overrides the value above); an
    explicit WHISTLE_RECEIPT_DERIVATIONS wins."""
    if not os.environ.get("WHISTLE_RECEIPT_DERIVATIONS"):
        from whistle.config import usable_cores  # the CPUs this service may use, not the host's

        os.environ["WHISTLE_RECEIPT_DERIVATIONS"] = str(max(1, usable_cores() // max(1, server.num_workers)))


# nginx on this host sets X-Forwarded-For / -Proto; whistle's ProxyFix
# (WHISTLE_TRUSTED_PROXIES=1) reads them. Nobody else may.
forwarded_allow_ips = "127.0.0.1"
proxy_allow_ips = "127.0.0.1"
# gunicorn ≥ 25 opens a control socket under $HOME by default: not needed, and under
# systemd's ProtectHome (and with several instances on one host) it is in the way.
control_socket_disable = True
