"""Export a timeline (or one take) to MP4, MOV/ProRes, WAV or PNG, labelled as AI-generated.

A :class:`TimelineSpec` is one video track of clips (frames ``[in_frame, out_frame)`` of a
source file placed at ``position_frames``); gaps are black with silence. Where clips overlap,
the one listed later wins. :func:`export_timeline` renders it:

1. check the request and probe every source (frame rate, size, length, audio);
2. plan *segments* -- runs of output frames that come from one clip or from a gap;
3. check the free disk against an estimate of the output size (:class:`DiskFullError`);
4. stream: decode each segment's frames with PyAV (frame-accurate by timestamp, seeking for
   late in-points), scale them to the output size (letterboxed when the shape differs) and
   encode them, pushing after every frame exactly the audio samples that belong to it --
   the audio is cut at the same frame boundaries as the video, so A/V sync survives trims,
   reorders and gaps. Nothing holds more than one clip's audio and one frame at a time;
5. embed a Content Credentials (C2PA) manifest where ``c2pa-python`` is installed;
6. write the JSON sidecar (``<out>.json``: recipes, settings, the AI-generated statement) and
   rename the finished file into place (:func:`engine.fsutil.atomic_path`).

Every export says it is AI-generated in its own metadata: MP4/MOV container tags
(``comment``, ``description`` and the custom ``ai_generated``/``digital_source_type`` keys),
WAV ``LIST/INFO`` (``ICMT``, ``INAM``) and PNG ``tEXt`` chunks.

Cancel (:class:`~engine.api.CancelToken`) and errors remove the partial file; progress is
monotonic and ends at exactly 1.0. Qt-free and torch-free.

The package keeps one concern per module: :mod:`.spec` (timeline, checks, plan), :mod:`.sources`
(probing and decoding the clips), :mod:`.render` (output frames and samples), :mod:`.encode`
(the writers), :mod:`.labels` (AI-generated tags and sidecar), :mod:`.credentials` (C2PA) and
:mod:`.timeline` (the steps above).
"""

from engine.export.credentials import (
    SigningCredentials,
    c2pa_available,
    load_or_create_credentials,
    make_signing_credentials,
    read_content_credentials,
)
from engine.export.encode import estimate_bytes
from engine.export.labels import (
    AI_LABEL,
    AI_STATEMENT,
    DIGITAL_SOURCE_TYPE,
    export_metadata,
    sidecar_path_for,
)
from engine.export.spec import FORMATS, QUALITIES, ClipSpec, ExportResult, TimelineSpec
from engine.export.timeline import export_timeline, single_take_spec

__all__ = [
    "AI_LABEL",
    "AI_STATEMENT",
    "DIGITAL_SOURCE_TYPE",
    "FORMATS",
    "QUALITIES",
    "ClipSpec",
    "ExportResult",
    "SigningCredentials",
    "TimelineSpec",
    "c2pa_available",
    "estimate_bytes",
    "export_metadata",
    "export_timeline",
    "load_or_create_credentials",
    "make_signing_credentials",
    "read_content_credentials",
    "sidecar_path_for",
    "single_take_spec",
]
