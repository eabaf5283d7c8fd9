"""The shipped example rules, and variants of its text for the triage tests."""

import datetime
from pathlib import Path

import whistle
from whistle.rules import parse as rules_mod

EXAMPLE_PATH = Path(whistle.__file__).parent / "data" / "rules.example.toml"
EXAMPLE_TEXT = EXAMPLE_PATH.read_text(encoding="utf-8")


def edited(*replacements, append: str = "") -> str:
    """The example text with each (old, new) replaced once (old must occur), plus ``append``."""
    text = EXAMPLE_TEXT
    for old, new in replacements:
        assert old in text, f"the example no longer contains {old!r}"
        text = text.replace(old, new, 1)
    return text + append


def example():
    return rules_mod.load(EXAMPLE_PATH)


def header(**fields) -> dict:
    """A complete routing header; fields override the defaults."""
    base = {
        "channel": "general",
        "department": "housing",
        "category": "bribery",
        "accused_rank": "staff",
        "money_band": "none",
        "frequency": "once",
        "evidence": "none",
    }
    base.update(fields)
    return base


def d(text: str) -> datetime.date:
    return datetime.date.fromisoformat(text)
