"""Attachment streams (FORMAT.md §4)."""

import math
import os
import random

import nacl.bindings as sodium
import pytest

from crypto.errors import CryptoError
from crypto.keys import random_bytes
from crypto.stream import (
    ABYTES,
    CHUNK,
    HEADER_BYTES,
    StreamEncryptor,
    attachment_key,
    ciphertext_size,
    decrypt_stream,
    encrypt_bytes,
    padme,
)

TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL


def padme_by_formula(length: int) -> int:
    """FORMAT.md's formula written with floats and rounding, independently of stream.py."""
    if length < 2:
        return length
    e = math.floor(math.log2(length))
    s = math.floor(math.log2(e)) + 1
    step = 2 ** (e - s)
    return math.ceil(length / step) * step


@pytest.mark.parametrize(
    "length,padded",
    [
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
        (5, 5),
        (7, 7),
        (9, 10),
        (17, 18),
        (33, 36),
        (100, 104),
        (1000, 1024),
        (1025, 1088),
        (65537, 67584),
        (1_000_000, 1_015_808),
    ],
)
def test_padme_known_values(length, padded):
    assert padme(length) == padded


def test_padme_properties():
    rng = random.Random(1)
    lengths = list(range(0, 5000)) + [rng.randrange(5000, 10**12) for _ in range(2000)]
    for length in lengths:
        padded = padme(length)
        assert padded == padme_by_formula(length)
        assert length <= padded <= length * 1.12 + 1
        assert padme(padded) == padded
    assert all(padme(n) <= padme(n + 1) for n in range(5000))


def test_few_distinct_padded_sizes():
    # The point of Padmé: many lengths share one padded length.
    assert len({padme(n) for n in range(1_000_000, 1_100_000)}) < 10


def _chunks(key: bytes, data: bytes):
    """(tag, plaintext length) of every chunk, read with the raw primitive."""
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, data[:HEADER_BYTES], key)
    out = []
    for start in range(HEADER_BYTES, len(data), CHUNK + ABYTES):
        plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
            state, data[start : start + CHUNK + ABYTES], None
        )
        out.append((tag, plain))
    return out


@pytest.mark.parametrize(
    "size",
    [0, 1, 2, 1000, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 1, 3 * CHUNK + 12345, 4 * 1024 * 1024 + 1],
)
def test_stream_layout(size):
    """n = max(1, ceil(padme/65536)) chunks, full MESSAGE chunks, one final FINAL one."""
    key = random_bytes(32)
    data = os.urandom(size)
    stream = encrypt_bytes(key, data)
    assert len(stream) == ciphertext_size(size)
    chunks = _chunks(key, stream)
    assert len(chunks) == max(1, math.ceil(padme(size) / CHUNK))
    assert [tag for tag, _ in chunks] == [TAG_MESSAGE] * (len(chunks) - 1) + [TAG_FINAL]
    assert all(len(plain) == CHUNK for _, plain in chunks[:-1])
    assert 1 <= len(chunks[-1][1]) <= CHUNK or size == 0
    plain = b"".join(p for _, p in chunks)
    assert plain == data + bytes(padme(size) - size)
    assert b"".join(decrypt_stream(key, [stream], size)) == data


def test_writes_of_any_size_give_the_same_layout():
    key = random_bytes(32)
    data = os.urandom(3 * CHUNK + 777)
    rng = random.Random(3)
    out: list[bytes] = []
    enc = StreamEncryptor(key, out.append)
    assert len(out) == 1 and len(out[0]) == HEADER_BYTES  # header first
    position = 0
    while position < len(data):
        step = rng.choice([0, 1, 17, 4096, CHUNK - 1, CHUNK, CHUNK + 1])
        assert enc.write(data[position : position + step]) == len(data[position : position + step])
        position += step
    assert enc.finish() == len(data) == enc.size
    stream = b"".join(out)
    assert len(stream) == ciphertext_size(len(data))
    assert all(len(piece) == CHUNK + ABYTES for piece in out[1:-1])
    assert b"".join(decrypt_stream(key, [stream], len(data))) == data


def test_finish_is_idempotent_and_closes_the_stream():
    out: list[bytes] = []
    enc = StreamEncryptor(random_bytes(32), out.append)
    enc.write(b"abc")
    enc.finish()
    count = len(out)
    assert enc.finish() == 3 and len(out) == count
    with pytest.raises(ValueError):
        enc.write(b"more")


def test_encryption_is_randomised_by_the_header():
    key = random_bytes(32)
    assert encrypt_bytes(key, b"same") != encrypt_bytes(key, b"same")


def test_attachment_keys_differ_per_id_and_content_key():
    key = random_bytes(32)
    a = attachment_key(key, "0" * 32)
    assert a != attachment_key(key, "0" * 31 + "1")
    assert a != attachment_key(random_bytes(32), "0" * 32)
    assert len(a) == 32


@pytest.mark.parametrize("pieces", [1, 7, 1000, CHUNK + ABYTES, 100_000])
def test_reader_accepts_any_piece_boundaries(pieces):
    key = random_bytes(32)
    data = os.urandom(2 * CHUNK + 5)
    stream = encrypt_bytes(key, data)
    split = [stream[i : i + pieces] for i in range(0, len(stream), pieces)]
    assert b"".join(decrypt_stream(key, iter(split), len(data))) == data


def test_reader_returns_only_size_bytes():
    key = random_bytes(32)
    stream = encrypt_bytes(key, b"x" * 1000)
    assert b"".join(decrypt_stream(key, [stream], 1000)) == b"x" * 1000
    assert b"".join(decrypt_stream(key, [stream], 10)) == b"x" * 10


def _fails(key, stream, size):
    with pytest.raises(CryptoError) as caught:
        b"".join(decrypt_stream(key, [stream], size))
    assert str(caught.value) == "decryption failed"


@pytest.fixture(scope="module")
def three():
    key = random_bytes(32)
    data = os.urandom(2 * CHUNK + 100)
    return key, data, encrypt_bytes(key, data)


def test_truncation_anywhere_is_detected(three):
    key, data, stream = three
    ends = [
        0,
        1,
        HEADER_BYTES - 1,
        HEADER_BYTES,
        HEADER_BYTES + 1,
        HEADER_BYTES + CHUNK + ABYTES,
        HEADER_BYTES + 2 * (CHUNK + ABYTES),
        len(stream) - 1,
    ]
    for end in ends:
        _fails(key, stream[:end], len(data))


def test_data_after_final_is_detected(three):
    key, data, stream = three
    for extra in (b"\x00", bytes(ABYTES), stream[HEADER_BYTES : HEADER_BYTES + CHUNK + ABYTES]):
        _fails(key, stream + extra, len(data))


def test_reordered_or_dropped_chunks_are_detected(three):
    key, data, stream = three
    header, rest = stream[:HEADER_BYTES], stream[HEADER_BYTES:]
    c1, c2, c3 = rest[: CHUNK + ABYTES], rest[CHUNK + ABYTES : 2 * (CHUNK + ABYTES)], rest[2 * (CHUNK + ABYTES) :]
    for bad in (header + c2 + c1 + c3, header + c1 + c3, header + c2 + c3, header + c1 + c2 + c2 + c3):
        _fails(key, bad, len(data))


def test_flipped_bits_and_wrong_keys_are_detected(three):
    key, data, stream = three
    for index in (0, HEADER_BYTES, HEADER_BYTES + CHUNK + 3, len(stream) - 1):
        flipped = bytearray(stream)
        flipped[index] ^= 0x01
        _fails(key, bytes(flipped), len(data))
    _fails(random_bytes(32), stream, len(data))


def test_a_size_beyond_the_stream_is_detected():
    key = random_bytes(32)
    _fails(key, encrypt_bytes(key, bytes(1000)), padme(1000) + 1)


def test_an_authentic_chunk_after_a_full_size_final_chunk_is_rejected():
    # After a short FINAL chunk any extra bytes merge with it and break its MAC; after a
    # full-size one, only the "nothing after FINAL" rule stops a second FINAL chunk.
    key = random_bytes(32)
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    header = sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    first = sodium.crypto_secretstream_xchacha20poly1305_push(state, bytes(CHUNK), None, TAG_FINAL)
    assert b"".join(decrypt_stream(key, [header + first], CHUNK)) == bytes(CHUNK)
    for tag in (TAG_FINAL, TAG_MESSAGE):
        # A pull state that has read the stream continues it exactly as the push state
        # would, so it can forge nothing but can append the authentic next chunk.
        probe = sodium.crypto_secretstream_xchacha20poly1305_state()
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(probe, header, key)
        sodium.crypto_secretstream_xchacha20poly1305_pull(probe, first, None)
        extra = sodium.crypto_secretstream_xchacha20poly1305_push(probe, b"more", None, tag)
        _fails(key, header + first + extra, CHUNK)
