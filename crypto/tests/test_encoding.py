"""base64url and canonical JSON (FORMAT.md, Notation)."""

import base64
import os

import pytest

from crypto.encoding import b64u, canon, unb64u
from crypto.errors import FormatError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.parametrize("size", range(0, 40))
def test_b64u_round_trip_without_padding(size):
    data = os.urandom(size)
    text = b64u(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert unb64u(text) == data
    assert text == base64.b64encode(data).decode().rstrip("=").replace("+", "-").replace("/", "_")
    assert len(text) == -(-size * 4 // 3)


@pytest.mark.parametrize(
    "text",
    [
        "AA==",
        "AAA=",
        "A===",
        "=",
        "A",
        "AAAAA",
        "AA AA",
        " AA",
        "AA\n",
        "+/8",
        "AA/A",
        "AA.A",
        "\u00c0A",
        "\uff21\uff21",
    ],
)
def test_unb64u_rejects_padding_foreign_characters_and_impossible_lengths(text):
    with pytest.raises(FormatError):
        unb64u(text)


@pytest.mark.parametrize("value", [b"AA", None, 12, ["AA"]])
def test_unb64u_rejects_non_strings(value):
    with pytest.raises(FormatError):
        unb64u(value)


def test_unb64u_accepts_exactly_the_canonical_trailing_characters():
    # Two characters carry 12 bits for one byte: the low 4 bits of the second must be 0.
    accepted_two = [c for c in ALPHABET if _decodes("A" + c)]
    assert accepted_two == [c for c in ALPHABET if ALPHABET.index(c) % 16 == 0]
    # Three characters carry 18 bits for two bytes: the low 2 bits of the third must be 0.
    accepted_three = [c for c in ALPHABET if _decodes("AA" + c)]
    assert accepted_three == [c for c in ALPHABET if ALPHABET.index(c) % 4 == 0]


def _decodes(text: str) -> bool:
    try:
        unb64u(text)
    except FormatError:
        return False
    return True


def test_canon_sorts_keys_by_code_point_without_spaces():
    header = {"b": 1, "a": "x", "B": True, "_": None, "A": False, "10": 0, "9": -5}
    assert canon(header) == '{"10":0,"9":-5,"A":false,"B":true,"_":null,"a":"x","b":1}'


def test_canon_escapes_only_quote_and_backslash_in_printable_ascii():
    assert canon({"s": 'a"b\\c/d'}) == '{"s":"a\\"b\\\\c/d"}'


def test_canon_keeps_booleans_apart_from_integers():
    assert canon({"t": True, "one": 1, "f": False, "zero": 0}) == '{"f":false,"one":1,"t":true,"zero":0}'


@pytest.mark.parametrize("value", [2**53 - 1, -(2**53 - 1), 0])
def test_canon_accepts_safe_integers(value):
    assert canon({"n": value}) == f'{{"n":{value}}}'


@pytest.mark.parametrize(
    "header",
    [
        {"n": 2**53},
        {"n": -(2**53)},
        {"f": 1.0},
        {"f": float("nan")},
        {"l": [1]},
        {"o": {}},
        {"s": "\u00e9"},
        {"s": "tab\t"},
        {"s": "\x7f"},
        {"\u00e9": 1},
        {"k\n": 1},
        {1: "x"},
        {("a",): 1},
        {"b": b"bytes"},
    ],
)
def test_canon_refuses_anything_outside_the_flat_ascii_subset(header):
    with pytest.raises(FormatError):
        canon(header)


@pytest.mark.parametrize("value", [[], "header", None, [("a", 1)]])
def test_canon_refuses_non_objects(value):
    with pytest.raises(FormatError):
        canon(value)
