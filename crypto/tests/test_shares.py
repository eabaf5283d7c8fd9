"""The split committee key (FORMAT.md §6): SLIP-39 shares and the sealed share files."""

import itertools
import json

import pytest

from crypto.encoding import b64u, unb64u
from crypto.errors import CryptoError, FormatError
from crypto.keys import KeyPair
from crypto.shares import (
    KIND,
    NotEnoughShares,
    ShareError,
    ShareHeader,
    combine,
    open_share,
    read_header,
    seal_share,
    share_number,
    split,
)

CHEAP = {"opslimit": 1, "memlimit": 8 * 1024 * 1024}
PASSPHRASE = "holder's own 口令 passphrase"


@pytest.fixture(scope="module")
def pair():
    return KeyPair.generate()


@pytest.fixture(scope="module")
def mnemonics(pair):
    return split(pair.secret, 3, 5)


@pytest.mark.parametrize("threshold,count", [(2, 2), (2, 3), (3, 5), (4, 7), (16, 16)])
def test_split_combine_round_trip(pair, threshold, count):
    shares = split(pair.secret, threshold, count)
    assert len(shares) == count and len(set(shares)) == count
    assert [share_number(s) for s in shares] == [(i, threshold) for i in range(1, count + 1)]
    assert combine(shares) == pair.secret  # all of them
    assert combine(shares[-threshold:]) == pair.secret  # the last M
    assert combine(list(reversed(shares[:threshold]))) == pair.secret  # order does not matter


@pytest.mark.parametrize("threshold,count", [(2, 3), (3, 5), (4, 6)])
def test_every_m_subset_rebuilds_the_secret(threshold, count):
    secret = KeyPair.generate().secret
    shares = split(secret, threshold, count)
    subsets = list(itertools.combinations(shares, threshold))
    assert len(subsets) > 1
    assert all(combine(list(subset)) == secret for subset in subsets)


@pytest.mark.parametrize("threshold,count", [(2, 3), (3, 5), (5, 5)])
def test_m_minus_one_shares_raise_not_enough(threshold, count):
    shares = split(KeyPair.generate().secret, threshold, count)
    for subset in itertools.combinations(shares, threshold - 1):
        with pytest.raises(NotEnoughShares) as caught:
            combine(list(subset))
        assert (caught.value.have, caught.value.need) == (threshold - 1, threshold)
        assert str(caught.value) == (
            f"{threshold - 1} of {threshold} shares given: {threshold} needed; nothing was recovered"
        )


def test_the_same_share_twice_counts_once(mnemonics):
    with pytest.raises(NotEnoughShares) as caught:
        combine([mnemonics[0], mnemonics[0], mnemonics[1]])
    assert (caught.value.have, caught.value.need) == (2, 3)


def test_no_share_at_all():
    with pytest.raises(ShareError, match="no share given"):
        combine([])


def test_shares_of_two_different_secrets_are_refused(mnemonics):
    other = split(KeyPair.generate().secret, 3, 5)
    mixed = [mnemonics[0], mnemonics[1], other[2]]
    with pytest.raises(ShareError) as caught:
        combine(mixed)
    assert not isinstance(caught.value, NotEnoughShares)


def test_a_corrupted_share_is_refused(mnemonics):
    words = mnemonics[2].split()
    words[10] = "academic" if words[10] != "academic" else "acid"
    with pytest.raises(ShareError, match="corrupted"):
        combine([mnemonics[0], mnemonics[1], " ".join(words)])
    with pytest.raises(ShareError):
        combine([mnemonics[0], mnemonics[1], "not a share"])


@pytest.mark.parametrize("threshold,count", [(1, 3), (0, 3), (4, 3), (2, 17), (17, 17)])
def test_bad_parameters_are_refused(pair, threshold, count):
    with pytest.raises(ValueError):
        split(pair.secret, threshold, count)


def test_only_32_byte_secrets(pair):
    with pytest.raises(ValueError):
        split(pair.secret[:16], 2, 3)


# --- share files --------------------------------------------------------------------------------


def _header(pair, index=1, holder="chen.jie"):
    return ShareHeader(pair.kid, holder, index, 3, 5)


@pytest.fixture(scope="module")
def share_file(pair, mnemonics):
    return seal_share(mnemonics[0], _header(pair), PASSPHRASE, **CHEAP)


def test_share_file_round_trip(pair, mnemonics, share_file):
    assert open_share(share_file, PASSPHRASE) == mnemonics[0]
    assert read_header(share_file) == _header(pair)


def test_share_file_has_exactly_the_documented_fields(pair, share_file):
    data = json.loads(share_file)
    assert list(data) == ["v", "kind", "committee_kid", "holder", "index", "threshold", "count", "kdf", "nonce", "box"]
    assert (data["v"], data["kind"], data["committee_kid"], data["holder"]) == (1, KIND, pair.kid, "chen.jie")
    assert (data["index"], data["threshold"], data["count"]) == (1, 3, 5)
    assert list(data["kdf"]) == ["salt", "opslimit", "memlimit"]
    assert (data["kdf"]["opslimit"], data["kdf"]["memlimit"]) == (1, 8 * 1024 * 1024)
    assert len(unb64u(data["kdf"]["salt"])) == 16 and len(unb64u(data["nonce"])) == 24
    assert len(unb64u(data["box"])) == 512 + 16  # padded: the length says nothing about the words


def test_share_file_never_contains_the_mnemonic_or_the_secret(pair, mnemonics):
    for index, mnemonic in enumerate(mnemonics, start=1):
        text = seal_share(mnemonic, _header(pair, index), PASSPHRASE, **CHEAP)
        words = mnemonic.split()
        assert mnemonic not in text
        for a, b in zip(words, words[1:]):
            assert f"{a} {b}" not in text
        for encoded in (b64u(pair.secret), pair.secret.hex(), repr(pair.secret)):
            assert encoded not in text
        assert PASSPHRASE not in text


def test_every_share_file_of_a_split_has_the_same_size(pair, mnemonics):
    sizes = {
        len(json.loads(seal_share(m, _header(pair, i), PASSPHRASE, **CHEAP))["box"])
        for i, m in enumerate(mnemonics, start=1)
    }
    assert len(sizes) == 1


def test_salt_and_nonce_are_fresh_each_time(pair, mnemonics):
    a, b = (json.loads(seal_share(mnemonics[0], _header(pair), PASSPHRASE, **CHEAP)) for _ in range(2))
    assert a["kdf"]["salt"] != b["kdf"]["salt"] and a["nonce"] != b["nonce"] and a["box"] != b["box"]


@pytest.mark.parametrize("passphrase", ["", "wrong", PASSPHRASE + " ", PASSPHRASE.upper()])
def test_wrong_passphrase(share_file, passphrase):
    with pytest.raises(CryptoError):
        open_share(share_file, passphrase)


@pytest.mark.parametrize(
    "field,value",
    [
        ("box", lambda d: b64u(bytes(528))),
        ("box", lambda d: d["box"][:-2] + ("AA" if d["box"][-2:] != "AA" else "AQ")),
        ("nonce", lambda d: b64u(bytes(24))),
        ("holder", lambda d: "liu.yang"),  # clear fields are bound to the box
        ("index", lambda d: 2),
        ("threshold", lambda d: 2),
        ("count", lambda d: 4),
        ("committee_kid", lambda d: KeyPair.generate().kid),
        ("kdf", lambda d: {**d["kdf"], "salt": b64u(bytes(16))}),
        ("kdf", lambda d: {**d["kdf"], "opslimit": 2}),
    ],
)
def test_tampered_share_file_is_refused(share_file, field, value):
    data = json.loads(share_file)
    data[field] = value(data)
    with pytest.raises(CryptoError):
        open_share(json.dumps(data), PASSPHRASE)


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(v=2),
        lambda d: d.update(v=True),
        lambda d: d.update(kind="whistle-private-key"),
        lambda d: d.update(extra=1),
        lambda d: d.pop("box"),
        lambda d: d.update(index=6),
        lambda d: d.update(index=0),
        lambda d: d.update(threshold=1),
        lambda d: d.update(threshold=6),
        lambda d: d.update(count=17),
        lambda d: d.update(holder="../etc/passwd"),
        lambda d: d.update(committee_kid="short"),
        lambda d: d["kdf"].update(memlimit=1 << 40),
        lambda d: d["kdf"].update(opslimit=1 << 20),
        lambda d: d["kdf"].update(opslimit=0),
    ],
)
def test_malformed_share_file(share_file, change):
    data = json.loads(share_file)
    change(data)
    with pytest.raises(FormatError):
        read_header(json.dumps(data))
    with pytest.raises(FormatError):
        open_share(json.dumps(data), PASSPHRASE)


@pytest.mark.parametrize(
    "bad", ["not json", "[]", '{"v":1,"kind":"other"}', pytest.param("[" * 100_000, id="deeply-nested")]
)
def test_not_a_share_file(bad):
    with pytest.raises(FormatError):
        read_header(bad)


def test_sealing_checks_its_inputs(pair, mnemonics):
    with pytest.raises(FormatError):
        seal_share(mnemonics[0], _header(pair, holder="a b"), PASSPHRASE, **CHEAP)
    with pytest.raises(FormatError):
        seal_share(mnemonics[0], _header(pair), "", **CHEAP)
    with pytest.raises(ValueError):  # the header must describe the mnemonic it seals
        seal_share(mnemonics[0], _header(pair, index=2), PASSPHRASE, **CHEAP)


def test_shares_from_files_rebuild_the_key(pair, mnemonics):
    files = [
        seal_share(m, _header(pair, i, f"holder{i}"), f"{PASSPHRASE}{i}", **CHEAP)
        for i, m in enumerate(mnemonics, start=1)
    ]
    opened = [open_share(files[i], f"{PASSPHRASE}{i + 1}") for i in (4, 0, 2)]
    assert KeyPair(pair.public, combine(opened)) == pair
