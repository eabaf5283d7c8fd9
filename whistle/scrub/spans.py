"""Finding and replacing ``<open>...</close>`` spans in linear time.

A regular expression like ``<tag>(.*?)</tag>`` scans to the end of the text from every
opening tag that is never closed, so a part of a few megabytes made of opening tags only
(a few kilobytes once zipped) would cost hours. Here the closing tag is looked for once
from each opening; when there is none, there is no further span either.
"""

import re
from collections.abc import Callable, Iterator


def spans(opening: re.Pattern, close: bytes, data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(start, value start, value end, end) of each span, first to last, not overlapping."""
    pos = 0
    while (found := opening.search(data, pos)) is not None:
        value_end = data.find(close, found.end())
        if value_end < 0:
            return
        pos = value_end + len(close)
        yield found.start(), found.end(), value_end, pos


def values(opening: re.Pattern, close: bytes, data: bytes) -> Iterator[bytes]:
    """What each span holds between its tags."""
    for _start, value_start, value_end, _end in spans(opening, close, data):
        yield data[value_start:value_end]


def replace(opening: re.Pattern, close: bytes, data: bytes, new: Callable[[bytes, bytes], bytes]) -> bytes:
    """``data`` with each span replaced by ``new(its opening tag, its value)``."""
    out, pos = [], 0
    for start, value_start, value_end, end in spans(opening, close, data):
        out += [data[pos:start], new(data[start:value_start], data[value_start:value_end])]
        pos = end
    return b"".join(out) + data[pos:] if out else data
