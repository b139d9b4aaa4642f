"""``idlora-studio generate``: one take, or a batch of jobs, from the command line.

Single take::

    idlora-studio generate --model tiny --image face.png --voice voice.wav \\
        --visual "..." --speech "..." --sounds "..." --out clip.mp4

writes ``clip.mp4`` (H.264 + AAC, audio exactly as long as the video) and ``clip.json`` (the
recipe). ``--pipeline one-stage|two-stage|hq|fast`` picks the sampler preset
(``engine.pipeline.presets``; the 2x pipelines need ``--upsampler`` and ``--distilled-lora``,
fast the distilled LoRA or ``--distilled-checkpoint``; the tiny models bring their own).
``--jobs FILE.json`` runs a batch in the reference scripts' prompts-file format: a JSON
list of objects with ``prompt`` (full tagged prompt), ``reference_path`` (voice),
``first_frame_path`` (image) and ``output_name``, optionally ``voice_window`` (``[start, end]``
seconds or ``"full"``) and ``pipeline``; job *i* uses seed ``--seed + i``; the models are loaded
once; a failing job is reported and the batch goes on.

Reference length: only a window of the voice clip is encoded -- ``--voice-window START:END``
(or ``full``), by default the best ~5 s window the library suggests on import (the length
ID-LoRA was trained on). The window used is written into the recipe's request. A batch writes
``batch_report.csv`` in ``--out-dir`` (one row per job: output, status, seed, length, time,
and with ``--score`` the take's voice match against its reference clip).

Exit codes: 0 success, 1 an error (one sentence on stderr, no traceback unless ``--debug``),
2 a usage error, 130 cancelled with Ctrl-C (the first Ctrl-C cancels after the current step,
a second one aborts at once).

torch/diffusers are imported only inside the handler (through ``engine.generate``).
"""

from engine.cli.command import run_generate
from engine.cli.common import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, EXIT_USAGE, Job, UsageError
from engine.cli.jobs import check_inputs, parse_jobs_file, parse_voice_window, single_job
from engine.cli.parser import register
from engine.cli.runners import run_job

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_USAGE",
    "Job",
    "UsageError",
    "check_inputs",
    "parse_jobs_file",
    "parse_voice_window",
    "register",
    "run_generate",
    "run_job",
    "single_job",
]
