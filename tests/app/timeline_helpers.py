"""Helpers for the timeline tests: a real library with small real MP4 takes in a project."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.api import GenerationRequest, PromptParts
from engine.media.video import write_mp4

FPS = 25.0
SIZE = 64


def make_take_mp4(path: Path, colour: tuple[int, int, int], frames: int, freq: float) -> Path:
    """A 64x64 clip whose brightness ramps frame by frame, with a sine tone."""
    ramp = np.linspace(0.35, 1.0, frames)[:, None, None, None]
    video = (np.array(colour, np.float32)[None, None, None, :] * ramp).astype(np.uint8)
    video = np.broadcast_to(video, (frames, SIZE, SIZE, 3)).copy()
    video[:, :, : SIZE // 4] = 30  # a dark bar so thumbnails have structure
    rate = 24_000
    t = np.arange(int(frames / FPS * rate)) / rate
    audio = 0.6 * np.sin(2 * np.pi * freq * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))
    write_mp4(path, video, FPS, audio[None, :].astype(np.float32), rate)
    return path


@dataclass
class ProjectEnv:
    library: object
    takes: object
    projects: object
    project_id: int
    take_ids: list[int]


def make_project(
    paths,
    tmp_path: Path,
    specs=((200, 60, 60), (60, 200, 90), (70, 90, 230)),
    identity: str | None = None,
) -> ProjectEnv:  # noqa: ANN001
    """Open a real library under ``paths`` and add one take per colour to a project bin
    (made of identity ``identity`` when given)."""
    from idlora_studio.library import Library
    from idlora_studio.library.jobs_repo import JobSpec, TakeFiles, TakesRepository
    from idlora_studio.library.projects_repo import ProjectsRepository

    library = Library.open(paths)
    takes = TakesRepository.from_library(library)
    projects = ProjectsRepository.from_library(library)
    pid = projects.create("Timeline test")
    spec = JobSpec(identity_id=library.create_identity(identity)) if identity else None
    ids = []
    for n, colour in enumerate(specs):
        frames = 25 + 10 * n
        mp4 = make_take_mp4(tmp_path / f"take{n}.mp4", colour, frames, 220.0 * (n + 1))
        req = GenerationRequest(parts=PromptParts(speech=f"take number {n}"), seed=n, steps=2)
        recipe = {
            "request": req.to_dict(),
            "effective": {"seed": n},
            "output": {
                "width": SIZE,
                "height": SIZE,
                "num_frames": frames,
                "fps": FPS,
                "duration_s": frames / FPS,
            },
        }
        tid = takes.add_take(TakeFiles(mp4), recipe, spec=spec, label=f"Take {n + 1}")
        projects.add_to_bin(pid, tid)
        ids.append(tid)
    return ProjectEnv(library, takes, projects, pid, ids)
