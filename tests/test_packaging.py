"""The installable package: a wheel built from the checkout holds the templates, static
files, compiled catalogs, migrations and the checked libsodium build; installed with its
dependencies into a fresh virtual environment and run outside the checkout, `whistle demo`
and `whistle run` serve every page and every asset the pages ask for.

The wheel is built from a copy of the source files (the build stages files inside the
package, and other tests import it meanwhile); pip reaches only PyPI, through its cache.
"""

import base64
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.test_deploy import _free_port, _wait_port

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "deploy" / "build" / "whistle_build.py"
PAGES = ["/", "/report/contractor", "/report/general", "/followup", "/notices", "/transparency", "/committee/login"]


def _backend():
    spec = importlib.util.spec_from_file_location("whistle_build", BACKEND)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _clean_env(**extra) -> dict:
    """No PYTHONPATH or WHISTLE_ settings of the test run: only what is installed counts."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("WHISTLE_")}
    return dict(env, **extra)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("source")
    files = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        if (ROOT / name).is_file() and name != "node_modules":
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    (src / "node_modules").symlink_to(ROOT / "node_modules")
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dist),
            f"{src}/",
        ],
        check=True,
        env=_clean_env(),
    )
    [built] = dist.glob("whistle-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel and its dependencies (as requirements.lock
    pins them) installed."""
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(home / "bin" / "python"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--constraint",
            str(ROOT / "requirements.lock"),
            str(wheel),
        ],
        check=True,
        env=_clean_env(),
    )
    return home


def test_the_wheel_holds_what_the_service_needs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").rglob("*.html"):
        assert f"whistle/templates/{template.relative_to(ROOT / 'templates')}" in names
    for static in (ROOT / "whistle" / "static").rglob("*"):
        if static.is_file():
            assert f"whistle/{static.relative_to(ROOT / 'whistle')}" in names
    for po in (ROOT / "whistle" / "translations").glob("*/LC_MESSAGES/messages.po"):
        assert f"whistle/{po.relative_to(ROOT / 'whistle').with_suffix('.mo')}" in names
    for migration in (ROOT / "whistle" / "migrations").rglob("*.py"):
        assert f"whistle/{migration.relative_to(ROOT / 'whistle')}" in names
    assert "whistle/data/rules.example.toml" in names and "crypto/envelope.py" in names
    assert not any(n.startswith(("tests/", "crypto/tests/", "templates/", "node_modules/")) for n in names)
    with zipfile.ZipFile(wheel) as zf:
        for relative in _backend().VENDORED:
            assert zf.read(f"whistle/vendor/{relative}") == (ROOT / "node_modules" / relative).read_bytes()


def test_installed_outside_the_checkout_demo_and_run_serve_every_asset(venv, tmp_path):
    here = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import whistle; print(whistle.__file__)"],
        cwd=tmp_path,
        env=_clean_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert here.startswith(str(venv)), here
    demo = subprocess.run(
        [str(venv / "bin" / "whistle"), "demo"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "instance" / "demo-committee.key").is_file()  # the working directory's instance
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(venv / "bin" / "whistle"), "run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=_clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_port(port, server, timeout=60)
        base = f"http://127.0.0.1:{port}"
        assets = set()
        for path in PAGES:
            with urllib.request.urlopen(base + path) as resp:
                assert resp.status == 200, path
                html = resp.read().decode("utf-8")
            assert 'class="demo-banner"' in html  # the demo keys are in use
            assets |= set(re.findall(r'(?:src|href)="(/static/[^"?#]+)', html))
        assets |= {"/static/vendor/libsodium-wrappers.mjs", "/static/vendor/libsodium-sumo.mjs"}
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
        for asset in sorted(assets):
            with urllib.request.urlopen(base + asset) as resp:
                assert resp.status == 200 and resp.read(), asset
        for lang, text in (
            ("zh_Hans", "承包商、供应商举报"),
            ("zh_Hant", "承包商、供應商舉報"),
            ("en", "Contractor complaint"),
        ):
            with urllib.request.urlopen(f"{base}/?lang={lang}") as resp:
                assert text in resp.read().decode("utf-8"), lang  # each compiled catalog is there
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _fake_checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A root with package-lock.json and node_modules as npm ci leaves them, and npm's cache."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "package-lock.json", root / "package-lock.json")
    backend = _backend()
    for package in set(backend.VENDORED.values()):
        shutil.copytree(ROOT / "node_modules" / package, root / "node_modules" / package)
    return root, backend.npm_cache()


def test_the_vendored_libsodium_is_checked_against_the_locked_tarball(tmp_path):
    backend = _backend()
    root, cache = _fake_checkout(tmp_path)
    digests = backend.copy_vendor_files(root, tmp_path / "out", cache)
    for relative, digest in digests.items():
        assert hashlib.sha256((tmp_path / "out" / relative).read_bytes()).hexdigest() == digest

    # One byte changed in node_modules after installation: the build stops.
    relative = next(iter(backend.VENDORED))
    path = root / "node_modules" / relative
    path.write_bytes(path.read_bytes().replace(b"crypto_box", b"crypto_bax", 1))
    with pytest.raises(backend.VendorCheckFailed, match="is not the file"):
        backend.copy_vendor_files(root, tmp_path / "out2", cache)


def test_a_lockfile_that_does_not_match_the_tarball_stops_the_build(tmp_path):
    backend = _backend()
    root, cache = _fake_checkout(tmp_path)
    lock = json.loads((root / "package-lock.json").read_text())
    package = next(iter(backend.VENDORED.values()))
    lock["packages"][f"node_modules/{package}"]["integrity"] = "sha512-" + "A" * 86 + "=="
    (root / "package-lock.json").write_text(json.dumps(lock))
    with pytest.raises(backend.VendorCheckFailed, match="not in npm's cache"):
        backend.copy_vendor_files(root, tmp_path / "out", cache)
    # A cache entry whose content is not what its name says is refused too.
    fake = tmp_path / "cache"
    digest = bytes(64)
    entry = fake / "content-v2" / "sha512" / digest.hex()[:2] / digest.hex()[2:4] / digest.hex()[4:]
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"not the tarball")
    lock["packages"][f"node_modules/{package}"]["integrity"] = "sha512-" + base64.b64encode(digest).decode()
    (root / "package-lock.json").write_text(json.dumps(lock))
    with pytest.raises(backend.VendorCheckFailed, match="does not match its sha512"):
        backend.copy_vendor_files(root, tmp_path / "out", fake)
