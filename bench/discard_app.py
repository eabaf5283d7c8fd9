"""The request path's own floor for uploads: a bare Flask app that receives a multipart
form and parses it exactly as whistle's no-JS report form is parsed (gunicorn, werkzeug's
form parser reading the body, every file part handed to a stream the request class
chooses) and throws the bytes away: no encryption, no spooling, no database, no hooks.

    gunicorn -c deploy/gunicorn.conf.py --workers 1 'bench.discard_app:create()'
    gunicorn -c deploy/gunicorn.conf.py --workers 1 'bench.discard_app:create(262144)'

The argument is the parser's read size (werkzeug's default is 64 KiB). What a 200 MiB
upload reaches here bounds what any storage behind the same request parsing can reach
(bench/attachments.py: request_floor).
"""

from flask import Flask, Request, jsonify, request

from whistle.cases.uploads import multipart_form_parser

WERKZEUG_READ = 64 * 1024  # werkzeug's MultiPartParser default buffer_size


class _Discard:
    """A file part's stream that keeps nothing and counts what it was given."""

    def __init__(self) -> None:
        self.size = self.largest_write = 0

    def write(self, data) -> int:
        self.size += len(data)
        self.largest_write = max(self.largest_write, len(data))
        return len(data)

    def seek(self, *_args) -> int:
        return 0

    def read(self, *_args) -> bytes:
        return b""

    def close(self) -> None:
        """Nothing to drop."""


def _request_class(read_size: int):
    class DiscardingRequest(Request):
        """File parts go to _Discard, as whistle's request class sends them to its spools;
        the multipart body is read ``read_size`` bytes at a time, by whistle's parser."""

        form_data_parser_class = multipart_form_parser(read_size)

        def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
            return _Discard()

    return DiscardingRequest


def create(read_size: int = WERKZEUG_READ):
    """The discarding app, its multipart parser reading ``read_size`` bytes at a time."""
    app = Flask(__name__)
    app.request_class = _request_class(read_size)
    app.config["MAX_CONTENT_LENGTH"] = 400 * 1024 * 1024

    @app.post("/discard")
    def discard():
        parts = [part.stream for _name, part in request.files.items(multi=True)]
        return jsonify(
            fields=len(request.form),
            file_bytes=sum(p.size for p in parts),
            largest_write=max((p.largest_write for p in parts), default=0),
        )

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app
