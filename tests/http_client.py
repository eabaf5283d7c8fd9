"""Real HTTP with the calling convention of Flask's test client, so helpers written for the
test client (tests/client_side.py) drive a server on a port: `post(path, json=...)`,
`post(path, data={field: str | (fileobj, filename)}, content_type="multipart/form-data")`,
responses with `status_code`, `get_json()`, `data` and `headers`.
"""

import http.client
import json as jsonlib
import secrets
import urllib.parse


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status_code = status
        self.headers = headers
        self.data = body

    def get_json(self):
        return jsonlib.loads(self.data) if self.data else None

    def get_data(self, as_text: bool = False):
        return self.data.decode("utf-8") if as_text else self.data


def multipart(fields: dict) -> tuple[bytes, str]:
    """(body, content type) for text fields and (fileobj, filename) file fields; a list
    gives a field several values."""
    boundary = "----whistle" + secrets.token_hex(12)
    out = []
    pairs = [(name, v) for name, value in fields.items() for v in (value if isinstance(value, list) else [value])]
    for name, value in pairs:
        if isinstance(value, tuple):
            fileobj, filename = value
            content = fileobj.read()
            head = (
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            )
        else:
            content = value.encode("utf-8") if isinstance(value, str) else value
            head = f'Content-Disposition: form-data; name="{name}"\r\n\r\n'
        out.append(f"--{boundary}\r\n".encode() + head.encode("utf-8") + content + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"


class HttpClient:
    """A client for http://host:port; one connection per request."""

    def __init__(self, base_url: str, headers: dict | None = None, timeout: float = 60):
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.base_headers = dict(headers or {})
        self.timeout = timeout

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers={**self.base_headers, **(headers or {})})
            resp = conn.getresponse()
            return Response(resp.status, resp.headers, resp.read())
        finally:
            conn.close()

    def get(self, path: str, headers: dict | None = None) -> Response:
        return self.request("GET", path, headers=headers)

    def post(
        self, path: str, json=None, data=None, content_type: str | None = None, headers: dict | None = None
    ) -> Response:
        headers = dict(headers or {})
        if json is not None:
            body, headers["Content-Type"] = jsonlib.dumps(json).encode(), "application/json"
        elif content_type == "multipart/form-data":
            body, headers["Content-Type"] = multipart(data or {})
        else:
            body = urllib.parse.urlencode(data or {}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.request("POST", path, body=body, headers=headers)
