"""whistle's build backend: setuptools, after two steps that make a wheel complete.

1. The message catalogs are compiled (whistle/translations/*/LC_MESSAGES/messages.mo; they
   are build products, never committed).
2. The browser's libsodium build is copied from node_modules into whistle/vendor/, checked
   first. package-lock.json pins each npm package by the sha512 ``integrity`` of its
   tarball, which says nothing directly about one file inside it, so the check goes the
   whole way: the tarball in npm's cache (which `npm ci` fills) must have that sha512, and
   the file in node_modules must be byte for byte the file inside that tarball. A file
   changed after installation, or a lockfile that no longer matches node_modules, stops the
   build. (Without the tarball in the cache, run `npm ci` first.)

3. The top-level templates/ is copied into the package as whistle/templates/ (where an
   installed whistle looks for them: whistle/config.py).

The copies are removed again once the wheel is built, so a checkout goes on serving from
templates/ and node_modules/. Build from a clean checkout: `make wheel`.
"""

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 - every other hook is setuptools' own

ROOT = Path.cwd()  # PEP 517: hooks run in the source tree
VENDOR = ROOT / "whistle" / "vendor"
TEMPLATES = ROOT / "whistle" / "templates"
# Files served to browsers (whistle/reporter/vendor.py FILES; tests/test_packaging.py checks
# that the two agree): path under node_modules -> npm package.
VENDORED = {
    "libsodium-wrappers-sumo/dist/modules-sumo-esm/libsodium-wrappers.mjs": "libsodium-wrappers-sumo",
    "libsodium-sumo/dist/modules-sumo-esm/libsodium-sumo.mjs": "libsodium-sumo",
    "@cantoo/pdf-lib/dist/pdf-lib.esm.min.js": "@cantoo/pdf-lib",
    "fflate/esm/browser.js": "fflate",
    "pdfjs-dist/build/pdf.min.mjs": "pdfjs-dist",
    "pdfjs-dist/build/pdf.worker.min.mjs": "pdfjs-dist",
}


class VendorCheckFailed(RuntimeError):
    pass


def npm_cache() -> Path:
    return Path(os.environ.get("npm_config_cache") or Path.home() / ".npm") / "_cacache"


def tarball(integrity: str, cache: Path) -> bytes:
    """The npm tarball whose sha512 is ``integrity``, from npm's content-addressed cache."""
    algorithm, _, digest = integrity.partition("-")
    if algorithm != "sha512":
        raise VendorCheckFailed(f"package-lock.json integrity is not sha512: {integrity}")
    hexdigest = base64.b64decode(digest).hex()
    path = cache / "content-v2" / "sha512" / hexdigest[:2] / hexdigest[2:4] / hexdigest[4:]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise VendorCheckFailed(f"the tarball {integrity} is not in npm's cache ({cache}): run `npm ci`") from exc
    if hashlib.sha512(data).hexdigest() != hexdigest:
        raise VendorCheckFailed(f"npm's cached tarball {integrity} does not match its sha512")
    return data


def checked_file(relative: str, package: str, lock: dict, cache: Path, node_modules: Path) -> bytes:
    """The bytes of node_modules/``relative``, once shown to be the locked tarball's file."""
    entry = lock["packages"].get(f"node_modules/{package}")
    if not entry or "integrity" not in entry:
        raise VendorCheckFailed(f"package-lock.json does not pin {package}")
    installed = json.loads((node_modules / package / "package.json").read_text(encoding="utf-8"))
    if installed.get("version") != entry["version"]:
        raise VendorCheckFailed(
            f"node_modules has {package} {installed.get('version')}, the lockfile {entry['version']}: run `npm ci`"
        )
    with tarfile.open(fileobj=io.BytesIO(tarball(entry["integrity"], cache)), mode="r:gz") as tar:
        member = tar.extractfile("package/" + relative.removeprefix(package + "/"))
        expected = member.read() if member else None
    data = (node_modules / relative).read_bytes()
    if expected is None or data != expected:
        raise VendorCheckFailed(
            f"node_modules/{relative} is not the file in {package} {entry['version']} as package-lock.json pins it"
        )
    return data


def copy_vendor_files(root: Path = ROOT, target: Path = VENDOR, cache: Path | None = None) -> dict[str, str]:
    """Copy the checked files to ``target``; returns each one's sha256."""
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    digests = {}
    for relative, package in VENDORED.items():
        data = checked_file(relative, package, lock, cache or npm_cache(), root / "node_modules")
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        digests[relative] = hashlib.sha256(data).hexdigest()
    return digests


def compile_catalogs(root: Path = ROOT) -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in sorted((root / "whistle" / "translations").glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh)
        with po.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=True)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    compile_catalogs()
    try:
        for staged in (VENDOR, TEMPLATES):
            shutil.rmtree(staged, ignore_errors=True)
        copy_vendor_files()
        shutil.copytree(ROOT / "templates", TEMPLATES)
        return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    finally:
        for staged in (VENDOR, TEMPLATES):
            shutil.rmtree(staged, ignore_errors=True)
