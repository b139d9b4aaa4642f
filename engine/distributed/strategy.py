"""Which scale-out mode fits the GPUs present (what Settings > GPUs shows as "Auto").

=========  ===================================================================================
single     one GPU (or the CPU): one take at a time, as without this module
jobs       one take per GPU, each GPU holding its own model: the queue's throughput grows with
           the GPUs; a single take is as fast as on one GPU
passes     every take on all the GPUs: the guidance passes of each step split across them (each
           GPU holds the whole transformer); lower latency per take, exact
sequence   every take on all the GPUs: each pass's video tokens split across them (Ulysses
           attention); for takes whose activations do not fit one GPU, or lower latency
=========  ===================================================================================

Auto: no CUDA GPU or one -> ``single``; several -> ``jobs`` when a take fits one GPU with the
weights resident, else ``sequence`` when the weights fit but the take's activations do not
(splitting tokens is what lowers per-GPU memory; splitting passes does not), else ``jobs``
again (each GPU then runs a lighter memory profile). The user's choice wins over Auto; a
multi-GPU choice with fewer than two GPUs falls back to ``single`` and says why.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("auto", "single", "jobs", "passes", "sequence")
TITLES = {
    "auto": "Auto",
    "single": "One GPU",
    "jobs": "Jobs: one take per GPU",
    "passes": "Passes: each take's guidance passes across the GPUs",
    "sequence": "Sequence: each take's video tokens across the GPUs",
}
GIB = 1024**3


@dataclass(frozen=True)
class GPU:
    """A CUDA device as the strategy sees it."""

    index: int
    name: str
    total_bytes: int

    @property
    def total_gib(self) -> float:
        return self.total_bytes / GIB


@dataclass(frozen=True)
class ScalePlan:
    """What the Studio will do: ``mode``, the devices it uses, and why (one sentence)."""

    mode: str
    devices: tuple[str, ...]
    reason: str

    @property
    def capacity(self) -> int:
        """Takes at once: one per device for ``jobs``, else one."""
        return len(self.devices) if self.mode == "jobs" else 1


def detect_gpus() -> list[GPU]:
    """The CUDA devices torch sees (imports torch: call it off the GUI thread)."""
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        out.append(GPU(i, props.name, int(props.total_memory)))
    return out


def describe_gpus(gpus: list[GPU]) -> str:
    """``"2 x NVIDIA H200 (139 GiB each)"``, or ``"no CUDA GPU"``."""
    if not gpus:
        return "no CUDA GPU"
    names = {g.name for g in gpus}
    if len(names) == 1:
        each = " each" if len(gpus) > 1 else ""
        return f"{len(gpus)} x {gpus[0].name} ({gpus[0].total_gib:.0f} GiB{each})"
    return ", ".join(f"{g.index}: {g.name} ({g.total_gib:.0f} GiB)" for g in gpus)


def plan(
    gpus: list[GPU],
    requested: str = "auto",
    *,
    selected: list[int] | None = None,
    variant: str = "ltx2",
    width: int = 512,
    height: int = 512,
    frames: int = 121,
) -> ScalePlan:
    """The plan for ``gpus`` (``selected``: the indices the user allowed; None = all)."""
    from engine import memory

    if requested not in MODES:
        raise ValueError(f"scale-out mode {requested!r} is not one of {', '.join(MODES)}")
    use = [g for g in gpus if selected is None or g.index in selected]
    devices = tuple(f"cuda:{g.index}" for g in use)
    if not use:
        return ScalePlan("single", (), "no CUDA GPU, so takes run on the CPU")
    if len(use) == 1:
        why = "one GPU"
        if requested not in ("auto", "single"):
            why += f": {TITLES[requested].split(':')[0]} needs two or more"
        return ScalePlan("single", devices[:1], why)
    if requested == "single":
        return ScalePlan("single", devices[:1], f"on {devices[0]}")
    if requested != "auto":
        return ScalePlan(requested, devices, f"on {len(use)} GPUs ({', '.join(devices)})")
    smallest = min(g.total_gib for g in use)
    resident = memory.expected_vram_gib("resident_bf16", variant, width, height, frames)
    weights = memory.expected_vram_gib("resident_bf16", variant, 64, 64, 9)
    if resident + 1.0 <= smallest:
        return ScalePlan(
            "jobs",
            devices,
            f"{len(use)} GPUs and a take fits one ({resident:.0f} of {smallest:.0f} GiB)",
        )
    if weights + 1.0 <= smallest:
        return ScalePlan(
            "sequence",
            devices,
            f"a {width}x{height}x{frames} take needs ~{resident:.0f} GiB, more than one GPU's "
            f"{smallest:.0f} GiB: its video tokens are split across the {len(use)} GPUs",
        )
    return ScalePlan(
        "jobs",
        devices,
        f"the weights alone do not fit one GPU's {smallest:.0f} GiB: one take per GPU with a "
        "lighter memory profile",
    )


__all__ = ["GPU", "MODES", "TITLES", "ScalePlan", "describe_gpus", "detect_gpus", "plan"]
