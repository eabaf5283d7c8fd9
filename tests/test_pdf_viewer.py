"""The PDF frame's shell (committee/pdf_viewer.py) is served under its own CSP: no network,
its inline script and style allowed only by their hashes, framed only by this site."""

import base64
import hashlib
import re

from whistle.security.privacy import CSP


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_viewer_shell_csp(client):
    resp = client.get("/committee/pdf-viewer")
    assert resp.status_code == 200
    csp = dict(part.strip().split(" ", 1) for part in resp.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["connect-src"] == "'none'" and csp["font-src"] == "'none'"
    assert csp["frame-ancestors"] == "'self'" and resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "worker-src" not in csp and "unsafe" not in resp.headers["Content-Security-Policy"]
    html = resp.get_data(as_text=True)
    script = re.search(r"<script>(.*)</script>", html, re.S).group(1)
    style = re.search(r"<style>(.*)</style>", html, re.S).group(1)
    assert csp["script-src"] == f"{_hash(script)} blob:" and csp["style-src"] == _hash(style)
    assert "isEvalSupported: false" in script
    assert "Set-Cookie" not in resp.headers


def test_other_pages_keep_the_site_csp(client):
    assert client.get("/").headers["Content-Security-Policy"] == CSP
    assert "frame-src" not in CSP
