"""The schema a bundle's manifest must meet: every row typed, ranged and enumerated.

A bundle comes from another machine and is untrusted. Before anything is imported, its
manifest is validated here with pydantic (strict: no coercion, so ``"wide"`` is not a width
and ``true`` is not a number; floats must be finite):

* the structure (project, bin, timeline, takes, identities, media) and every key's type;
* each table row against its column: the row models are made from the SQLAlchemy tables, so a
  column another revision adds is checked by its type, and known columns carry their ranges,
  enumerations and JSON shapes (``faces_json`` is a list of boxes, a recipe has a ``request``
  the engine accepts, ...);
* text lengths, list lengths and numbers within what the Studio itself would ever write.

:func:`validate_manifest` raises :class:`ManifestError` naming the first problem by its place
(``takes[2].width: Input should be a valid integer, got 'wide'``), never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    create_model,
)
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, LargeBinary, String, Table, Text

from .models import ReferenceImage, VoiceClip
from .models_generation import Take

INT64 = 2**63 - 1
MAX_TEXT = 100_000
MAX_ROWS = 10_000
MAX_RECIPE_BYTES = 1 << 20
Sha = Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
Key = Annotated[StrictStr, Field(min_length=1, max_length=100)]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Text_ = Annotated[StrictStr, Field(max_length=MAX_TEXT)]


class ManifestError(ValueError):
    """A manifest that does not meet the schema; ``str(err)`` names the place and problem."""


def _iso_datetime(value: str) -> str:
    dt.datetime.fromisoformat(value)
    return value


def _iso_date(value: str) -> str:
    dt.date.fromisoformat(value)
    return value


def _base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64 data") from exc
    return value


def _json_of(shape: Any) -> Any:
    """A validator: the text must be JSON of ``shape`` (a pydantic type)."""
    from pydantic import TypeAdapter

    adapter = TypeAdapter(shape)

    def check(value: str) -> str:
        try:
            data = json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise ValueError("not valid JSON") from exc
        adapter.validate_python(data, strict=True)
        return value

    return check


DateTimeText = Annotated[StrictStr, Field(max_length=40), AfterValidator(_iso_datetime)]
DateText = Annotated[StrictStr, Field(max_length=20), AfterValidator(_iso_date)]
Box = Annotated[
    list[Annotated[StrictInt, Field(ge=0, le=1_000_000)]], Field(min_length=4, max_length=4)
]
Warnings = Annotated[list[Annotated[StrictStr, Field(max_length=1000)]], Field(max_length=100)]


def _json_text(shape: Any, max_length: int = MAX_TEXT) -> Any:
    return Annotated[StrictStr, Field(max_length=max_length), AfterValidator(_json_of(shape))]


def _range(low: float, high: float, integer: bool = False) -> Any:
    base = StrictInt if integer else Finite
    return Annotated[base, Field(ge=low, le=high)]


#: Constraints of known columns, by table; the rest are checked by their SQL type.
COLUMN_RULES: dict[str, dict[str, Any]] = {
    "reference_images": {
        "sha256": Sha,
        "thumbnail_sha256": Sha | None,
        "extension": Literal[".png", ".jpg"],
        "width": _range(1, 65_535, True),
        "height": _range(1, 65_535, True),
        "face_count": _range(0, 1000, True),
        "faces_json": _json_text(Annotated[list[Box], Field(max_length=1000)]),
        "suggested_crop_json": _json_text(Box | None) | None,
        "warnings_json": _json_text(Warnings),
    },
    "voice_clips": {
        "sha256": Sha,
        "duration_s": _range(0, 3600),
        "source_duration_s": _range(0, 36_000),
        "sample_rate": _range(8000, 384_000, True),
        "channels": _range(1, 32, True),
        "loudness_lufs": _range(-200, 20),
        "gain_db": _range(-200, 200),
        "trim_start_s": _range(0, 36_000),
        "trim_end_s": _range(0, 36_000),
        "best_start_s": _range(0, 36_000),
        "best_end_s": _range(0, 36_000),
        "noise_floor_db": _range(-400, 20),
        "source": Literal["imported", "recorded"],
        "warnings_json": _json_text(Warnings),
        "peaks": Annotated[StrictStr, Field(max_length=200_000), AfterValidator(_base64)] | None,
    },
    "takes": {
        "video_hash": Sha,
        "audio_hash": Sha | None,
        "thumbnail_hash": Sha | None,
        "seed": _range(0, INT64, True),
        "width": _range(1, 8192, True),
        "height": _range(1, 8192, True),
        "num_frames": _range(1, 100_000, True),
        "fps": _range(0.1, 240),
        "duration_s": _range(0, 36_000),
        "voice_match": _range(-1, 1) | None,
    },
}


def _column_type(table: Table, name: str) -> Any:
    """The strict pydantic type of a column from its SQL type (and nullability)."""
    col = table.c[name]
    kind = col.type
    if isinstance(kind, Boolean):
        out: Any = StrictBool
    elif isinstance(kind, Integer):
        out = _range(-INT64 - 1, INT64, True)
    elif isinstance(kind, Float):
        out = Finite
    elif isinstance(kind, DateTime):
        out = DateTimeText
    elif isinstance(kind, Date):
        out = DateText
    elif isinstance(kind, LargeBinary):
        out = Annotated[StrictStr, Field(max_length=1 << 20), AfterValidator(_base64)]
    elif isinstance(kind, String) and kind.length:
        out = Annotated[StrictStr, Field(max_length=kind.length)]
    elif isinstance(kind, Text | String):
        out = Text_
    else:  # pragma: no cover - every column type the models use is listed above
        out = Any
    return out | None if col.nullable else out


def row_model(model: type, skip: set[str], extra: dict[str, Any]) -> type[BaseModel]:
    """A strict pydantic model of one exported table row (plus ``extra`` fields)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    rules = COLUMN_RULES.get(table.name, {})
    fields: dict[str, Any] = {}
    for col in table.columns:
        if col.name in skip:
            continue
        kind = rules.get(col.key, _column_type(table, col.name))
        # Columns with a default may be left out by an older Studio.
        has_default = col.default is not None or col.server_default is not None or col.nullable
        fields[col.key] = (kind, None) if has_default else (kind, ...)
    fields.update(extra)
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{model.__name__}Row",
        __config__=ConfigDict(strict=True, extra="ignore"),
        **fields,
    )


_ROW_SKIP = {"id", "identity_id", "project_id", "take_id", "image_id", "clip_id", "job_id"}


def _recipe_ok(recipe: dict[str, Any]) -> dict[str, Any]:
    """A recipe is JSON of bounded size whose ``request`` the engine accepts."""
    from engine.api import GenerationRequest
    from engine.limits import check_request

    if len(json.dumps(recipe)) > MAX_RECIPE_BYTES:
        raise ValueError(f"the recipe is larger than {MAX_RECIPE_BYTES >> 10} KB")
    request = recipe.get("request")
    if not isinstance(request, dict):
        raise ValueError("the recipe has no request")
    try:
        check_request(GenerationRequest.from_dict(request))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the recipe's request is not one the Studio can run ({exc})") from exc
    return recipe


ImageRow = row_model(ReferenceImage, _ROW_SKIP, {"key": (Key, ...)})
ClipRow = row_model(VoiceClip, _ROW_SKIP, {"key": (Key, ...)})
TakeRow = row_model(
    Take,
    _ROW_SKIP | {"recipe_json", "timings_json"},
    {
        "key": (Key, ...),
        "identity": (Key | None, None),
        "image": (Key | None, None),
        "clip": (Key | None, None),
        "recipe": (Annotated[dict[str, Any], AfterValidator(_recipe_ok)], ...),
        "timings": (
            Annotated[dict[Annotated[str, Field(max_length=100)], Finite], Field(max_length=100)],
            {},
        ),
    },
)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class Consent(_Strict):
    given_by: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    date: DateText
    scope: Annotated[StrictStr, Field(max_length=MAX_TEXT)] = ""
    document_sha256: Sha | None = None


class IdentityEntry(_Strict):
    key: Key
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    notes: Text_ | None = ""
    tags: Annotated[list[Annotated[StrictStr, Field(max_length=64)]], Field(max_length=200)] = []
    created_at: DateTimeText | None = None
    updated_at: DateTimeText | None = None
    consent: Consent | None = None
    images: Annotated[list[ImageRow], Field(max_length=MAX_ROWS)]  # type: ignore[valid-type]
    clips: Annotated[list[ClipRow], Field(max_length=MAX_ROWS)]  # type: ignore[valid-type]


class BinEntry(_Strict):
    take: Key
    position: _range(0, 10_000_000, True) = 0  # type: ignore[valid-type]


class TimelineEntry(_Strict):
    take: Key
    track: _range(0, 64, True) = 0  # type: ignore[valid-type]
    position_frames: _range(0, 100_000_000, True)  # type: ignore[valid-type]
    in_frame: _range(0, 100_000_000, True)  # type: ignore[valid-type]
    out_frame: _range(1, 100_000_000, True)  # type: ignore[valid-type]


class MediaEntry(_Strict):
    sha256: Sha
    size: _range(0, 1 << 44, True)  # type: ignore[valid-type]


class ProjectEntry(_Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    created_at: DateTimeText | None = None
    updated_at: DateTimeText | None = None


class Manifest(_Strict):
    format: StrictStr
    format_version: StrictInt
    app_version: Annotated[StrictStr, Field(max_length=100)] | None = None
    created_at: DateTimeText | None = None
    project: ProjectEntry
    bin: Annotated[list[BinEntry], Field(max_length=MAX_ROWS)]
    timeline: Annotated[list[TimelineEntry], Field(max_length=MAX_ROWS)]
    takes: Annotated[list[TakeRow], Field(max_length=MAX_ROWS)]  # type: ignore[valid-type]
    identities: Annotated[list[IdentityEntry], Field(max_length=MAX_ROWS)]
    media: Annotated[list[MediaEntry], Field(max_length=MAX_ROWS * 4)]


def _place(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-after", "constrained", "nullable")):
            out += f".{part}" if out else str(part)
    return out or "the manifest"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_manifest(data: Any) -> None:
    """Check ``data`` against :class:`Manifest`; raise :class:`ManifestError` on the first
    problem (by its place in the manifest)."""
    try:
        Manifest.model_validate(data, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        got = ""
        if first.get("type") not in ("missing",) and "input" in first:
            got = f", got {_shown(first['input'])}"
        raise ManifestError(f"{_place(tuple(first.get('loc', ())))}: {msg}{got}") from None
