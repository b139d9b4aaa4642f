"""Identity field edits as undoable commands, saved as they happen.

The editor never has a "Save" step: after a pause in typing (or when focus leaves a field,
another identity is opened or the window closes) it hands the form's values to
``LibraryState.commit_identity_fields``, which pushes an :class:`IdentityEditCommand` onto
the library's ``QUndoStack``. Doing, undoing and redoing a command writes the changed fields
through ``Library.update_identity`` on the database worker, so the GUI thread never waits on
SQLite. Consecutive commits that change the same fields of the same identity within a few
seconds merge into one undo step (typing a sentence in pauses undoes as one edit).

No widgets here.
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QUndoCommand

if TYPE_CHECKING:
    from idlora_studio.state.library_state import LibraryState

MERGE_WINDOW_S = 4.0
FIELD_NAMES = ("name", "notes", "tags", "consent")


def _norm_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFC", name).split())


def _norm_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({" ".join(t.split()).lower() for t in tags if t.strip()}))


def _consent_key(consent: Any) -> tuple[Any, ...] | None:
    if consent is None:
        return None
    doc = getattr(consent, "document_path", None)
    return (
        str(getattr(consent, "given_by", "") or "").strip(),
        getattr(consent, "date", None),
        str(getattr(consent, "scope", "") or "").strip(),
        str(doc) if doc else None,
    )


@dataclass(frozen=True)
class IdentityFields:
    """The typed fields of one identity (what the editor's form holds)."""

    name: str
    notes: str
    tags: tuple[str, ...]
    consent: Any = None  # a ``ConsentRecord`` or None

    @classmethod
    def of(cls, detail: Any) -> IdentityFields:
        return cls(
            name=str(detail.name),
            notes=str(detail.notes or ""),
            tags=tuple(detail.tags),
            consent=detail.consent,
        )

    def key(self, field: str) -> Any:
        """The value of ``field`` as the library would store it (for comparisons)."""
        if field == "name":
            return _norm_name(self.name)
        if field == "notes":
            return self.notes
        if field == "tags":
            return _norm_tags(self.tags)
        if field == "consent":
            return _consent_key(self.consent)
        raise KeyError(field)

    def differs(self, other: IdentityFields) -> tuple[str, ...]:
        """The fields whose stored values differ between ``self`` and ``other``."""
        return tuple(f for f in FIELD_NAMES if self.key(f) != other.key(f))

    def changes_from(self, before: IdentityFields) -> dict[str, Any]:
        """``Library.update_identity`` keyword arguments that turn ``before`` into this."""
        changes: dict[str, Any] = {}
        for f in self.differs(before):
            if f == "consent":
                if self.consent is None:
                    changes["clear_consent"] = True
                else:
                    changes["consent"] = self.consent
            else:
                changes[f] = getattr(self, f)
        return changes


def describe(before: IdentityFields, after: IdentityFields) -> str:
    """An undo-menu text for the edit, e.g. "Rename “Ann” to “Anna”"."""
    fields = after.differs(before)
    who = _norm_name(after.name) or _norm_name(before.name)
    if fields == ("name",):
        return f"Rename “{_norm_name(before.name)}” to “{who}”"
    if len(fields) == 1:
        return f"Edit {fields[0]} of “{who}”"
    return f"Edit “{who}”"


class IdentityEditCommand(QUndoCommand):
    """One committed edit of an identity's fields: ``before`` and ``after``."""

    COMMAND_ID = 0x1D17

    def __init__(
        self,
        state: LibraryState,
        identity_id: int,
        before: IdentityFields,
        after: IdentityFields,
    ) -> None:
        super().__init__(describe(before, after))
        self._state = state
        self.identity_id = identity_id
        self.before = before
        self.after = after
        self._fields = after.differs(before)
        self._at = time.monotonic()
        self._pushed = False

    def id(self) -> int:  # noqa: A003 - Qt's name
        return self.COMMAND_ID

    def redo(self) -> None:
        # The first redo is the push itself: the form already shows ``after``.
        self._state._apply_fields(  # noqa: SLF001
            self.identity_id, self.before, self.after, show=self._pushed
        )
        self._pushed = True

    def undo(self) -> None:
        self._state._apply_fields(self.identity_id, self.after, self.before, show=True)  # noqa: SLF001

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt override
        if not isinstance(other, IdentityEditCommand):
            return False
        if other.identity_id != self.identity_id or other._fields != self._fields:  # noqa: SLF001
            return False
        if other._at - self._at > MERGE_WINDOW_S:  # noqa: SLF001
            return False
        self.after = other.after
        self._at = other._at  # noqa: SLF001
        self.setText(describe(self.before, self.after))
        if not self.after.differs(self.before):
            self.setObsolete(True)  # typed and typed back: nothing left to undo
        return True
