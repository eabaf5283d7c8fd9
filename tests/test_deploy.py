"""deploy/: gunicorn settings, nginx site, systemd units, torrc, backup and restore.

Each file is checked by the tool that reads it where that tool is installed (.ci/run
installs nginx and tor; systemd-analyze comes with Debian), and the nginx site is run for
real in front of the app. Backups are made, verified and restored on SQLite and PostgreSQL.
"""

import io
import os
import re
import runpy
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tarfile
import threading
import time
import http.client
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from werkzeug.serving import make_server

from whistle import create_app, migrate
from whistle.custody import audit, offline
from whistle.clock import today
from whistle.config import MiB, PROJECT_DIR, Config
from whistle.models import Case
from whistle.security.privacy import SECURITY_HEADERS, QuietRequestHandler
from whistle.services import services

from tests.client_side import credentials, seal_report
from tests.conftest import FAST_KDF, PG_URL, _postgres_database, build_app, make_config
from tests.helpers import receipt_from, report_form
from tests.http_client import HttpClient

DEPLOY = PROJECT_DIR / "deploy"
NGINX_CONF = DEPLOY / "nginx" / "whistle.conf"
NGINX_PROXY = DEPLOY / "nginx" / "whistle-proxy.conf"
NGINX_COMMITTEE = DEPLOY / "nginx" / "whistle-committee.conf"
COMMITTEE_HOST, COMMITTEE_ONION = "committee.example.org", "c" * 56 + ".onion"
UNITS = sorted((DEPLOY / "systemd").glob("whistle*"))
SERVICES = [u for u in UNITS if u.suffix == ".service"]
MARKER = "BACKUP-MARKER-吃拿卡要-51c2"
TIME_OF_DAY = re.compile(r"\b\d\d:\d\d:\d\d\b")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc=None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server exited ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def _serve(app):
    """The app on an ephemeral port (werkzeug in a thread); returns (port, stop)."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def stop():
        httpd.shutdown()
        thread.join(10)
        httpd.server_close()

    return httpd.server_port, stop


# --- gunicorn ------------------------------------------------------------------------------


def _gunicorn_settings(monkeypatch, storage=None) -> dict:
    if storage:
        monkeypatch.setenv("WHISTLE_RATELIMIT_STORAGE", storage)
    else:
        monkeypatch.delenv("WHISTLE_RATELIMIT_STORAGE", raising=False)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    return runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


def test_gunicorn_settings(monkeypatch, tmp_path):
    from gunicorn.config import Config as GunicornConfig

    settings = _gunicorn_settings(monkeypatch)
    assert settings["accesslog"] is None
    assert settings["loglevel"] == "error"  # gunicorn's warnings name the peer address
    assert settings["bind"] == "127.0.0.1:8000"
    assert settings["control_socket_disable"] is True
    assert settings["preload_app"] is False
    # In-memory limits and sessions: one process only; with Redis, several.
    assert settings["workers"] == 1
    assert _gunicorn_settings(monkeypatch, "redis://127.0.0.1:6379/0")["workers"] >= 2
    # gunicorn accepts every name in the file.
    known = set(GunicornConfig().settings)
    names = {
        k
        for k, v in settings.items()
        if not k.startswith("_")
        and k not in ("multiprocessing", "os", "sys")
        and not isinstance(v, type)
        and not callable(v)
    }
    assert names <= known, names - known
    check = subprocess.run(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--check-config",
            "-c",
            str(DEPLOY / "gunicorn.conf.py"),
            "whistle:create_app()",
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env=_cli_env(f"sqlite:///{tmp_path / 'whistle.db'}", tmp_path),
    )
    assert check.returncode == 0, check.stderr


def test_gunicorn_logger_writes_no_address_time_or_request(monkeypatch, capsys):
    from gunicorn.config import Config as GunicornConfig

    settings = _gunicorn_settings(monkeypatch)
    cfg = GunicornConfig()
    for name in ("accesslog", "errorlog", "loglevel", "logger_class"):
        cfg.set(name, settings[name])
    logger = cfg.logger_class(cfg)
    logger.warning("Invalid request from ip=203.0.113.9: bad header")  # below the level
    logger.error("Worker failed to boot.")
    try:
        raise ValueError("SELECT … WHERE locator = '1234567'")
    except ValueError:
        logger.exception("Error handling request %s %s", "GET", "/api/v1/receipts/1234567/salt")
    logger.access(None, None, {"REMOTE_ADDR": "203.0.113.9"}, None)
    err = capsys.readouterr().err
    assert "Worker failed to boot." in err
    assert "Error handling a request: ValueError" in err
    assert "203.0.113.9" not in err and "1234567" not in err and "Traceback" not in err
    assert not TIME_OF_DAY.search(err)


# --- nginx ---------------------------------------------------------------------------------


def _nginx_text() -> str:
    return NGINX_CONF.read_text() + "\n" + NGINX_PROXY.read_text()


def test_nginx_adds_exactly_the_apps_security_headers():
    text = _nginx_text()
    maps = dict(re.findall(r'map \$upstream_http_\w+ \$(\w+) \{\s*""\s+"([^"]*)";\s*default "";\s*\}', text))
    added = dict(re.findall(r"add_header ([\w-]+) \$(whistle_\w+) always;", text))
    assert {header: maps[var] for header, var in added.items()} == SECURITY_HEADERS


def test_nginx_site_settings():
    text = _nginx_text()
    servers = re.split(r"\nserver \{", NGINX_CONF.read_text())[1:]
    assert len(servers) == 4
    for server in servers:
        assert "access_log off;" in server
        assert re.search(r"error_log \S+ crit;", server)
    assert "server_tokens off;" in text
    size = int(re.search(r"client_max_body_size (\d+)m;", text).group(1))
    assert size * MiB == Config.__dataclass_fields__["max_request_bytes"].default
    assert "proxy_request_buffering off;" in text  # no plaintext request body on disk
    assert "proxy_max_temp_file_size 0;" in text  # no decrypted download on disk
    assert "proxy_set_header X-Forwarded-For $whistle_client;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "Strict-Transport-Security" in servers[1] and "Onion-Location" in servers[1]
    assert "Strict-Transport-Security" not in servers[2] and "Onion-Location" not in servers[2]
    # The last one takes every other name, on every port the site listens on, to nowhere.
    for port in ("80", "[::]:80", "443 ssl http2", "[::]:443 ssl http2", "127.0.0.1:8081 proxy_protocol"):
        assert f"listen {port} default_server;" in servers[3]
    assert "return 444;" in servers[3] and "ssl_reject_handshake on;" in servers[3]
    assert "include" not in servers[3] and "server_name *" not in NGINX_CONF.read_text()


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


@pytest.fixture
def nginx_site(tmp_path):
    """deploy/nginx/whistle.conf running for real on free ports, in front of the app
    (WHISTLE_TRUSTED_PROXIES=1, two receipt attempts per client per hour)."""
    yield from _nginx_site(tmp_path, two_doors=False)


@pytest.fixture
def nginx_two_doors(tmp_path):
    """The two-door layout: whistle.conf and whistle-committee.conf, the app with
    WHISTLE_COMMITTEE_HOST naming the committee's host and onion address."""
    yield from _nginx_site(tmp_path, two_doors=True)


def _nginx_site(tmp_path, two_doors: bool):
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light; .ci/run installs it)")
    doors = {"committee_hosts": (COMMITTEE_HOST, COMMITTEE_ONION)} if two_doors else {}
    cfg = make_config(tmp_path, trusted_proxies=1, limit_followup="2 per hour", **doors)
    app = build_app(cfg)
    app_port, stop_app = _serve(app)
    ports = {"http": _free_port(), "tls": _free_port(), "onion": _free_port(), "committee_onion": _free_port()}
    conf_dir = tmp_path / "nginx"
    (conf_dir / "logs").mkdir(parents=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=report.example.org",
            "-keyout",
            str(conf_dir / "key.pem"),
            "-out",
            str(conf_dir / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{ports['http']};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{ports['tls']} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 127.0.0.1:8081 proxy_protocol;": f"listen 127.0.0.1:{ports['onion']} proxy_protocol;",
        "listen 80 default_server;": f"listen 127.0.0.1:{ports['http']} default_server;",
        "listen [::]:80 default_server;": "",
        "listen 443 ssl http2 default_server;": f"listen 127.0.0.1:{ports['tls']} ssl http2 default_server;",
        "listen [::]:443 ssl http2 default_server;": "",
        "listen 127.0.0.1:8081 proxy_protocol default_server;": f"listen 127.0.0.1:{ports['onion']} proxy_protocol default_server;",
        "ONION_ADDRESS_PLACEHOLDER.onion;": ONION_HOST + ";",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "/etc/ssl/whistle/fullchain.pem": str(conf_dir / "cert.pem"),
        "/etc/ssl/whistle/privkey.pem": str(conf_dir / "key.pem"),
        "/etc/nginx/whistle-proxy.conf": str(NGINX_PROXY),
        "/var/log/nginx/whistle-error.log": str(conf_dir / "logs" / "whistle-error.log"),
    }
    committee = {
        "listen 443 ssl http2;": f"listen 127.0.0.1:{ports['tls']} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "listen 127.0.0.1:8082 proxy_protocol;": f"listen 127.0.0.1:{ports['committee_onion']} proxy_protocol;",
        "/etc/ssl/whistle-committee/fullchain.pem": str(conf_dir / "cert.pem"),
        "/etc/ssl/whistle-committee/privkey.pem": str(conf_dir / "key.pem"),
        "COMMITTEE_ONION_PLACEHOLDER.onion": COMMITTEE_ONION,
    }
    # What both sites name alike: the shared proxy settings and the error log.
    committee.update(
        (k, replacements[k]) for k in ("/etc/nginx/whistle-proxy.conf", "/var/log/nginx/whistle-error.log")
    )
    sites = [(NGINX_CONF, replacements)] + ([(NGINX_COMMITTEE, committee)] if two_doors else [])
    for path, changes in sites:
        site = path.read_text()
        for old, new in changes.items():
            assert old in site, f"{old!r} is no longer in {path.name}: update this test"
            site = site.replace(old, new)
        (conf_dir / path.name).write_text(site)
    includes = "".join(f"  include {conf_dir / path.name};\n" for path, _ in sites)
    temp = "".join(
        f"  {kind}_temp_path {conf_dir / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (conf_dir / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\npid {conf_dir / 'nginx.pid'};\nerror_log {conf_dir / 'logs' / 'error.log'} crit;\n"
        + "events { worker_connections 64; }\n"
        + f"http {{\n{temp}  access_log {conf_dir / 'logs' / 'access.log'};\n{includes}}}\n"
    )
    command = [
        NGINX,
        "-p",
        str(conf_dir),
        "-e",
        str(conf_dir / "logs" / "error.log"),
        "-c",
        str(conf_dir / "nginx.conf"),
    ]
    checked = subprocess.run(command + ["-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "[warn]" not in checked.stderr, checked.stderr
    with (conf_dir / "logs" / "stderr.log").open("w") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        for name, port in ports.items():
            if two_doors or name != "committee_onion":
                _wait_port(port, proc)
        yield {"ports": ports, "logs": conf_dir / "logs"}
    finally:
        proc.terminate()
        proc.wait(10)
        stop_app()
        services(app).engine.dispose()


SITE = "report.example.org"
ONION_HOST = "examplexyz.onion"


class _SiteTLS(http.client.HTTPSConnection):
    """TLS to 127.0.0.1 naming the site in the handshake (SNI), as a browser would."""

    site = SITE

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.site)


def _tls(port: int, method: str, path: str, headers=None, body=None, site=SITE):
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = _SiteTLS("127.0.0.1", port, context=ctx, timeout=30)
    conn.site = site
    try:
        conn.request(method, path, body=body, headers={"Host": site, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def _onion(port: int, circuit: str, method: str, path: str, headers=None, body: bytes = b"", host: str = ONION_HOST):
    """A request as tor hands it over: a PROXY line naming the circuit, then HTTP."""
    head = [
        f"PROXY TCP6 {circuit} ::1 {1000 + len(circuit)} 80",
        f"{method} {path} HTTP/1.1",
        f"Host: {host}",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data:
        raise http.client.RemoteDisconnected("no answer")
    head_text, _, payload = data.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    headers_out = http.client.parse_headers(io.BytesIO(("\r\n".join(lines[1:]) + "\r\n\r\n").encode("latin-1")))
    return int(lines[0].split()[1]), headers_out, payload


def _assert_security_headers(headers, expect=None) -> None:
    for name, value in {**SECURITY_HEADERS, **(expect or {})}.items():
        assert headers.get_all(name) == [value], (name, headers.get_all(name))


def test_nginx_in_front_of_the_app(nginx_site):
    ports = nginx_site["ports"]
    # Clearnet TLS: the app's headers once each, plus HSTS and Onion-Location; no version.
    status, headers, body = _tls(ports["tls"], "GET", "/")
    assert status == 200 and b"<html" in body
    _assert_security_headers(headers)
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["Onion-Location"] == "http://ONION_ADDRESS_PLACEHOLDER.onion/"
    assert headers["Server"] == "nginx"
    assert "Set-Cookie" not in headers
    # A header the app sets differently is left alone (not doubled, not replaced).
    status, headers, _ = _tls(ports["tls"], "GET", "/static/vendor/unknown.mjs")
    _assert_security_headers(headers)
    # nginx's own refusal (over the body size limit) carries the same headers.
    status, headers, _ = _tls(
        ports["tls"],
        "POST",
        "/api/v1/reports",
        headers={"Content-Length": str(400 * MiB + 1), "Content-Type": "multipart/form-data"},
    )
    assert status == 413
    _assert_security_headers(headers)
    # Plain HTTP only redirects.
    conn = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=10)
    conn.request("GET", "/followup?x=1", headers={"Host": "report.example.org"})
    resp = conn.getresponse()
    assert (resp.status, resp.headers["Location"]) == (301, "https://report.example.org/followup?x=1")
    conn.close()
    # The scheme and host reach the app: a same-origin POST passes its Origin check.
    status, _, body = _tls(
        ports["tls"],
        "POST",
        "/api/v1/locators",
        body=b"{}",
        headers={"Content-Type": "application/json", "Origin": "https://report.example.org"},
    )
    assert status == 200, body


def test_nginx_passes_one_client_address(nginx_site):
    """X-Forwarded-For comes from nginx alone: a client's own is ignored, so it cannot
    dodge the rate limit; onion visitors are told apart by circuit."""
    ports = nginx_site["ports"]
    path = "/api/v1/receipts/7654321/salt"
    statuses = [_tls(ports["tls"], "GET", path, headers={"X-Forwarded-For": f"198.51.100.{i}"})[0] for i in range(3)]
    assert statuses == [200, 200, 429]

    circuit_a, circuit_b = "fc00:dead:beef:4dad::0:1", "fc00:dead:beef:4dad::0:2"
    statuses = [_onion(ports["onion"], circuit_a, "GET", path)[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    status, headers, _ = _onion(ports["onion"], circuit_b, "GET", path)
    assert status == 200  # another circuit, another budget
    _assert_security_headers(headers)
    assert "Strict-Transport-Security" not in headers and "Onion-Location" not in headers
    # Over the onion service the scheme is http: a POST from the onion origin is accepted.
    status, _, body = _onion(
        ports["onion"],
        "fc00:dead:beef:4dad::0:3",
        "POST",
        "/api/v1/locators",
        headers={"Content-Type": "application/json", "Origin": "http://examplexyz.onion"},
        body=b"{}",
    )
    assert status == 200, body

    # No access log was written, and the error log names nobody.
    logs = nginx_site["logs"]
    assert not (logs / "access.log").exists() or (logs / "access.log").stat().st_size == 0
    for log in logs.glob("*.log"):
        text = log.read_text()
        assert "127.0.0.1" not in text and "fc00:" not in text and "198.51.100" not in text, text


def _no_answer(send) -> bool:
    """True when nginx closed the connection without any answer (its 444) or refused the TLS
    handshake: a request that never reached the app."""
    try:
        send()
    except (http.client.RemoteDisconnected, ConnectionResetError, ssl.SSLError):
        return True
    return False


def test_nginx_refuses_names_other_than_the_sites(nginx_site):
    """The site's servers pass `Host $host` on: without a default server for unknown names,
    any Host (64 letters broke the app's every page) reached the app. Now nginx refuses it."""
    ports = nginx_site["ports"]
    for host in ("a" * 64, "attacker.example", "127.0.0.1"):
        # The site's own TLS name in the handshake, another Host in the request.
        assert _no_answer(lambda: _tls(ports["tls"], "GET", "/", headers={"Host": host})), host

        def plain():
            conn = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=10)
            try:
                conn.request("GET", "/", headers={"Host": host})
                return conn.getresponse().status
            finally:
                conn.close()

        assert _no_answer(plain), host
        assert _no_answer(lambda: _onion(ports["onion"], "fc00:dead:beef:4dad::0:9", "GET", "/", host=host)), host
    # A TLS handshake for an unknown name is refused before any certificate is shown.
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", ports["tls"]), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw, server_hostname="attacker.example")
    # The site's own names still reach the app.
    assert _tls(ports["tls"], "GET", "/")[0] == 200
    assert _onion(ports["onion"], "fc00:dead:beef:4dad::0:9", "GET", "/")[0] == 200


def test_the_two_door_layout_keeps_each_audience_to_its_own_door(nginx_two_doors):
    ports = nginx_two_doors["ports"]
    # The reporters' site: no committee.
    assert _tls(ports["tls"], "GET", "/")[0] == 200
    for path in ("/committee/login", "/committee/api/me"):
        assert _tls(ports["tls"], "GET", path)[0] == 404, path
        status, headers, _ = _onion(ports["onion"], "fc00:dead:beef:4dad::0:6", "GET", path)
        assert status == 404, path
        _assert_security_headers(headers)
    # Naming the committee's names at the reporters' doors reaches no committee page.
    circuit = "fc00:dead:beef:4dad::0:7"
    for host in (COMMITTEE_ONION, COMMITTEE_HOST):
        assert _no_answer(lambda: _onion(ports["onion"], circuit, "GET", "/committee/login", host=host)), host
    assert _onion(ports["onion"], circuit, "GET", "/report/contractor")[0] == 200
    # The committee's own site, on its name: its pages, not the reporters'.
    status, headers, body = _tls(ports["tls"], "GET", "/committee/login", site=COMMITTEE_HOST)
    assert status == 200 and b"<form" in body
    _assert_security_headers(headers)
    assert headers["Strict-Transport-Security"].startswith("max-age=") and "Onion-Location" not in headers
    assert _tls(ports["tls"], "GET", "/report/contractor", site=COMMITTEE_HOST)[0] == 404
    status, headers, _ = _tls(ports["tls"], "GET", "/", site=COMMITTEE_HOST)
    assert (status, headers["Location"]) == (302, "/committee/")
    assert _tls(ports["tls"], "GET", "/static/css/site.css", site=COMMITTEE_HOST)[0] == 200
    # And on its onion service, whatever name the request gives.
    for host in (COMMITTEE_ONION, ONION_HOST):
        assert _onion(ports["committee_onion"], circuit, "GET", "/committee/login", host=host)[0] == 200
        assert _onion(ports["committee_onion"], circuit, "GET", "/followup", host=host)[0] == 404
    # A member's login form posts from the committee's onion origin.
    status, _, _ = _onion(
        ports["committee_onion"],
        circuit,
        "POST",
        "/committee/login",
        headers={"Origin": f"http://{COMMITTEE_ONION}", "Content-Type": "application/x-www-form-urlencoded"},
        body=b"username=x",
    )
    assert status in (200, 302, 400), status  # judged by the login itself, not refused as cross-site


def test_every_proxied_site_names_its_own_host():
    proxy = NGINX_PROXY.read_text()
    assert "proxy_set_header Host $whistle_host;" in proxy and "$host;" not in proxy
    committee = re.split(r"\nserver \{", NGINX_COMMITTEE.read_text())[1:]
    assert len(committee) == 2
    for server in committee:
        assert "access_log off;" in server and re.search(r"error_log \S+ crit;", server)
    for server in re.split(r"\nserver \{", NGINX_CONF.read_text())[1:] + committee:
        if "whistle-proxy.conf" in server:
            host = re.search(r"set \$whistle_host (\S+);", server).group(1)
            assert host == "$server_name" or host.endswith("_PLACEHOLDER.onion"), host
    assert "HiddenServicePort 80 127.0.0.1:8082" in (DEPLOY / "tor" / "torrc-committee").read_text()
    assert "listen 127.0.0.1:8082 proxy_protocol;" in committee[1]


# --- systemd -------------------------------------------------------------------------------

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ReadWritePaths": "/var/lib/whistle",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "SystemCallFilter": "@system-service",
    "MemoryDenyWriteExecute": "yes",
    "UMask": "0077",
}


def _unit(path: Path) -> dict:
    """key -> list of values, over all sections."""
    values: dict = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


@pytest.mark.parametrize("path", SERVICES, ids=[p.name for p in SERVICES])
def test_service_hardening(path):
    unit = _unit(path)
    for key, value in HARDENING.items():
        assert value in unit.get(key, []), f"{path.name}: {key}={value}"
    assert unit["User"] == ["whistle"] and unit["EnvironmentFile"] == ["/etc/whistle/whistle.env"]


def test_units_and_commands():
    names = {u.name for u in UNITS}
    assert {
        "whistle.service",
        "whistle-notify.service",
        "whistle-notify.timer",
        "whistle-retention.service",
        "whistle-retention.timer",
    } <= names
    assert _unit(DEPLOY / "systemd" / "whistle-notify.service")["ExecStart"] == [
        "/opt/whistle/.venv/bin/whistle notify"
    ]
    assert _unit(DEPLOY / "systemd" / "whistle-retention.service")["ExecStart"] == [
        "/opt/whistle/.venv/bin/whistle retention purge"
    ]
    assert (
        "gunicorn -c /opt/whistle/deploy/gunicorn.conf.py whistle:create_app()"
        in _unit(DEPLOY / "systemd" / "whistle.service")["ExecStart"][0]
    )
    # The commands the units run exist.
    from whistle.cli import main as cli

    assert "notify" in cli.commands and "purge" in cli.commands["retention"].commands
    for timer in ("whistle-notify.timer", "whistle-retention.timer"):
        unit = _unit(DEPLOY / "systemd" / timer)
        assert unit["Persistent"] == ["true"] and unit["OnCalendar"]


def test_systemd_analyze_verify(tmp_path):
    """systemd's own parser on every unit (paths pointed at this checkout). Unknown keys and
    bad values are reported on stderr, which fails the test."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    probe = subprocess.run([tool, "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"systemd-analyze cannot run here: {probe.stderr.strip()}")
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/whistle", str(PROJECT_DIR)))
        calendar = _unit(unit).get("OnCalendar")
        if calendar:
            check = subprocess.run([tool, "calendar", calendar[0]], capture_output=True, text=True)
            assert check.returncode == 0, check.stderr
    result = subprocess.run(
        [tool, "verify", *[str(tmp_path / u.name) for u in UNITS]], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# --- tor -----------------------------------------------------------------------------------


def test_torrc(tmp_path):
    text = (DEPLOY / "tor" / "torrc").read_text()
    options = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            options[key] = value.strip()
    assert options["HiddenServiceVersion"] == "3"
    assert options["HiddenServiceDir"] == "/var/lib/tor/whistle/"
    port = int(re.search(r"listen 127\.0\.0\.1:(\d+) proxy_protocol;", NGINX_CONF.read_text()).group(1))
    assert options["HiddenServicePort"] == f"80 127.0.0.1:{port}"  # nginx's onion site
    assert options["HiddenServiceExportCircuitID"] == "haproxy"  # nginx expects a PROXY line
    assert options["HiddenServicePoWDefensesEnabled"] == "1"
    assert options["SocksPort"] == "0"
    tor = shutil.which("tor") or ("/usr/sbin/tor" if Path("/usr/sbin/tor").exists() else None)
    if tor is None:
        pytest.skip("tor is not installed (apt-get install tor; .ci/run installs it)")
    service_dir = tmp_path / "hs"
    service_dir.mkdir(mode=0o700)
    (tmp_path / "torrc").write_text(text.replace("/var/lib/tor/whistle/", f"{service_dir}/"))
    result = subprocess.run(
        [tor, "--verify-config", "-f", str(tmp_path / "torrc"), "--DataDirectory", str(tmp_path / "data")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Configuration was valid" in result.stdout, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if "[warn]" in line and "running Tor as root" not in line]
    assert not warnings, warnings


def test_torrc_of_the_committees_onion_service(tmp_path):
    """deploy/tor/torrc-committee, appended to torrc: a second onion service with client
    authorization, to nginx's committee listener."""
    text = (DEPLOY / "tor" / "torrc-committee").read_text()
    options = dict(line.split(" ", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    assert options["HiddenServiceDir"] == "/var/lib/tor/whistle-committee/"
    assert options["HiddenServiceVersion"] == "3"
    assert options["HiddenServiceExportCircuitID"] == "haproxy"
    port = int(re.search(r"listen 127\.0\.0\.1:(\d+) proxy_protocol;", NGINX_COMMITTEE.read_text()).group(1))
    assert options["HiddenServicePort"] == f"80 127.0.0.1:{port}"
    assert "authorized_clients/" in text and "descriptor:x25519:" in text
    tor = shutil.which("tor") or ("/usr/sbin/tor" if Path("/usr/sbin/tor").exists() else None)
    if tor is None:
        pytest.skip("tor is not installed (apt-get install tor; .ci/run installs it)")
    reporters, members = tmp_path / "hs", tmp_path / "hs-committee"
    for folder in (reporters, members, members / "authorized_clients"):
        folder.mkdir(mode=0o700)
    # One member's key, as the comments say to write it.
    import base64

    from nacl.public import PrivateKey

    public = base64.b32encode(bytes(PrivateKey.generate().public_key)).decode().rstrip("=")
    (members / "authorized_clients" / "zhao.lei.auth").write_text(f"descriptor:x25519:{public}\n")
    combined = (
        (DEPLOY / "tor" / "torrc").read_text().replace("/var/lib/tor/whistle/", f"{reporters}/")
        + "\n"
        + text.replace("/var/lib/tor/whistle-committee/", f"{members}/")
    )
    (tmp_path / "torrc").write_text(combined)
    result = subprocess.run(
        [tor, "--verify-config", "-f", str(tmp_path / "torrc"), "--DataDirectory", str(tmp_path / "data")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Configuration was valid" in result.stdout, result.stdout + result.stderr
    warnings = [line for line in result.stdout.splitlines() if "[warn]" in line and "running Tor as root" not in line]
    assert not warnings, warnings


# --- backup and restore --------------------------------------------------------------------


def _cli_env(database_url: str, instance_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WHISTLE_", "PG"))}
    env.update(WHISTLE_DATABASE_URL=database_url, WHISTLE_INSTANCE_DIR=str(instance_dir))
    return env


def _script(name: str, *args, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(DEPLOY / name), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)


def _row_counts(engine) -> dict:
    names = sa.inspect(engine).get_table_names()
    with engine.connect() as conn:
        return {n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}


def _scratch_databases() -> set:
    if not PG_URL:
        return set()
    engine = sa.create_engine(PG_URL)
    with engine.connect() as conn:
        names = set(
            conn.execute(sa.text("SELECT datname FROM pg_database WHERE datname LIKE 'whistle_verify_%'")).scalars()
        )
    engine.dispose()
    return names


@pytest.fixture
def populated(app, client, committee, db_session):
    """A case with a file, a committee reply and audit entries; returns its receipt code."""
    resp, code, _keys = seal_report(client, MARKER, files=[("evidence.txt", b"EVIDENCE " + MARKER.encode())])
    assert resp.status_code == 201
    case = db_session.scalar(select(Case))
    offline.reply_to_case(db_session, services(app).rules, case, "REPLY " + MARKER, [], today("Asia/Shanghai"))
    audit.record(db_session, "view", actor="ma.lin", on=today("Asia/Shanghai"), case_id=case.id)
    audit.record(db_session, "reply", actor="ma.lin", on=today("Asia/Shanghai"), case_id=case.id)
    db_session.commit()
    return code


def _backup_text(archive: Path, tmp_path: Path) -> bytes:
    """The backup's database as bytes to search: the SQLite file, or the SQL that
    pg_restore makes of the (compressed) dump."""
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        if "database.sqlite" in names:
            return tar.extractfile("database.sqlite").read()
        (tmp_path / "database.pgdump").write_bytes(tar.extractfile("database.pgdump").read())
    return subprocess.run(
        ["pg_restore", "--file=-", str(tmp_path / "database.pgdump")], check=True, capture_output=True
    ).stdout


def test_backup_holds_only_the_database_and_restores(app, config, populated, db_session, tmp_path, request):
    code = populated
    env = _cli_env(config.database_url, config.instance_dir)
    scratch_before = _scratch_databases()
    made = _script("backup.sh", "--out", tmp_path / "backups", env=env)
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.strip().splitlines()[-1])
    assert archive.parent == tmp_path / "backups" and re.fullmatch(r"whistle-backup-\d{4}-\d\d-\d\d\.tar", archive.name)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert "verified" in made.stderr and "audit log intact" in made.stderr
    assert _scratch_databases() == scratch_before  # the trial database was dropped
    assert list((tmp_path / "backups").iterdir()) == [archive]

    import json

    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        manifest = json.loads(tar.extractfile("manifest.json").read())
    backend = "postgresql" if config.database_url.startswith("postgresql") else "sqlite"
    assert set(members) == {"manifest.json", "database.pgdump" if backend == "postgresql" else "database.sqlite"}
    assert all(m.mtime % 86400 == 0 for m in members.values())  # a day, no time of day
    assert manifest["backend"] == backend and manifest["instance_secret"] is False
    assert manifest["rows"] == _row_counts(services(app).engine)
    assert manifest["rows"]["cases"] == 1 and manifest["rows"]["audit_log"] >= 2

    # Ciphertext only: the report and the reply are not in it; the data is (a verifier).
    text = _backup_text(archive, tmp_path)
    case = db_session.scalar(select(Case))
    assert case.verifier in text or case.verifier.hex().encode() in text
    for secret in (MARKER.encode(), MARKER.encode("unicode_escape"), b"EVIDENCE"):
        assert secret not in text
    assert (config.instance_dir / "instance-secret").read_bytes() not in archive.read_bytes()

    # With --with-secret, the instance secret comes along and is restored with the data.
    made = _script("backup.sh", "--out", tmp_path / "with-secret", "--with-secret", env=env)
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.strip().splitlines()[-1])
    with tarfile.open(archive) as tar:
        assert tar.extractfile("instance-secret").read() == (config.instance_dir / "instance-secret").read_bytes()

    if backend == "postgresql":
        target = _postgres_database(request)
    else:
        target = f"sqlite:///{tmp_path / 'restored' / 'whistle.db'}"
    restored_dir = tmp_path / "restored-instance"
    restored = _script("restore.sh", archive, "--with-secret", env=_cli_env(target, restored_dir))
    assert restored.returncode == 0, restored.stderr
    assert (restored_dir / "instance-secret").read_bytes() == (config.instance_dir / "instance-secret").read_bytes()

    # The restored service works: the reporter's receipt opens the case there, and unknown
    # locators get the same fake salts as before (the same instance secret).
    again = create_app(Config(instance_dir=restored_dir, database_url=target, testing=True, **FAST_KDF))
    try:
        migrate.upgrade(services(again).engine)
        new = again.test_client()
        creds, _ = credentials(new, code)
        followed = new.post("/api/v1/followup", json=creds)
        assert followed.status_code == 200
        assert [i["kind"] for i in followed.get_json()["items"]] == ["reply"]
        fake = "/api/v1/receipts/0000001/salt"
        assert new.get(fake).get_json() == app.test_client().get(fake).get_json()
    finally:
        services(again).engine.dispose()

    # A restore never overwrites: the target now holds data.
    refused = _script("restore.sh", archive, env=_cli_env(target, restored_dir))
    assert refused.returncode == 1 and "not empty" in refused.stderr


def test_backup_refused_when_the_restore_does_not_verify(app, config, populated, db_session, tmp_path):
    """An audit log altered in the database: the trial restore fails `whistle audit verify`,
    so no backup file is left claiming to be good."""
    db_session.execute(sa.text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1"))
    db_session.commit()
    made = _script("backup.sh", "--out", tmp_path / "backups", env=_cli_env(config.database_url, config.instance_dir))
    assert made.returncode == 1
    assert "audit verify failed" in made.stderr
    assert not list((tmp_path / "backups").iterdir())


def test_damaged_backup_is_refused(app, config, populated, tmp_path):
    env = _cli_env(config.database_url, config.instance_dir)
    made = _script("backup.sh", "--out", tmp_path, "--no-verify", env=env)
    assert made.returncode == 0, made.stderr
    archive = Path(made.stdout.strip().splitlines()[-1])
    assert _script("restore.sh", "--verify", archive, env=env).returncode == 0
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("database."))
    data = bytearray(archive.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0x01
    archive.write_bytes(bytes(data))
    checked = _script("restore.sh", "--verify", archive, env=env)
    assert checked.returncode == 1 and "damaged" in checked.stderr


# --- MemoryDenyWriteExecute ----------------------------------------------------------------

MDWE_WRAPPER = r"""
import ctypes, mmap, os, sys
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    sys.exit(f"unsupported: PR_SET_MDWE failed with errno {ctypes.get_errno()}")
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("a writable and executable mapping was allowed: MDWE is not in force")
except PermissionError:
    pass
import cffi
try:
    cffi.FFI().callback("int(int)", lambda x: x)
    sys.exit("ffi.callback() worked: MDWE is not in force")
except MemoryError:
    pass  # the one cffi feature MemoryDenyWriteExecute forbids; whistle never uses it
if len(sys.argv) > 1:
    os.execv(sys.argv[1], sys.argv[1:])  # the setting is kept across execve
"""


def test_app_runs_under_memory_deny_write_execute(config, committee, tmp_path):
    """What MemoryDenyWriteExecute=yes in whistle.service asks of the process, enforced by
    the kernel (PR_SET_MDWE, Linux >= 6.3): gunicorn boots, and a report is sealed on the
    server (PyNaCl), stored, and followed up with its receipt (argon2id)."""
    wrapper = tmp_path / "mdwe.py"
    wrapper.write_text(MDWE_WRAPPER)
    probe = subprocess.run([sys.executable, str(wrapper)], capture_output=True, text=True)
    if probe.returncode != 0 and "unsupported" in probe.stderr:
        pytest.skip(f"the kernel cannot enforce it: {probe.stderr.strip()}")
    assert probe.returncode == 0, probe.stderr
    port = _free_port()
    env = _cli_env(config.database_url, config.instance_dir)
    env.update(
        WHISTLE_RECEIPT_OPSLIMIT=str(config.receipt_opslimit), WHISTLE_RECEIPT_MEMLIMIT=str(config.receipt_memlimit)
    )
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [
            sys.executable,
            str(wrapper),
            gunicorn,
            "-c",
            str(DEPLOY / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "whistle:create_app()",
        ],
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_port(port, proc)
        client = HttpClient(f"http://127.0.0.1:{port}")
        assert client.get("/readyz").status_code == 200
        resp = client.post(
            "/report/contractor",
            data=report_form("MDWE " + MARKER, [("e.txt", b"EVIDENCE")]),
            content_type="multipart/form-data",
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        code = receipt_from(resp.get_data(as_text=True))
        page = client.post("/followup", data={"code": code})
        assert page.status_code == 200 and 'id="case-title"' in page.get_data(as_text=True)
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert "MemoryError" not in err and "Traceback" not in err, err
