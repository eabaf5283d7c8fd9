"""Lossless stripping of image metadata: the container is walked block by block and the
blocks that carry metadata are left out. Pixels are never decoded or re-encoded.

Each format keeps a list of blocks it knows to be needed to show the picture (colour
profile, transparency, animation); every other optional block goes, so a vendor's unknown
block cannot carry a name through. Anything after the end of the image goes too (phones
append depth maps and second pictures, each with its own metadata).
"""

import struct
import zlib

from PIL import Image

from whistle.scrub import findings
from whistle.scrub.result import Report, Unreadable

_XMP_IDS = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")


def _need(data: bytes, end: int) -> None:
    if end > len(data):
        raise Unreadable("cut short")


# --- JPEG ---------------------------------------------------------------------------------


def _orientation_segment(exif_block: bytes) -> bytes:
    """A minimal Exif segment holding only the orientation, so that a photo taken sideways
    still shows upright once its Exif is gone; b"" if it was upright (or unreadable)."""
    exif = Image.Exif()
    try:
        exif.load(exif_block)
        orientation = int(exif.get(0x0112, 1))
    except Exception:  # noqa: BLE001 - hostile Exif: just drop it
        return b""
    if not 2 <= orientation <= 8:
        return b""
    payload = (
        b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01"
        + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
        + b"\x00\x00\x00\x00"
    )
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _jfif(segment: bytes) -> bytes:
    """The JFIF header without its embedded thumbnail (a small copy of the picture, which
    may be of the picture before it was cropped)."""
    if len(segment) >= 18 and (segment[16] or segment[17]):
        body = segment[4:16] + b"\x00\x00"
        return b"\xff\xe0" + struct.pack(">H", len(body) + 2) + body
    return segment


def _jpeg_segment(marker: int, segment: bytes, report: Report) -> bytes:
    """What to write for one marker segment (the whole segment, or a replacement, or b"")."""
    payload = segment[4:]
    if marker == 0xE0 and payload.startswith(b"JFIF\x00"):
        return _jfif(segment)
    if marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
        return segment
    if marker == 0xEE and payload.startswith(b"Adobe"):
        return segment  # tells the decoder the colour transform; no metadata
    if marker == 0xE1 and payload.startswith(b"Exif"):
        findings.read_exif(payload, report)
        report.remove("exif")
        return _orientation_segment(payload)
    if marker == 0xE1 and payload.startswith(_XMP_IDS):
        findings.read_xmp(payload, report)
        report.remove("xmp")
        return b""
    if marker == 0xED:
        findings.read_iptc(payload, report)
        report.remove("iptc")
        return b""
    if marker == 0xFE:
        report.remove("comment")
        return b""
    if 0xE0 <= marker <= 0xEF:
        report.remove("other")
        return b""
    return segment


def _entropy_end(data: bytes, pos: int) -> int:
    """Where the compressed data of a scan ends: at the next marker that is not a restart
    marker or a stuffed 0xFF; len(data) if the file is cut short there."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
        elif following == 0xFF:
            pos += 1
        else:
            return pos


def jpeg(data: bytes, report: Report) -> bytes:
    """A JPEG without its Exif, XMP, IPTC, comments and other application segments."""
    if not data.startswith(b"\xff\xd8"):
        raise Unreadable("not a JPEG")
    out, pos = [b"\xff\xd8"], 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise Unreadable("no marker where one must be")
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        _need(data, pos + 2)
        marker = data[pos + 1]
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            if data[pos + 2 :].strip(b"\x00"):
                report.remove("other")
            return b"".join(out)
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        _need(data, pos + 4)
        end = pos + 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if end < pos + 4:
            raise Unreadable("segment length")
        _need(data, end)
        out.append(_jpeg_segment(marker, data[pos:end], report))
        pos = end
        if marker == 0xDA:
            scan_end = _entropy_end(data, pos)
            out.append(data[pos:scan_end])
            pos = scan_end
    if len(out) < 3:
        raise Unreadable("no image")
    return b"".join(out)  # cut short inside a scan: keep what there is, as a viewer would


# --- PNG ----------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEEP = {
    b"tRNS",
    b"cHRM",
    b"gAMA",
    b"iCCP",
    b"sBIT",
    b"sRGB",
    b"cICP",
    b"mDCV",
    b"cLLI",
    b"bKGD",
    b"hIST",
    b"pHYs",
    b"sPLT",
    b"acTL",
    b"fcTL",
    b"fdAT",
}
_PNG_TEXT_KINDS = {
    "author": "author",
    "artist": "author",
    "copyright": "author",
    "software": "software",
    "creation time": "date",
    "title": "title",
    "source": "camera",
}


def _png_text(ctype: bytes, body: bytes, report: Report) -> None:
    key, _, rest = body.partition(b"\x00")
    if ctype == b"zTXt":
        try:
            rest = zlib.decompressobj().decompress(rest[1:], 64 * 1024)
        except zlib.error:
            rest = b""
    elif ctype == b"iTXt":
        flag, rest = rest[:1], rest[2:]
        rest = rest.split(b"\x00", 2)[-1]
        if flag == b"\x01":
            try:
                rest = zlib.decompressobj().decompress(rest, 1024 * 1024)
            except zlib.error:
                rest = b""
    name = key.decode("latin-1")
    if name == "XML:com.adobe.xmp":
        findings.read_xmp(rest, report)
        report.remove("xmp")
        return
    if name.lower() == "raw profile type exif":
        report.remove("exif")
    kind = _PNG_TEXT_KINDS.get(name.lower())
    if kind:
        report.find(kind, rest.decode("utf-8" if ctype == b"iTXt" else "latin-1", "replace"))
    report.remove("text")


def png(data: bytes, report: Report) -> bytes:
    """A PNG without text, Exif, time and unknown optional chunks."""
    if not data.startswith(PNG_SIGNATURE):
        raise Unreadable("not a PNG")
    out, pos = [PNG_SIGNATURE], 8
    while True:
        _need(data, pos + 8)
        length, ctype = struct.unpack(">I", data[pos : pos + 4])[0], data[pos + 4 : pos + 8]
        end = pos + 12 + length
        _need(data, end)
        body = data[pos + 8 : end - 4]
        if ctype[:1].isupper() or ctype in _PNG_KEEP:
            out.append(data[pos:end])
        elif ctype in (b"tEXt", b"zTXt", b"iTXt"):
            _png_text(ctype, body, report)
        elif ctype == b"eXIf":
            findings.read_exif(body, report)
            report.remove("exif")
        elif ctype == b"tIME":
            report.remove("timestamps")
        else:
            report.remove("other")
        pos = end
        if ctype == b"IEND":
            if data[pos:]:
                report.remove("other")
            return b"".join(out)


# --- WebP ---------------------------------------------------------------------------------

_WEBP_KEEP = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def webp(data: bytes, report: Report) -> bytes:
    """A WebP without its EXIF and XMP chunks (and their flags in the VP8X header)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Unreadable("not a WebP")
    end = 8 + struct.unpack("<I", data[4:8])[0]
    _need(data, end)
    chunks, pos = [], 12
    while pos + 8 <= end:
        fourcc, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        stop = pos + 8 + size + (size & 1)
        _need(data, pos + 8 + size)
        body = data[pos + 8 : pos + 8 + size]
        if fourcc == b"VP8X" and size >= 10:
            chunks.append(
                fourcc
                + data[pos + 4 : pos + 8]
                + bytes([body[0] & ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF])
                + body[1:]
                + b"\x00" * (size & 1)
            )
        elif fourcc in _WEBP_KEEP:
            chunks.append(data[pos : pos + 8 + size] + b"\x00" * (size & 1))
        elif fourcc == b"EXIF":
            findings.read_exif(body, report)
            report.remove("exif")
        elif fourcc == b"XMP ":
            findings.read_xmp(body, report)
            report.remove("xmp")
        else:
            report.remove("other")
        pos = stop
    if pos != end and pos != end + 1:
        raise Unreadable("chunk past the end")
    if data[end:]:
        report.remove("other")
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- GIF ----------------------------------------------------------------------------------

_GIF_APPS_KEPT = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


def _sub_blocks(data: bytes, pos: int) -> int:
    """The end of a run of data sub-blocks starting at ``pos``."""
    while True:
        _need(data, pos + 1)
        size = data[pos]
        pos += 1 + size
        if size == 0:
            _need(data, pos)
            return pos


def gif(data: bytes, report: Report) -> bytes:
    """A GIF without comments and application extensions other than looping and colour."""
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise Unreadable("not a GIF")
    _need(data, 13)
    pos = 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    _need(data, pos)
    out = [data[:pos]]
    while True:
        _need(data, pos + 1)
        kind = data[pos]
        if kind == 0x3B:
            out.append(b";")
            if data[pos + 1 :]:
                report.remove("other")
            return b"".join(out)
        if kind == 0x2C:
            _need(data, pos + 10)
            flags = data[pos + 9]
            start = pos + 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
            end = _sub_blocks(data, start + 1)
            out.append(data[pos:end])
        elif kind == 0x21:
            _need(data, pos + 2)
            label = data[pos + 1]
            end = _sub_blocks(data, pos + 2)
            if label == 0xFE:
                report.remove("comment")
            elif label == 0xFF and not (data[pos + 2] == 11 and data[pos + 3 : pos + 14] in _GIF_APPS_KEPT):
                if data[pos + 3 : pos + 14] == b"XMP DataXMP":
                    findings.read_xmp(data[pos + 14 : end], report)
                    report.remove("xmp")
                else:
                    report.remove("other")
            else:
                out.append(data[pos:end])
        else:
            raise Unreadable("unknown GIF block")
        pos = end
