"""The request path's own floor for uploads: a bare Flask app that receives a multipart
form exactly as whistle's no-JS report form is received (gunicorn, werkzeug's form parser
reading the body, every file part handed to a stream the request class chooses) and
throws the bytes away: no encryption, no spooling, no database.

    gunicorn -c deploy/gunicorn.conf.py --workers 1 'bench.discard_app:create()'

What a 200 MiB upload reaches here bounds what any storage design behind the same stack
can reach (bench/attachments.py: request_floor).
"""
from flask import Flask, Request, jsonify, request


class _Discard:
    """A file part's stream that keeps nothing and counts what it was given."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)

    def seek(self, *_args) -> int:
        return 0

    def read(self, *_args) -> bytes:
        return b""

    def close(self) -> None:
        """Nothing to drop."""


class DiscardingRequest(Request):
    """File parts go to _Discard, as whistle's request class sends them to its spools."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return _Discard()


def create():
    """The discarding app."""
    app = Flask(__name__)
    app.request_class = DiscardingRequest
    app.config["MAX_CONTENT_LENGTH"] = 400 * 1024 * 1024

    @app.post("/discard")
    def discard():
        received = sum(part.stream.size for part in request.files.values())
        return jsonify(fields=len(request.form), file_bytes=received)

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app
