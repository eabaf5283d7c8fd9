"""Receipt codes (FORMAT.md §1) and reporter keys (§2)."""

import random

import pytest

from crypto.errors import ReceiptError
from crypto.receipt import (
    CODE_DIGITS,
    ReceiptCode,
    derive_reporter_keys,
    fake_salt,
    is_locator,
    random_locator,
    verifier_matches,
    verifier_of,
)

# The standard Damm operation table (Damm 2004, as printed on Wikipedia), written out here
# so the tests do not depend on the library receipt.py uses.
DAMM = [
    "0317598642",
    "7092154863",
    "4206871359",
    "1750983426",
    "6123045978",
    "3674209581",
    "5869720134",
    "8945362017",
    "9438617205",
    "2581436790",
]
OPS, MEM = 1, 8192  # the cheapest Argon2id cost libsodium accepts


def damm(number: str) -> int:
    interim = 0
    for digit in number:
        interim = int(DAMM[interim][int(digit)])
    return interim


def test_damm_table_reference_values():
    assert damm("572") == 4 and damm("5724") == 0


def test_generated_codes_have_the_right_shape():
    for _ in range(50):
        code = ReceiptCode.generate()
        assert len(code.digits) == CODE_DIGITS and code.digits.isascii() and code.digits.isdigit()
        assert damm(code.digits) == 0
        assert ReceiptCode.parse(code.grouped()) == code


def test_generate_keeps_a_given_locator_and_draws_fresh_secrets():
    codes = {ReceiptCode.generate("1234567").digits for _ in range(20)}
    assert len(codes) == 20
    assert all(digits.startswith("1234567") for digits in codes)


def test_secret_digits_use_every_value_in_every_position():
    # 400 codes: a position missing a digit has probability < 10 * 0.9**400 (about 1e-17).
    secrets = [ReceiptCode.generate("0000000").digits[7:27] for _ in range(400)]
    for position in range(20):
        assert {s[position] for s in secrets} == set("0123456789")


def test_grouped_is_seven_groups_of_four():
    code = ReceiptCode.generate()
    groups = code.grouped().split(" ")
    assert len(groups) == 7 and all(len(g) == 4 for g in groups)
    assert "".join(groups) == code.digits


@pytest.mark.parametrize(
    "decorate",
    [
        lambda d: d,
        lambda d: " ".join(d[i : i + 4] for i in range(0, 28, 4)),
        lambda d: "-".join(d[i : i + 7] for i in range(0, 28, 7)),
        lambda d: f"  {d}\n",
        lambda d: "".join(chr(0xFF10 + int(c)) for c in d),
        lambda d: "\u3000".join(d[i : i + 4] for i in range(0, 28, 4)),
        lambda d: "code: " + d + " (thanks)",
    ],
)
def test_parse_normalises_user_input(decorate):
    code = ReceiptCode.generate()
    assert ReceiptCode.parse(decorate(code.digits)).digits == code.digits


@pytest.mark.parametrize("text", ["", "1234", "1" * 27, "1" * 29, "١٢٣" * 10, "abc"])
def test_parse_rejects_wrong_lengths(text):
    with pytest.raises(ReceiptError) as caught:
        ReceiptCode.parse(text)
    assert caught.value.reason == "bad_length" and str(caught.value) == "bad_length"


def test_parse_rejects_every_single_digit_error_and_adjacent_transposition():
    code = ReceiptCode.generate().digits
    for position in range(CODE_DIGITS):
        for digit in "0123456789":
            if digit != code[position]:
                typo = code[:position] + digit + code[position + 1 :]
                with pytest.raises(ReceiptError, match="bad_check"):
                    ReceiptCode.parse(typo)
    for position in range(CODE_DIGITS - 1):
        if code[position] != code[position + 1]:
            swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
            with pytest.raises(ReceiptError, match="bad_check"):
                ReceiptCode.parse(swapped)


def test_check_digit_matches_the_reference_table():
    rng = random.Random(7)
    for _ in range(200):
        body = "".join(rng.choice("0123456789") for _ in range(27))
        digits = body + str(damm(body))
        assert ReceiptCode.parse(digits).digits == digits


def test_repr_and_str_never_show_the_secret():
    code = ReceiptCode.generate()
    for text in (repr(code), str(code), f"{code}", repr([code])):
        assert code.digits[7:] not in text and code.digits[7:27] not in text
        assert code.locator in text


def test_locator_helpers():
    assert is_locator(random_locator())
    for text in ("123456", "12345678", "12345a7", "１２３４５６７", 1234567, None):
        assert not is_locator(text)


def test_reporter_keys_are_deterministic_per_code_and_salt():
    code = ReceiptCode.generate()
    salt = bytes(range(16))
    a = derive_reporter_keys(code, salt, OPS, MEM)
    b = derive_reporter_keys(ReceiptCode.parse(code.grouped()), salt, OPS, MEM)
    assert a == b
    other_salt = derive_reporter_keys(code, bytes(16), OPS, MEM)
    other_code = derive_reporter_keys(ReceiptCode.generate(), salt, OPS, MEM)
    other_cost = derive_reporter_keys(code, salt, OPS + 1, MEM)
    lookups = {k.lookup for k in (a, other_salt, other_code, other_cost)}
    publics = {k.keypair.public for k in (a, other_salt, other_code, other_cost)}
    assert len(lookups) == 4 and len(publics) == 4
    assert len(a.lookup) == 32 and a.lookup not in (a.keypair.secret, a.keypair.public)


def test_verifier_recognises_only_its_lookup():
    keys = derive_reporter_keys(ReceiptCode.generate(), bytes(16), OPS, MEM)
    assert keys.verifier == verifier_of(keys.lookup) != keys.lookup
    assert verifier_matches(keys.lookup, keys.verifier)
    assert not verifier_matches(bytes(32), keys.verifier)
    assert not verifier_matches(keys.verifier, keys.verifier)


def test_reporter_keys_repr_hides_lookup_and_secret_key():
    keys = derive_reporter_keys(ReceiptCode.generate(), bytes(16), OPS, MEM)
    text = repr(keys) + str(keys)
    for secret in (keys.lookup, keys.keypair.secret):
        assert repr(secret) not in text and secret.hex() not in text


def test_fake_salt_is_stable_per_locator_and_instance():
    secret = bytes(range(32))
    salt = fake_salt(secret, "1234567")
    assert len(salt) == 16 and salt == fake_salt(secret, "1234567")
    assert salt != fake_salt(secret, "1234568")
    assert salt != fake_salt(bytes(32), "1234567")
