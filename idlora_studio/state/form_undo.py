"""Undo for the Generate form's changes that replace many fields at once.

Typing in a field is undone by that field (Ctrl+Z while it has the focus). What the form
itself overwrites is undone by Edit > Undo on the Generate page: choosing a preset (it fills
the guidance scales with the preset's defaults), "Preset defaults", "Use these settings" of a
job or take, the test model's small size, the negative prompt's reset. Such a change becomes a
:class:`FormChangeCommand` holding only the values it changed (:func:`form_diff`), so undoing
it puts those back and leaves every other field, typed since, as it is.

No widgets here: the form is anything with ``restore(partial_form)`` (sections of saved-form
dicts, see ``ui/generate/form.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QUndoCommand

#: Sections whose keys only make sense together (an image belongs to its identity).
TOGETHER = frozenset({"identity"})


def form_diff(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The values of two saved forms that differ, by section: ``(old, new)``; both empty when
    nothing changed. Keys of a :data:`TOGETHER` section travel together."""
    old: dict[str, dict[str, Any]] = {}
    new: dict[str, dict[str, Any]] = {}
    for section, after_part in after.items():
        before_part = before.get(section)
        if not isinstance(after_part, dict) or not isinstance(before_part, dict):
            continue
        keys = [k for k in after_part if before_part.get(k) != after_part[k]]
        if not keys:
            continue
        if section in TOGETHER:
            keys = list(after_part)
        old[section] = {k: before_part.get(k) for k in keys}
        new[section] = {k: after_part[k] for k in keys}
    return old, new


class FormChangeCommand(QUndoCommand):
    """One change of the form: ``apply(values)`` shows ``old`` on undo and ``new`` on redo
    (the first redo is the push itself: the form already shows ``new``)."""

    def __init__(
        self,
        text: str,
        old: dict[str, dict[str, Any]],
        new: dict[str, dict[str, Any]],
        apply: Callable[[dict[str, dict[str, Any]]], None],
    ) -> None:
        super().__init__(text)
        self.old, self.new = old, new
        self._apply = apply
        self._pushed = False

    def redo(self) -> None:
        if self._pushed:
            self._apply(self.new)
        self._pushed = True

    def undo(self) -> None:
        self._apply(self.old)
