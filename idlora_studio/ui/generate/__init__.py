"""The Generate page, one component per module:

- ``panel.py``: :class:`GeneratePanel`, the page; composes the others and wires them.
- ``form.py``: :class:`GenerateForm`, the left column: sections, Queue button, requests.
- ``identity_picker.py``: who speaks (identity, reference image, voice clip).
- ``prompt_fields.py``: Visual / Speech / Sounds, the tagged prompt, the negative prompt.
- ``presets.py``: the pipeline picker (one-stage, two-stage, HQ, fast) and each one's summary.
- ``model_settings.py``: preset, model set and its install status, memory profile and VRAM.
- ``output_settings.py``: size, length, seed and takes, with the effective values.
- ``advanced_settings.py``: steps, guidance scales, STG block, LoRA strength (with tips).
- ``queue_view.py``: the job queue table and the actions on a job.
- ``preview.py``: the running job's live preview and caption.
- ``takes_strip.py``: the identity's takes with Re-run / Vary.
- ``common.py``: labels and the collapsible section they share.
"""

from idlora_studio.ui.generate.panel import GeneratePanel

__all__ = ["GeneratePanel"]
