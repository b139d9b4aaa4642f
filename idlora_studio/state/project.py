"""The open project: its bin of takes, the timeline's clips, undo/redo, continuous saving.

``ProjectState`` owns the clip list as an immutable tuple of :class:`TimelineItem`. Every
edit (insert from the bin, move, reorder, trim either edge, split, remove) is a
``QUndoCommand`` holding the clip list before and after, so undo/redo restore the exact list;
applying a list (do, undo or redo) writes it to the database at once through
``ProjectsRepository.set_clips`` on the serial database runner. There is no "save": the
database always holds the last state (``saved(revision)`` says when a write landed).

Placement rule (one video track with its linked audio): clips never overlap. After an edit
the clips are *settled*: sorted by start (the edited clip first among equals), and any clip
that starts inside the one before it is pushed right to that clip's end. So dropping a clip
onto another inserts it there and ripples the rest; extending a clip pushes its followers.

No widgets here; the timeline widget calls these methods and listens to the signals.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from idlora_studio.workers.tasks import TaskRunner

DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class TakeMedia:
    """What the timeline needs to know about a take's files (a frozen copy, thread-safe)."""

    take_id: int
    video_hash: str
    video_path: Path
    fps: float
    num_frames: int
    width: int
    height: int
    label: str = ""
    audio_path: Path | None = None
    identity_name: str | None = None
    seed: int | None = None
    voice_match: float | None = None

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps if self.fps else 0.0


@dataclass(frozen=True)
class TimelineItem:
    """A clip on the timeline: take frames ``[in_frame, out_frame)`` from ``position``.

    ``key`` identifies the clip in this session (database ids change on every bulk save)."""

    key: int
    take_id: int
    position: int
    in_frame: int
    out_frame: int
    track: int = 0

    @property
    def length(self) -> int:
        return self.out_frame - self.in_frame

    @property
    def end(self) -> int:
        return self.position + self.length


def settle(items: Iterable[TimelineItem], first: int | None = None) -> tuple[TimelineItem, ...]:
    """Remove overlaps by pushing later clips right (``first``: the key that wins ties)."""
    ordered = sorted(items, key=lambda c: (c.position, c.key != first, c.key))
    out: list[TimelineItem] = []
    cursor = 0
    for c in ordered:
        if c.position < cursor:
            c = dataclasses.replace(c, position=cursor)
        out.append(c)
        cursor = c.end
    return tuple(out)


class _EditCommand(QUndoCommand):
    """One edit: the clip lists before and after (undo/redo swap them in)."""

    def __init__(
        self,
        state: ProjectState,
        before: tuple[TimelineItem, ...],
        after: tuple[TimelineItem, ...],
        text: str,
        select: int | None,
    ) -> None:
        super().__init__(text)
        self._state = state
        self._before = before
        self._after = after
        self._select_after = select
        self._select_before = state.selected_key

    def redo(self) -> None:
        self._state._apply(self._after, self._select_after)  # noqa: SLF001

    def undo(self) -> None:
        self._state._apply(self._before, self._select_before)  # noqa: SLF001


class ProjectState(QObject):
    """Observable state of the open project (bin, clips, playhead, marks) with undo."""

    project_changed = Signal()
    name_changed = Signal(str)
    bin_changed = Signal()
    clips_changed = Signal()
    selection_changed = Signal()
    playhead_changed = Signal(int)
    marks_changed = Signal()
    saved = Signal(int)
    error = Signal(str)

    def __init__(
        self,
        projects: Any,
        db_runner: TaskRunner,
        takes: Any = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.projects = projects
        self.takes = takes
        self._runner = db_runner
        self.undo_stack = QUndoStack(self)
        self.project_id: int | None = None
        self.name = ""
        self.bin: tuple[TakeMedia, ...] = ()
        self.clips: tuple[TimelineItem, ...] = ()
        self._media: dict[int, TakeMedia] = {}
        self._recipes: dict[int, dict[str, Any]] = {}
        self._keys = itertools.count(1)
        self.selected_key: int | None = None
        self.playhead = 0
        self.in_point: int | None = None
        self.out_point: int | None = None
        self.revision = 0
        self.saved_revision = 0

    # ------------------------------------------------------------------ loading
    def load(
        self, project_id: int | None = None, on_loaded: Callable[[], None] | None = None
    ) -> None:
        """Open ``project_id`` (default: the most recent project, "Untitled" when none)."""

        def work() -> tuple[Any, dict[int, dict[str, Any]]]:
            pid = self.projects.default_project() if project_id is None else project_id
            project = self.projects.get(pid)
            recipes = {}
            if self.takes is not None:
                for item in project.bin:
                    try:
                        recipes[item.take_id] = self.takes.recipe(item.take_id)
                    except LookupError:
                        pass
            return project, recipes

        def done(result: tuple[Any, dict[int, dict[str, Any]]]) -> None:
            project, recipes = result
            self._recipes.update(recipes)
            self._set_bin(project.bin)
            self.project_id = project.id
            self.name = project.name
            self.clips = settle(
                TimelineItem(
                    next(self._keys), c.take_id, c.position_frames, c.in_frame, c.out_frame, c.track
                )
                for c in project.clips
                if c.take_id in self._media
            )
            self.undo_stack.clear()
            self.selected_key = None
            self.project_changed.emit()
            self.name_changed.emit(self.name)
            self.clips_changed.emit()
            if on_loaded is not None:
                on_loaded()

        self._runner.submit(work, done, self._fail)

    def set_name(self, name: str) -> None:
        """The open project was renamed (the database has the new name already)."""
        self.name = name
        self.name_changed.emit(name)

    def _set_bin(self, items: Iterable[Any]) -> None:
        bin_media = []
        for b in items:
            m = TakeMedia(
                take_id=b.take_id,
                video_hash=Path(b.video_path).name,
                video_path=Path(b.video_path),
                fps=float(b.fps) or DEFAULT_FPS,
                num_frames=int(b.num_frames),
                width=int(b.width),
                height=int(b.height),
                label=b.label,
                audio_path=Path(b.audio_path) if b.audio_path else None,
                identity_name=getattr(b, "identity_name", None),
                seed=getattr(b, "seed", None),
                voice_match=getattr(b, "voice_match", None),
            )
            self._media[m.take_id] = m
            bin_media.append(m)
        self.bin = tuple(bin_media)
        self.bin_changed.emit()

    def add_to_bin(self, take_id: int, on_done: Callable[[], None] | None = None) -> None:
        """Put a take into the project's bin (saved at once)."""
        pid = self.project_id
        if pid is None:
            return

        def work() -> tuple[Any, dict[str, Any] | None]:
            self.projects.add_to_bin(pid, take_id)
            recipe = self.takes.recipe(take_id) if self.takes is not None else None
            return self.projects.get(pid), recipe

        def done(result: tuple[Any, dict[str, Any] | None]) -> None:
            project, recipe = result
            if recipe is not None:
                self._recipes[take_id] = recipe
            self._set_bin(project.bin)
            if on_done is not None:
                on_done()

        self._runner.submit(work, done, self._fail)

    def _bin_edit(self, change: Callable[[int], Any], what: str) -> None:
        """Run ``change(project_id)`` on the database worker, then reload the bin."""
        pid = self.project_id
        if pid is None:
            return

        def work() -> Any:
            change(pid)
            return self.projects.get(pid)

        def failed(exc: BaseException) -> None:
            self.error.emit(f"Could not {what}: {exc}")

        self._runner.submit(work, lambda project: self._set_bin(project.bin), failed)

    def remove_from_bin(self, take_id: int) -> None:
        """Take a take out of the bin (the library refuses while the timeline uses it)."""
        self._bin_edit(lambda pid: self.projects.remove_from_bin(pid, take_id), "remove the take")

    def rename_take(self, take_id: int, label: str) -> None:
        """Give a take the label the bin shows."""
        if self.takes is None:
            return
        label = " ".join(label.split())
        self._bin_edit(lambda _pid: self.takes.update_take(take_id, label=label), "rename the take")

    def _fail(self, exc: BaseException) -> None:
        self.error.emit(str(exc) or type(exc).__name__)

    # ------------------------------------------------------------------ queries
    @property
    def fps(self) -> float:
        for c in self.clips:
            return self._media[c.take_id].fps
        return self.bin[0].fps if self.bin else DEFAULT_FPS

    def media(self, take_id: int) -> TakeMedia:
        return self._media[take_id]

    def recipe(self, take_id: int) -> dict[str, Any]:
        return self._recipes.get(take_id, {})

    def clip(self, key: int) -> TimelineItem:
        for c in self.clips:
            if c.key == key:
                return c
        raise KeyError(key)

    def clip_at(self, frame: int) -> TimelineItem | None:
        for c in self.clips:
            if c.position <= frame < c.end:
                return c
        return None

    @property
    def duration(self) -> int:
        return max((c.end for c in self.clips), default=0)

    def edges(self) -> list[int]:
        """Frames clips start or end at (snap targets)."""
        return sorted({0, *(c.position for c in self.clips), *(c.end for c in self.clips)})

    def clip_tuples(self) -> list[tuple[int, int, int, int, int]]:
        """(take_id, track, position, in, out) per clip, in timeline order (for tests)."""
        return [(c.take_id, c.track, c.position, c.in_frame, c.out_frame) for c in self.clips]

    # ------------------------------------------------------------------ playhead, marks
    def set_playhead(self, frame: int) -> None:
        frame = max(0, int(frame))
        if frame != self.playhead:
            self.playhead = frame
            self.playhead_changed.emit(frame)

    def set_in(self, frame: int | None = None) -> None:
        self.in_point = self.playhead if frame is None else frame
        if self.out_point is not None and self.out_point <= self.in_point:
            self.out_point = None
        self.marks_changed.emit()

    def set_out(self, frame: int | None = None) -> None:
        self.out_point = self.playhead if frame is None else frame
        if self.in_point is not None and self.in_point >= self.out_point:
            self.in_point = None
        self.marks_changed.emit()

    def clear_marks(self) -> None:
        self.in_point = self.out_point = None
        self.marks_changed.emit()

    def select(self, key: int | None) -> None:
        if key != self.selected_key:
            self.selected_key = key
            self.selection_changed.emit()

    # ------------------------------------------------------------------ edits
    def _push(self, after: Sequence[TimelineItem], text: str, select: int | None = None) -> None:
        after = tuple(after)
        if after == self.clips:
            return
        self.undo_stack.push(_EditCommand(self, self.clips, after, text, select))

    def insert_take(
        self, take_id: int, position: int, in_frame: int = 0, out_frame: int | None = None
    ) -> int:
        """Place frames of a take at ``position`` (inserting: later clips ripple right)."""
        media = self._media[take_id]
        out = media.num_frames if out_frame is None else min(out_frame, media.num_frames)
        if out <= in_frame:
            raise ValueError("empty clip")
        key = next(self._keys)
        item = TimelineItem(key, take_id, max(0, int(position)), int(in_frame), int(out))
        # Dropping inside a clip inserts before or after it, whichever edge is nearer.
        host = self.clip_at(item.position)
        if host is not None:
            nearer_end = item.position - host.position > host.end - item.position
            item = dataclasses.replace(item, position=host.end if nearer_end else host.position)
            others = [
                dataclasses.replace(c, position=c.position + item.length)
                if c.position >= item.position
                else c
                for c in self.clips
            ]
        else:
            others = list(self.clips)
        self._push(settle([*others, item], first=key), "Add clip", select=key)
        return key

    def append_take(self, take_id: int) -> int:
        return self.insert_take(take_id, self.duration)

    def move_clip(self, key: int, position: int) -> None:
        c = self.clip(key)
        moved = dataclasses.replace(c, position=max(0, int(position)))
        others = [x for x in self.clips if x.key != key]
        self._push(settle([*others, moved], first=key), "Move clip", select=key)

    def reorder_clip(self, key: int, index: int) -> None:
        """Put the clip at ``index`` in the sequence and close all gaps (ripple)."""
        order = [c for c in self.clips if c.key != key]
        index = max(0, min(int(index), len(order)))
        order.insert(index, self.clip(key))
        pos, out = 0, []
        for c in order:
            out.append(dataclasses.replace(c, position=pos))
            pos += c.length
        self._push(settle(out), "Reorder clips", select=key)

    def trim_clip(self, key: int, edge: str, frame: int) -> None:
        """Move the ``"left"`` or ``"right"`` edge of a clip to timeline ``frame``."""
        c = self.clip(key)
        media = self._media[c.take_id]
        frame = int(frame)
        if edge == "left":
            delta = frame - c.position
            delta = max(delta, -c.in_frame, -c.position)
            delta = min(delta, c.length - 1)
            new = dataclasses.replace(c, position=c.position + delta, in_frame=c.in_frame + delta)
            # Extending left must not overrun the previous clip.
            prev_end = max((x.end for x in self.clips if x.end <= c.position), default=0)
            if new.position < prev_end:
                shift = prev_end - new.position
                new = dataclasses.replace(
                    new, position=new.position + shift, in_frame=new.in_frame + shift
                )
        elif edge == "right":
            out = min(max(c.in_frame + 1, c.in_frame + frame - c.position), media.num_frames)
            new = dataclasses.replace(c, out_frame=out)
        else:
            raise ValueError(f"edge must be 'left' or 'right', not {edge!r}")
        others = [x for x in self.clips if x.key != key]
        self._push(settle([*others, new], first=key), "Trim clip", select=key)

    def split_clip(self, key: int, frame: int) -> int | None:
        """Cut the clip at timeline ``frame``; returns the new right half's key."""
        c = self.clip(key)
        if not (c.position < frame < c.end):
            return None
        cut = c.in_frame + (frame - c.position)
        right = TimelineItem(next(self._keys), c.take_id, frame, cut, c.out_frame, c.track)
        left = dataclasses.replace(c, out_frame=cut)
        others = [x for x in self.clips if x.key != key]
        self._push(settle([*others, left, right]), "Split clip", select=right.key)
        return right.key

    def remove_clip(self, key: int) -> None:
        self._push([c for c in self.clips if c.key != key], "Remove clip", select=None)

    def undo(self) -> None:
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    # ------------------------------------------------------------------ apply + save
    def _apply(self, clips: tuple[TimelineItem, ...], select: int | None) -> None:
        self.clips = clips
        if select is not None and any(c.key == select for c in clips):
            self.selected_key = select
        elif self.selected_key is not None and all(c.key != self.selected_key for c in clips):
            self.selected_key = None
        self.clips_changed.emit()
        self.selection_changed.emit()
        self._save()

    def _save(self) -> None:
        pid = self.project_id
        if pid is None:
            return
        self.revision += 1
        rev = self.revision
        from idlora_studio.library.projects_repo import ClipPlacement

        rows = [
            ClipPlacement(c.take_id, c.position, c.in_frame, c.out_frame, c.track)
            for c in self.clips
        ]

        def work() -> int:
            self.projects.set_clips(pid, rows)
            return rev

        def done(r: int) -> None:
            self.saved_revision = max(self.saved_revision, r)
            self.saved.emit(r)

        self._runner.submit(work, done, self._fail)

    @property
    def is_saved(self) -> bool:
        return self.saved_revision >= self.revision

    # ------------------------------------------------------------------ export specs
    def timeline_spec(
        self, items: Sequence[TimelineItem] | None = None, title: str | None = None
    ) -> Any:
        """An ``engine.export.TimelineSpec`` of ``items`` (default: the whole timeline),
        shifted so the first starts at frame 0 when a part is exported."""
        from engine.export import ClipSpec, TimelineSpec

        whole = items is None
        items = list(self.clips if items is None else items)
        offset = 0 if whole else min((c.position for c in items), default=0)
        first = self._media[items[0].take_id] if items else (self.bin[0] if self.bin else None)
        width = first.width if first else 64
        height = first.height if first else 64
        clips = tuple(
            ClipSpec(
                video_path=self._media[c.take_id].video_path,
                in_frame=c.in_frame,
                out_frame=c.out_frame,
                position_frames=c.position - offset,
                recipe=self._recipes.get(c.take_id),
                audio_path=self._media[c.take_id].audio_path,
                label=self._media[c.take_id].label,
            )
            for c in items
        )
        return TimelineSpec(
            fps=self.fps, width=width, height=height, clips=clips, title=title or self.name
        )

    def range_items(self, start: int, end: int) -> list[TimelineItem]:
        """The clips cut to timeline frames ``[start, end)``."""
        out = []
        for c in self.clips:
            a, b = max(start, c.position), min(end, c.end)
            if a < b:
                out.append(
                    dataclasses.replace(
                        c,
                        position=a,
                        in_frame=c.in_frame + a - c.position,
                        out_frame=c.in_frame + b - c.position,
                    )
                )
        return out

    def take_spec(self, take_id: int) -> Any:
        """A one-clip spec of a whole take (for exporting or dragging a bin item)."""
        m = self._media[take_id]
        return self.timeline_spec([TimelineItem(0, take_id, 0, 0, m.num_frames)], title=m.label)
