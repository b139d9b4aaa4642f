"""ProjectsRepository: projects, bins, timeline edits, bulk replace for undo, export spec."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from engine.export import export_timeline
from engine.media.video import read_video
from idlora_studio.library import InvalidInputError, Library, NotFoundError
from idlora_studio.library.jobs_repo import TakeInUseError, TakesRepository
from idlora_studio.library.projects_repo import (
    ClipPlacement,
    ProjectNameTakenError,
    ProjectsRepository,
    free_name,
)
from tests.library.test_bundle import make_take


@pytest.fixture
def repo(lib: Library) -> ProjectsRepository:
    return ProjectsRepository.from_library(lib)


def test_projects_create_find_rename_delete(repo: ProjectsRepository) -> None:
    assert repo.list_projects() == []
    default = repo.default_project()
    assert repo.get(default).name == "Untitled"
    assert repo.default_project() == default
    pid = repo.create("  Spring   promo ")
    assert repo.get(pid).name == "Spring promo"
    with pytest.raises(ProjectNameTakenError):
        repo.create("SPRING PROMO")
    assert repo.find("spring promo").id == pid  # type: ignore[union-attr]
    assert repo.find(str(pid)).name == "Spring promo"  # type: ignore[union-attr]
    assert repo.find("nothing") is None
    repo.rename(pid, "Summer")
    with pytest.raises(ProjectNameTakenError):
        repo.rename(default, "summer")
    with pytest.raises(InvalidInputError):
        repo.create("  ")
    repo.delete(pid)
    with pytest.raises(NotFoundError):
        repo.get(pid)
    assert [p.name for p in repo.list_projects()] == ["Untitled"]


def test_bin_and_timeline_edits(lib: Library, repo: ProjectsRepository, tmp_path: Path) -> None:
    t1 = make_take(lib, tmp_path, 1, None, frames=10)
    t2 = make_take(lib, tmp_path, 2, None, frames=12)
    pid = repo.create("Cut")
    repo.add_to_bin(pid, t1)
    repo.add_to_bin(pid, t1)  # idempotent
    a = repo.add_clip(pid, t2)  # whole take, appended at 0 (and added to the bin)
    b = repo.add_clip(pid, t1, in_frame=2, out_frame=8)  # appended after a
    assert (a.position_frames, a.in_frame, a.out_frame) == (0, 0, 12)
    assert (b.position_frames, b.length_frames) == (12, 6)
    p = repo.get(pid)
    assert [i.take_id for i in p.bin] == [t1, t2]
    assert p.bin[0].video_path.is_file() and p.bin[0].num_frames == 10
    assert p.duration_frames == 18
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"  # type: ignore[misc]

    repo.move_clip(b.id, 0)
    repo.move_clip(a.id, 6)
    trimmed = repo.trim_clip(a.id, 4, 9, position_frames=6)
    assert (trimmed.in_frame, trimmed.out_frame) == (4, 9)
    assert [(c.take_id, c.position_frames) for c in repo.get(pid).clips] == [(t1, 0), (t2, 6)]
    with pytest.raises(InvalidInputError, match="has 12 frames"):
        repo.trim_clip(a.id, 0, 13)
    with pytest.raises(InvalidInputError, match="at least one frame"):
        repo.trim_clip(a.id, 5, 5)
    with pytest.raises(InvalidInputError, match="before the timeline"):
        repo.move_clip(a.id, -1)
    with pytest.raises(InvalidInputError, match="on the project's timeline"):
        repo.remove_from_bin(pid, t1)
    # a take on a timeline cannot be deleted (the takes repository refuses)
    with pytest.raises(TakeInUseError):
        TakesRepository.from_library(lib).delete_take(t1)

    # undo/redo: snapshot, change, restore in one call
    snap = [ClipPlacement.of(c) for c in repo.get(pid).clips]
    repo.remove_clip(b.id)
    assert len(repo.get(pid).clips) == 1
    restored = repo.set_clips(pid, snap)
    assert [ClipPlacement.of(c) for c in restored] == snap
    assert [ClipPlacement.of(c) for c in repo.get(pid).clips] == snap
    with pytest.raises(InvalidInputError):
        repo.set_clips(pid, [*snap, ClipPlacement(t1, 0, 0, 99)])
    assert [ClipPlacement.of(c) for c in repo.get(pid).clips] == snap  # rolled back
    with pytest.raises(NotFoundError):
        repo.add_clip(pid, 999)


def test_timeline_spec_exports_what_the_timeline_shows(
    lib: Library, repo: ProjectsRepository, tmp_path: Path
) -> None:
    t1 = make_take(lib, tmp_path, 1, None, frames=10)
    t2 = make_take(lib, tmp_path, 2, None, frames=12)
    pid = repo.create("Cut")
    repo.add_clip(pid, t2, position_frames=0, in_frame=3, out_frame=7)
    repo.add_clip(pid, t1, position_frames=6, in_frame=1, out_frame=5)
    spec = repo.timeline_spec(pid)
    assert (spec.fps, spec.width, spec.height, spec.duration_frames) == (25, 32, 32, 10)
    assert spec.title == "Cut"
    assert [c.recipe["request"]["seed"] for c in spec.clips] == [2, 1]  # type: ignore[index]
    assert all(c.audio_path is not None and c.audio_path.is_file() for c in spec.clips)

    result = export_timeline(spec, tmp_path / "out" / "cut.mp4", content_credentials=False)
    out, _ = read_video(result.path)
    src2, _ = read_video(TakesRepository.from_library(lib).get_take(t2).video_path)
    src1, _ = read_video(TakesRepository.from_library(lib).get_take(t1).video_path)
    assert out.shape[0] == 10
    # noise frames are distinct: each output frame is closest to the expected source frame
    expected = [src2[i] for i in range(3, 7)] + [np.zeros_like(src1[0])] * 2
    expected += [src1[i] for i in range(1, 5)]
    pool = [*src1, *src2, np.zeros_like(src1[0])]
    for got, want in zip(out, expected, strict=True):
        dists = [np.abs(got.astype(int) - p.astype(int)).mean() for p in pool]
        best = pool[int(np.argmin(dists))]
        assert best is want or np.array_equal(best, want)


def test_free_name() -> None:
    assert free_name("A", {"B"}) == "A"
    assert free_name("A", {"a"}) == "A (imported)"
    assert free_name("A", {"a", "A (imported)"}) == "A (imported 2)"


def test_duplicate_copies_bin_and_timeline_and_shares_the_takes(
    lib: Library, repo: ProjectsRepository, tmp_path: Path
) -> None:
    a = make_take(lib, tmp_path, 11, None, frames=30)
    b = make_take(lib, tmp_path, 12, None, frames=20)
    pid = repo.create("Teaser")
    repo.add_to_bin(pid, a)
    repo.add_to_bin(pid, b)
    repo.set_clips(pid, [ClipPlacement(a, 0, 5, 25), ClipPlacement(b, 20, 0, 20)])
    repo.save_generate_form(pid, {"speech": "Hello there"})
    copy = repo.duplicate(pid)
    assert repo.generate_form(copy) == {"speech": "Hello there"}  # the Generate form too
    again = repo.duplicate(pid)
    named = repo.duplicate(pid, "  Teaser   v2 ")
    assert [repo.get(p).name for p in (copy, again, named)] == [
        "Teaser (copy)",
        "Teaser (copy 2)",
        "Teaser v2",
    ]
    original, dup = repo.get(pid), repo.get(copy)
    assert [i.take_id for i in dup.bin] == [i.take_id for i in original.bin] == [a, b]
    assert [ClipPlacement.of(c) for c in dup.clips] == [ClipPlacement.of(c) for c in original.clips]
    with pytest.raises(ProjectNameTakenError):
        repo.duplicate(pid, "teaser v2")
    # The copy is independent: editing it leaves the original alone; the takes are shared.
    repo.set_clips(copy, [ClipPlacement(b, 0, 0, 10)])
    assert len(repo.get(pid).clips) == 2
    repo.delete(pid)
    assert [i.take_id for i in repo.get(copy).bin] == [a, b]


def test_committed_writes_tell_the_change_feed_which_tables(
    lib: Library, repo: ProjectsRepository, tmp_path: Path
) -> None:
    seen: list[frozenset[str]] = []
    unsubscribe = lib.changes.subscribe(seen.append)
    assert repo.changes is lib.changes  # repositories made from the library share its feed
    pid = repo.create("Feed")
    assert seen == [frozenset({"projects"})]
    ident = lib.create_identity("Ada", tags=("actor",))
    assert "identities" in seen[-1]
    lib.update_identity(ident, notes="new notes")
    assert "identities" in seen[-1]
    take = make_take(lib, tmp_path, 13, None, frames=10)
    assert "takes" in seen[-1]
    repo.add_to_bin(pid, take)
    assert "project_bin" in seen[-1]
    repo.set_clips(pid, [ClipPlacement(take, 0, 0, 10)])
    assert {"timeline_clips", "projects"} <= seen[-1]  # bulk delete/insert + updated_at
    repo.delete(pid)
    assert "projects" in seen[-1]
    # A refused write (name taken) commits nothing and says nothing.
    n = len(seen)
    repo.create("Taken")
    with pytest.raises(ProjectNameTakenError):
        repo.create("taken")
    assert len(seen) == n + 1
    unsubscribe()
    repo.create("Quiet")
    assert len(seen) == n + 1
