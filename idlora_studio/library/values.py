"""The rules for what a user may type into the library: names, tags, reference windows.

Plain functions and the library's input errors, with no database or files: the repository,
bundles and the CLI all validate through these.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable

from .db import LibraryError

MAX_NAME_LEN = 200
MAX_TAG_LEN = 64
#: Bounds of a chosen reference window: the generator refuses voices under 2 s and references
#: over 15 s weaken the identity (audio_checks.MIN_CLIP_S / LONG_S; not imported here, it pulls in
#: PyAV at start-up; a test keeps them equal). ID-LoRA was trained on ~5 s (WINDOW_S).
CLIP_WINDOW_MIN_S = 2.0
CLIP_WINDOW_MAX_S = 15.0
CLIP_WINDOW_TRAINED_S = 5.0
WINDOW_EPS_S = 1e-3


# ----------------------------------------------------------------------------- errors
class InvalidInputError(LibraryError, ValueError):
    pass


class DuplicateNameError(InvalidInputError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"an identity named {name!r} already exists")


class NotFoundError(LibraryError, LookupError):
    pass


# ----------------------------------------------------------------------------- helpers
def _window_values(start_s: object, end_s: object) -> tuple[float, float]:
    out = []
    for label, value in (("start", start_s), ("end", end_s)):
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidInputError(f"the window {label} {value!r} is not a number") from None
        if not math.isfinite(number):
            raise InvalidInputError(f"the window {label} must be a finite number, got {value!r}")
        out.append(number)
    return out[0], out[1]


def check_clip_window(start_s: float, end_s: float, duration_s: float) -> tuple[float, float]:
    """Validate a reference window inside a clip of ``duration_s``; returns it (rounded to ms).

    Raises :class:`InvalidInputError` with a sentence saying what is wrong.
    """
    start, end = round(start_s, 3), round(end_s, 3)
    if start < 0:
        raise InvalidInputError(f"the window cannot start before the clip (start {start:.2f} s)")
    if end > duration_s + WINDOW_EPS_S:
        raise InvalidInputError(
            f"the window ends at {end:.2f} s, after the end of the {duration_s:.2f} s clip"
        )
    end = min(end, round(duration_s, 3))
    length = end - start
    if length <= 0:
        raise InvalidInputError(
            f"the window must end after it starts (start {start:.2f} s, end {end:.2f} s)"
        )
    if length < CLIP_WINDOW_MIN_S - WINDOW_EPS_S:
        if duration_s < CLIP_WINDOW_MIN_S:
            raise InvalidInputError(
                f"the clip is only {duration_s:.1f} s long; a reference window needs at least "
                f"{CLIP_WINDOW_MIN_S:.0f} s"
            )
        raise InvalidInputError(
            f"the window is {length:.1f} s long; it needs at least {CLIP_WINDOW_MIN_S:.0f} s "
            f"of voice (about {CLIP_WINDOW_TRAINED_S:.0f} s works best)"
        )
    if length > CLIP_WINDOW_MAX_S + WINDOW_EPS_S:
        raise InvalidInputError(
            f"the window is {length:.1f} s long; at most {CLIP_WINDOW_MAX_S:.0f} s is allowed "
            f"(ID-LoRA was trained on about {CLIP_WINDOW_TRAINED_S:.0f} s references)"
        )
    return start, end


def text_of(value: str) -> str:
    """``value`` as storable text: bytes that were not UTF-8 (which Python keeps in file names
    as lone surrogates, and SQLite cannot store) become U+FFFD."""
    from engine.text import storable

    return storable(value)


def normalize_name(name: str) -> tuple[str, str]:
    """(display name, unique key) for an identity name; raises InvalidInputError."""
    if not isinstance(name, str):
        raise InvalidInputError("the name must be text")
    if text_of(name) != name:
        from engine.text import printable

        shown = printable(name)
        raise InvalidInputError(
            f"the name '{shown}' holds bytes that are not UTF-8 text; type it again as text"
        )
    display = " ".join(unicodedata.normalize("NFC", name).split())
    if not display:
        raise InvalidInputError("the name must not be empty")
    if len(display) > MAX_NAME_LEN:
        raise InvalidInputError(f"the name is longer than {MAX_NAME_LEN} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in display):
        raise InvalidInputError("the name contains control characters")
    return display, display.casefold()


def normalize_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Stripped, lower-case, de-duplicated, sorted tags; raises InvalidInputError."""
    if isinstance(tags, str):
        tags = [tags]
    out: set[str] = set()
    for t in tags:
        norm = " ".join(unicodedata.normalize("NFC", text_of(str(t))).split()).lower()
        if not norm:
            continue
        if len(norm) > MAX_TAG_LEN:
            raise InvalidInputError(f"tag {norm[:20]!r}... is longer than {MAX_TAG_LEN} characters")
        out.add(norm)
    return tuple(sorted(out))
