"""Reading what a metadata block says, for the reporter to see before sealing.

Best effort: a block that cannot be read is still removed; it just reports nothing.
"""

import re

from PIL import Image

from whistle.scrub import spans
from whistle.scrub.result import Report

_IFD0 = {0x010F: "make", 0x0110: "model", 0x013B: "author", 0x8298: "author", 0x0131: "software", 0x0132: "date"}
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_EXIF = {0x9003: "date", 0xA430: "author", 0xA431: "serial", 0xA434: "lens"}


def _coordinate(value, ref) -> float | None:
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    number = degrees + minutes / 60 + seconds / 3600
    return -number if str(ref).upper().startswith(("S", "W")) else number


def gps_text(lat: float, lon: float) -> str:
    """31.2°N 121.4°E: a tenth of a degree, enough for the reporter to recognise a place."""
    return f"{abs(lat):.1f}°{'S' if lat < 0 else 'N'} {abs(lon):.1f}°{'W' if lon < 0 else 'E'}"


def read_exif(tiff: bytes, report: Report) -> None:
    """Findings from an Exif block (a TIFF structure, with or without the "Exif\\0\\0" prefix)."""
    exif = Image.Exif()
    try:
        exif.load(tiff if tiff.startswith(b"Exif") else b"Exif\x00\x00" + tiff)
        values = {_IFD0[tag]: exif[tag] for tag in _IFD0 if tag in exif}
        sub = exif.get_ifd(_EXIF_IFD)
        values.update({_EXIF[tag]: sub[tag] for tag in _EXIF if tag in sub})
        gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001 - a hostile block may break Pillow's parser any way it likes
        return
    lat, lon = _coordinate(gps.get(2), gps.get(1)), _coordinate(gps.get(4), gps.get(3))
    if lat is not None and lon is not None:
        report.find("gps", gps_text(lat, lon))
    camera = " ".join(str(values.get(k) or "").strip() for k in ("make", "model"))
    report.find("camera", camera)
    for kind in ("serial", "author", "software", "date"):
        report.find(kind, _text(values.get(kind)))


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value or "")


# (kind, opening tag, closing tag) of elements; (kind, pattern) of attributes.
_XMP_ELEMENTS = (
    ("author", rb"<dc:creator>", b"</dc:creator>"),
    ("author", rb"<tiff:Artist>", b"</tiff:Artist>"),
    ("software", rb"<xmp:CreatorTool>", b"</xmp:CreatorTool>"),
    ("software", rb"<pdf:Producer>", b"</pdf:Producer>"),
    ("camera", rb"<tiff:Model>", b"</tiff:Model>"),
    ("date", rb"<xmp:CreateDate>", b"</xmp:CreateDate>"),
)
_XMP_ATTRIBUTES = (
    ("author", rb"\b(?:tiff:Artist|pdf:Author)=\"([^\"]*)\""),
    ("software", rb"\bxmp:CreatorTool=\"([^\"]*)\""),
    ("camera", rb"\btiff:Model=\"([^\"]*)\""),
    ("date", rb"\bxmp:CreateDate=\"([^\"]*)\""),
)
_TAGS = re.compile(rb"<[^>]*>")


def read_xmp(xml: bytes, report: Report) -> None:
    """Findings from an XMP packet, by pattern: it is read only to tell the reporter."""
    xml = xml[: 1024 * 1024]
    for kind, opening, close in _XMP_ELEMENTS:
        for value in spans.values(re.compile(opening), close, xml):
            report.find(kind, _TAGS.sub(b" ", value).decode("utf-8", "replace"))
    for kind, pattern in _XMP_ATTRIBUTES:
        for match in re.finditer(pattern, xml):
            report.find(kind, match.group(1).decode("utf-8", "replace"))
    if re.search(rb"exif:GPSLatitude", xml):
        report.find("gps", _xmp_gps(xml) or "GPS")


def _xmp_gps(xml: bytes) -> str:
    found = []
    for name in (b"Latitude", b"Longitude"):
        match = re.search(rb"exif:GPS" + name + rb"(?:>|=\")(\d+),(\d+(?:\.\d+)?)([NSEW])", xml)
        if not match:
            return ""
        found.append((int(match.group(1)) + float(match.group(2)) / 60) * (-1 if match.group(3) in b"SW" else 1))
    return gps_text(*found)


def read_iptc(block: bytes, report: Report) -> None:
    """The by-line (2:80) of an IPTC record: the photographer's name."""
    start = block.find(b"\x1c\x02\x50")
    if start >= 0 and start + 5 <= len(block):
        size = int.from_bytes(block[start + 3 : start + 5], "big")
        if size < 0x8000:
            report.find("author", block[start + 5 : start + 5 + size].decode("utf-8", "replace"))
