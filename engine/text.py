"""Text that came from outside (file names, command-line arguments, JSON files) made safe to
print, store and hand to encoders.

Python keeps bytes of a file name or argument that are not UTF-8 as lone surrogates
(``os.fsdecode``'s ``surrogateescape``: byte 0xff becomes U+DCFF), and JSON's ``\\ud800``
escapes produce lone surrogates too. No UTF-8 encoder accepts them (SQLite, PyAV's metadata,
the tokenizer, ``print`` to a UTF-8 stream), so they are shown as ``\\xff`` escapes in messages
and stored as U+FFFD. Plain Python, no dependencies.
"""

from __future__ import annotations

import codecs
from typing import Any

_ESCAPED_BYTES = range(0xDC80, 0xDD00)  # surrogateescape's range: one undecodable byte each


def _is_surrogate(ch: str) -> bool:
    return 0xD800 <= ord(ch) <= 0xDFFF


def has_surrogates(text: str) -> bool:
    """True if ``text`` holds characters no UTF-8 encoder accepts (lone surrogates)."""
    return any(_is_surrogate(ch) for ch in text)


def around_surrogate(text: str, width: int = 24) -> str:
    """The printable part of ``text`` around its first lone surrogate (``…`` where cut), for
    a message that shows the user where the bad bytes are."""
    at = next((i for i, ch in enumerate(text) if _is_surrogate(ch)), 0)
    start, end = max(0, at - width), min(len(text), at + width)
    lead, tail = ("…" if start else ""), ("…" if end < len(text) else "")
    return f"{lead}{printable(text[start:end])}{tail}"


def printable(value: object) -> str:
    """``value`` as text safe to print: an undecodable byte appears as ``\\xff``, any other
    lone surrogate as ``\\ud800``."""
    text = str(value)
    if not has_surrogates(text):
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if code in _ESCAPED_BYTES:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif _is_surrogate(ch):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def storable(value: str) -> str:
    """``value`` as text any encoder accepts: each lone surrogate becomes U+FFFD."""
    if not has_surrogates(value):
        return value
    return "".join("\ufffd" if _is_surrogate(ch) else ch for ch in value)


def dumps_json(value: Any, **kwargs: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, **kwargs)`` that stays valid UTF-8: a lone
    surrogate (a file name's undecodable byte) is written as its ``\\udcff`` escape, which
    reads back as the same string, instead of failing to encode."""
    import json

    text = json.dumps(value, ensure_ascii=False, **kwargs)
    if not has_surrogates(text):
        return text
    return "".join(f"\\u{ord(ch):04x}" if _is_surrogate(ch) else ch for ch in text)


#: The codec error handler :func:`printable_streams` installs: like ``backslashreplace``, but
#: an undecodable byte of a file name reads ``\\xff`` (as the user typed it), not ``\\udcff``.
PRINTABLE_ERRORS = "idlora-printable"


def _escape(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    text = "".join(
        printable(ch) if _is_surrogate(ch) else ch.encode("ascii", "backslashreplace").decode()
        for ch in bad
    )
    return text, exc.end


codecs.register_error(PRINTABLE_ERRORS, _escape)


def printable_streams(*streams: Any) -> None:
    """Make text streams (stdout, stderr) print what they cannot encode as escapes instead of
    raising: a command that wrote its output must not fail printing that output's name.
    Streams already lenient (``surrogateescape`` under the C locale) are left as they are."""
    for stream in streams:
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=PRINTABLE_ERRORS)


__all__ = [
    "PRINTABLE_ERRORS",
    "around_surrogate",
    "dumps_json",
    "has_surrogates",
    "printable",
    "printable_streams",
    "storable",
]
