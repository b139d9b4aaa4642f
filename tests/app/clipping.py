"""What "clipped" means for the window-fits tests, in one place.

:func:`clipped_widgets` returns one line per problem found in a shown window. A *visible*
widget (``isVisible()``; other windows such as popups are not looked at) is clipped when:

1. **outside an ancestor**: its rectangle, mapped into any ancestor up to the window, is not
   inside that ancestor's rectangle. Inside a scroll area's viewport only the horizontal
   extent counts: content below the fold is reachable by scrolling (unless the area's
   vertical scroll bar is switched off, which is then reported);
2. **squeezed**: a layout or splitter gave it less than the minimum Qt itself would honour
   (``qSmartMinSize``: the minimum size hint, or the size hint for policies that may not
   shrink, or an explicit minimum size; nothing for ``Ignored``);
3. **text cut**: a button or a one-line label is narrower than its own minimum size hint
   (its whole text), even when a fixed size allowed that; a word-wrapped label is shorter
   than the height its text needs at its width (``heightForWidth``);
4. **scrolls sideways**: a scroll area needs its horizontal scroll bar (content wider than
   the view), unless the widget declares the dynamic property ``scrollsHorizontally`` (a
   timeline, whose whole point is to scroll in time).

The window itself must also have the size it was given: if the layouts' minimum is larger,
Qt makes the window larger, and every page that needed it would run off a small screen.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QLabel,
    QSizePolicy,
    QSplitter,
    QWidget,
)

SLACK = 1  # pixels of rounding allowed
#: Qt widgets that reach past their parent on purpose: QMainWindow's dock separators have a
#: grab area a few pixels wider than the line they draw.
QT_INTERNAL_OVERHANGS = frozenset({"qt_qmainwindow_extended_splitter"})


def describe(w: QWidget) -> str:
    parts = []
    node: QWidget | None = w
    while node is not None and len(parts) < 5:
        name = node.objectName()
        text = ""
        if isinstance(node, QAbstractButton | QLabel) and node.text():
            text = f"'{node.text()[:24]}'"
        parts.append(type(node).__name__ + (f"#{name}" if name else "") + text)
        node = node.parentWidget()
        if node is not None and node.isWindow():
            break
    return " < ".join(parts)


def smart_min_size(w: QWidget) -> QSize:
    """Qt's ``qSmartMinSize``: the least a layout will give ``w``."""
    hint, min_hint = w.sizeHint(), w.minimumSizeHint()
    policy, min_size, max_size = w.sizePolicy(), w.minimumSize(), w.maximumSize()
    width = height = 0
    hp, vp = policy.horizontalPolicy(), policy.verticalPolicy()
    shrink = QSizePolicy.PolicyFlag.ShrinkFlag.value
    if hp != QSizePolicy.Policy.Ignored:
        width = min_hint.width() if hp.value & shrink else max(hint.width(), min_hint.width())
    if vp != QSizePolicy.Policy.Ignored:
        height = min_hint.height() if vp.value & shrink else max(hint.height(), min_hint.height())
    width, height = min(width, max_size.width()), min(height, max_size.height())
    if min_size.width() > 0:
        width = min_size.width()
    if min_size.height() > 0:
        height = min_size.height()
    return QSize(max(0, width), max(0, height))


def _scroll_area_of(viewport: QWidget) -> QAbstractScrollArea | None:
    parent = viewport.parentWidget()
    if isinstance(parent, QAbstractScrollArea) and parent.viewport() is viewport:
        return parent
    return None


def _managed(w: QWidget) -> bool:
    """Whether a layout or splitter sizes ``w`` (manual geometry is not 'squeezed')."""
    parent = w.parentWidget()
    if parent is None:
        return False
    if isinstance(parent, QSplitter):
        return True
    layout = parent.layout()
    return layout is not None and layout.indexOf(w) >= 0


def clipped_widgets(window: QWidget, size: QSize | None = None) -> list[str]:
    """Problems in ``window`` as it is shown now (see the module docstring); [] is a pass."""
    problems: list[str] = []
    if size is not None and window.size() != size:
        problems.append(
            f"window: asked for {size.width()}x{size.height()}, the layouts need "
            f"{window.width()}x{window.height()} (minimum {window.minimumSizeHint().width()}x"
            f"{window.minimumSizeHint().height()})"
        )
    for w in window.findChildren(QWidget):
        if not w.isVisible() or w.isWindow() or w.window() is not window:
            continue
        if w.objectName() in QT_INTERNAL_OVERHANGS:
            continue
        problems.extend(_check(w))
    return problems


def _check(w: QWidget) -> list[str]:
    out: list[str] = []
    where = describe(w)
    # 1. inside every ancestor (horizontally only inside a scroll area's viewport)
    rect = QRect(0, 0, w.width(), w.height())
    child, node = w, w.parentWidget()
    while node is not None and w.width() > 0 and w.height() > 0:
        mapped = QRect(child.mapTo(node, rect.topLeft()), rect.size())
        bounds = node.rect().adjusted(-SLACK, -SLACK, SLACK, SLACK)
        area = _scroll_area_of(node)
        if area is not None:
            if mapped.left() < bounds.left() or mapped.right() > bounds.right():
                out.append(f"{where}: runs past the side of a scroll area")
            elif mapped.bottom() > bounds.bottom() and area.verticalScrollBarPolicy().name == (
                "ScrollBarAlwaysOff"
            ):
                out.append(f"{where}: below a scroll area whose scroll bar is off")
            break  # the scroll area itself is checked as a widget of its own
        if not bounds.contains(mapped):
            out.append(
                f"{where}: {mapped.width()}x{mapped.height()}+{mapped.x()}+{mapped.y()} outside "
                f"{describe(node)} ({node.width()}x{node.height()})"
            )
            break
        if node.isWindow():
            break
        rect, child, node = mapped, node, node.parentWidget()
    # 2. squeezed below what a layout would honour
    if _managed(w):
        need = smart_min_size(w)
        if w.width() + SLACK < need.width() or w.height() + SLACK < need.height():
            out.append(
                f"{where}: squeezed to {w.width()}x{w.height()}, needs "
                f"{need.width()}x{need.height()}"
            )
    # 3. text cut
    if isinstance(w, QAbstractButton) and w.text():
        if w.width() + SLACK < w.minimumSizeHint().width():
            out.append(
                f"{where}: {w.width()} px wide, its text needs {w.minimumSizeHint().width()}"
            )
    elif isinstance(w, QLabel) and w.text() and w.pixmap().isNull():
        if w.wordWrap():
            if w.hasHeightForWidth() and w.height() + SLACK < w.heightForWidth(w.width()):
                out.append(
                    f"{where}: {w.height()} px high, its wrapped text needs "
                    f"{w.heightForWidth(w.width())}"
                )
        elif w.width() + SLACK < w.minimumSizeHint().width():
            out.append(
                f"{where}: {w.width()} px wide, its text needs {w.minimumSizeHint().width()}"
            )
    # 4. sideways scrolling
    if isinstance(w, QAbstractScrollArea) and not w.property("scrollsHorizontally"):
        bar = w.horizontalScrollBar()
        if bar.maximum() > 0 and w.horizontalScrollBarPolicy().name != "ScrollBarAlwaysOff":
            out.append(f"{where}: scrolls sideways ({bar.maximum()} px hidden)")
        elif bar.maximum() > 0:
            out.append(f"{where}: {bar.maximum()} px cut off at the side (scroll bar off)")
    return out
