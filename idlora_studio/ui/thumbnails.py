"""Asynchronous, cached thumbnails for the grid and the editor.

``ThumbnailCache.get(path)`` answers at once: a cached ``QPixmap`` or ``None``. On a miss it
schedules the decode on a worker (``QImage`` is safe off the GUI thread; ``QPixmap`` is
not, so conversion happens in the callback) and emits ``ready(path)`` when it lands.
The cache is an LRU bounded by entry count.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QRect, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QImageReader, QPixmap

from idlora_studio.workers.tasks import TaskRunner


def picture_icon(pixmap: QPixmap) -> QIcon:
    """An icon that shows ``pixmap`` as it is, selected or not.

    Qt's default icon tints the selected item's picture with the highlight colour (30 %):
    a selected reference photo or take looked grey-blue, as if it were a different picture.
    The selection shows through the item's frame instead."""
    icon = QIcon(pixmap)
    icon.addPixmap(pixmap, QIcon.Mode.Selected)
    return icon


def load_square_image(path: str, side: int) -> QImage | None:
    """Decode ``path`` scaled and centre-cropped to ``side`` x ``side`` (any thread)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and size.width() > 0 and size.height() > 0:
        scale = side / min(size.width(), size.height())
        if scale < 1.0:  # decode directly at a smaller size (fast for JPEG)
            reader.setScaledSize(
                QSize(
                    max(side, round(size.width() * scale)), max(side, round(size.height() * scale))
                )
            )
    image = reader.read()
    if image.isNull():
        return None
    image = image.scaled(
        side,
        side,
        Qt.AspectRatioMode.KeepAspectRatioByExpanding,
        Qt.TransformationMode.SmoothTransformation,
    )
    x = (image.width() - side) // 2
    y = (image.height() - side) // 2
    return image.copy(QRect(x, y, side, side)).convertToFormat(
        QImage.Format.Format_ARGB32_Premultiplied
    )


def load_fitted_image(path: str, side: int) -> QImage | None:
    """Decode ``path`` scaled to fit in ``side`` x ``side``, aspect kept (any thread)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > side:
        reader.setScaledSize(size.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio))
    image = reader.read()
    return None if image.isNull() else image


class ThumbnailCache(QObject):
    """LRU of square pixmaps keyed by file path, filled by background decodes."""

    ready = Signal(str)

    def __init__(
        self,
        runner: TaskRunner,
        side: int = 160,
        capacity: int = 600,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._side = side
        self._capacity = capacity
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._loading: set[str] = set()
        self._failed: set[str] = set()

    @property
    def side(self) -> int:
        return self._side

    def pending(self) -> int:
        return len(self._loading)

    def cached(self, path: str | Path | None) -> QPixmap | None:
        """The pixmap if cached, without scheduling a load."""
        if not path:
            return None
        key = str(path)
        pix = self._cache.get(key)
        if pix is not None:
            self._cache.move_to_end(key)
        return pix

    def get(self, path: str | Path | None) -> QPixmap | None:
        """The square thumbnail of ``path``; None while it loads (``ready(path)`` follows)."""
        if not path:
            return None
        side = self._side
        return self._get(str(path), lambda: load_square_image(str(path), side))

    @staticmethod
    def fitted_key(path: str | Path, side: int) -> str:
        return f"{path}#fit{side}"

    def fitted(self, path: str | Path | None, side: int) -> QPixmap | None:
        """``path`` scaled to fit ``side`` x ``side`` with its aspect kept; None while it
        loads (``ready(fitted_key(path, side))`` follows)."""
        if not path:
            return None
        return self._get(self.fitted_key(path, side), lambda: load_fitted_image(str(path), side))

    def _get(self, key: str, load: Callable[[], QImage | None]) -> QPixmap | None:
        pix = self.cached(key)
        if pix is not None or key in self._loading or key in self._failed:
            return pix
        self._loading.add(key)
        self._runner.submit(
            load,
            lambda image: self._store(key, image),
            lambda _exc: self._store(key, None),
        )
        return None

    def invalidate(self, path: str | Path) -> None:
        key = str(path)
        self._cache.pop(key, None)
        self._failed.discard(key)

    def _store(self, key: str, image: QImage | None) -> None:
        self._loading.discard(key)
        if image is None:
            self._failed.add(key)
            return
        self._cache[key] = QPixmap.fromImage(image)
        self._cache.move_to_end(key)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        self.ready.emit(key)
