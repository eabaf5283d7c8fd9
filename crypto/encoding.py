"""Canonical encodings shared with the browser twin: base64url and canonical JSON."""

import base64
import binascii
import json
import re
from typing import Any

from crypto.errors import FormatError

_B64U = re.compile(r"[A-Za-z0-9_-]*\Z")  # \Z, not $: "$" also matches before a final newline
_MAX_SAFE_INT = 2**53 - 1


def b64u(data: bytes) -> str:
    """Encode bytes as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    """Decode strict base64url without padding; reject anything non-canonical."""
    if not isinstance(text, str) or not _B64U.match(text) or len(text) % 4 == 1:
        raise FormatError("invalid base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise FormatError("invalid base64url") from exc
    if b64u(data) != text:  # non-canonical trailing bits
        raise FormatError("invalid base64url")
    return data


def _check_value(value: object) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise FormatError("integer out of range")
        return
    if isinstance(value, str):
        if not all(0x20 <= ord(ch) < 0x7F for ch in value):
            raise FormatError("header strings must be printable ASCII")
        return
    raise FormatError("header values must be strings, integers, booleans or null")


def canon(obj: dict[str, Any]) -> str:
    """Canonical JSON of a flat header object (sorted keys, no spaces, ASCII only)."""
    if not isinstance(obj, dict):
        raise FormatError("header must be an object")
    for key, value in obj.items():
        if not isinstance(key, str):
            raise FormatError("header keys must be strings")
        _check_value(key)
        _check_value(value)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
