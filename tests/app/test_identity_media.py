"""Advice the user can act on: the face check's suggested crop is drawn and applied in one
click, the voice clip's reference window is shown and dragged, warnings are shown in full;
right-click menus on cards, images and clips do what they say."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPointF, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QImage, QMouseEvent
from PySide6.QtWidgets import QApplication

from tests import media_fixtures as mf
from tests.app.fake_library import Clip
from tests.app.studio_fixtures import studio  # noqa: F401 - fixture
from tests.app.test_editor import _open


def _mean_rgb(img: QImage, x: int, y: int, r: int = 3) -> float:
    vals = [
        sum(img.pixelColor(i, j).getRgb()[:3])
        for i in range(x - r, x + r + 1)
        for j in range(y - r, y + r + 1)
    ]
    return sum(vals) / len(vals)


def test_group_photo_shows_three_faces_and_the_crop_applies_in_one_click(
    qtbot, real_window, real_library, tmp_path
):
    ident = real_library.create_identity("Three Friends")
    photo = mf.group_photo(tmp_path / "friends.jpg", (1600, 1200), (160, 140, 70), "chelsea")
    added = real_library.add_image(ident, photo)
    _open(qtbot, real_window, ident)
    images = real_window.editor.images
    # the image is selected at once: its advice is on screen without a click
    assert images.current_image_id() == added.image_id
    assert "3 faces" in images.faces_label.text()
    assert "3 faces were found" in images.image_warning.text()
    assert images.image_warning.toolTip() == images.image_warning.text()
    assert images.crop_button.isVisibleTo(images) and images.crop_button.isEnabled()
    assert images.preview.crop == added.suggested_crop

    # the crop is drawn on the picture: outside it is dimmed
    preview = images.preview
    qtbot.waitUntil(lambda: preview._pix is not None, timeout=5000)
    preview.resize(400, 300)
    with_crop = preview.grab().toImage()
    crop_rect = preview.map_box(added.suggested_crop)
    inside = crop_rect.center()
    outside = QPointF(preview.image_rect().right() - 8, preview.image_rect().bottom() - 8)
    assert preview.image_rect().contains(crop_rect)
    assert not crop_rect.contains(outside)
    preview.set_image(preview._pix, preview._size, preview._faces, None)
    plain = preview.grab().toImage()
    assert _mean_rgb(with_crop, int(outside.x()), int(outside.y())) < 0.75 * _mean_rgb(
        plain, int(outside.x()), int(outside.y())
    )
    assert (
        abs(
            _mean_rgb(with_crop, int(inside.x()), int(inside.y()))
            - _mean_rgb(plain, int(inside.x()), int(inside.y()))
        )
        < 12
    )

    images.crop_button.click()
    qtbot.waitUntil(lambda: len(real_library.get_identity(ident).images) == 2, timeout=20000)
    detail = real_library.get_identity(ident)
    original, cut = detail.images
    assert original.id == added.image_id and Path(original.path).is_file()
    assert cut.is_default and cut.face_count == 1 and cut.original_name == "friends-crop.jpg"
    assert (cut.width, cut.height) == tuple(added.suggested_crop[2:])
    qtbot.waitUntil(lambda: images.images_list.count() == 2, timeout=5000)
    qtbot.waitUntil(lambda: images.current_image_id() == cut.id, timeout=5000)
    assert "1 face" in images.faces_label.text()
    assert not images.crop_button.isVisibleTo(images)  # nothing left to crop


def _long_clip_identity(fake_library, warnings=()):  # noqa: ANN001, ANN202
    ident = fake_library.create_identity("Long Talker")
    clip = Clip(
        id=900,
        path=Path("/nonexistent/long.wav"),
        duration_s=12.0,
        best_window=(2.0, 7.0),
        suggested_window=(2.0, 7.0),
        original_name="long.wav",
        peaks=tuple(0.2 + 0.6 * ((i % 7) / 7) for i in range(400)),
        warnings=tuple(warnings),
        is_default=True,
    )
    fake_library._records[ident].clips.append(clip)
    return ident


def _mouse(widget, kind, x, y):  # noqa: ANN001, ANN202
    button = Qt.MouseButton.LeftButton
    held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    QApplication.sendEvent(
        widget,
        QMouseEvent(
            kind,
            QPointF(x, y),
            widget.mapToGlobal(QPointF(x, y)),
            button,
            held,
            Qt.KeyboardModifier.NoModifier,
        ),
    )


def test_reference_window_is_shown_on_the_waveform_and_dragged(qtbot, fake_window, fake_library):
    ident = _long_clip_identity(fake_library)
    _open(qtbot, fake_window, ident)
    clips = fake_window.editor.clips
    row = clips.clips_list.row(900)
    wave = row.waveform
    assert wave.highlight() == (2.0, 7.0)
    assert "Reference 2.0–7.0 s (suggested)" in row.window_label.text()
    wave.resize(600, 50)
    px = wave.width() / 12.0
    y = wave.height() / 2
    _mouse(wave, QEvent.Type.MouseButtonPress, 4.5 * px, y)  # grab the window's middle
    _mouse(wave, QEvent.Type.MouseMove, 6.0 * px, y)
    assert "(your choice)" in row.window_label.text()
    assert fake_library.calls.count("set_clip_window") == 0  # nothing saved mid-drag
    with qtbot.waitSignal(wave.window_moved) as moved:
        _mouse(wave, QEvent.Type.MouseMove, 7.5 * px, y)
        _mouse(wave, QEvent.Type.MouseButtonRelease, 7.5 * px, y)
    start, end = moved.args
    assert abs(start - 5.0) < 0.05 and abs(end - start - 5.0) < 1e-6
    qtbot.waitUntil(
        lambda: abs(fake_library.get_identity(ident).clips[0].best_window[0] - 5.0) < 0.05,
        timeout=5000,
    )
    assert fake_library.calls.count("set_clip_window") == 1
    # the reload shows the chosen window; dragging past the end stops at the end
    editor = fake_window.editor
    qtbot.waitUntil(lambda: editor.detail.clips[0].best_window[0] > 4.9, timeout=5000)
    assert "(your choice)" in clips.clips_list.row(900).window_label.text()
    wave = clips.clips_list.row(900).waveform
    wave.resize(600, 50)
    _mouse(wave, QEvent.Type.MouseButtonPress, 6.0 * px, y)
    _mouse(wave, QEvent.Type.MouseMove, 20.0 * px, y)
    _mouse(wave, QEvent.Type.MouseButtonRelease, 20.0 * px, y)
    qtbot.waitUntil(
        lambda: fake_library.get_identity(ident).clips[0].best_window == (7.0, 12.0), timeout=5000
    )
    qtbot.waitUntil(lambda: editor.detail.clips[0].best_window == (7.0, 12.0), timeout=5000)
    # "Reset to the suggested window" from the clip's menu
    menu = clips.context_menu(900)
    reset = next(a for a in menu.actions() if a.text() == "Reset to the suggested window")
    assert reset.isEnabled()
    reset.trigger()
    qtbot.waitUntil(
        lambda: fake_library.get_identity(ident).clips[0].best_window == (2.0, 7.0), timeout=5000
    )


def test_clip_warnings_show_in_full(qtbot, fake_window, fake_library):
    warnings = (
        "The clip is 12.0 s long; ID-LoRA was trained on ~5 s references, so the suggested "
        "window is used and the rest is ignored.",
        "Background noise is high (noise floor -38 dBFS); record in a quieter room or closer "
        "to the microphone for a cleaner voice.",
        "Some samples clip (the level hit full scale); lower the input gain and record again.",
    )
    ident = _long_clip_identity(fake_library, warnings)
    _open(qtbot, fake_window, ident)
    fake_window.resize(1366, 768)
    editor = fake_window.editor
    label = editor.clips.clips_list.row(900).warning_label
    qtbot.waitUntil(label.isVisible, timeout=5000)
    QApplication.processEvents()
    for w in warnings:
        assert w in label.text() and w in label.toolTip()
    assert label.wordWrap()
    needed = label.heightForWidth(label.width())
    assert needed > 3 * label.fontMetrics().height()  # several lines, all of them
    assert label.height() >= needed


class _Urls(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url)


def test_right_click_menus_on_cards_images_and_clips(
    qtbot, fake_window, fake_library, tmp_path, monkeypatch
):
    ident = _long_clip_identity(fake_library)
    a = mf.face_image(tmp_path / "a.jpg")
    b = mf.no_face_image(tmp_path / "b.png")
    fake_library.add_image(ident, a)
    fake_library.add_image(ident, b)
    _open(qtbot, fake_window, ident)
    editor = fake_window.editor
    panel = fake_window.library_panel

    # card: Open / Rename… / Delete…
    texts = [act.text() for act in panel.context_menu(ident).actions() if act.text()]
    assert texts[:2] == ["Open", "Rename…"] and texts[-1] == "Delete…"
    next(act for act in panel.context_menu(ident).actions() if act.text() == "Rename…").trigger()
    assert editor.name_edit.hasFocus() or editor.name_edit.selectedText() == "Long Talker"
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)

    # image: Set as default / Use suggested crop / Reveal file / Remove
    second = fake_library.get_identity(ident).images[1]
    menu = editor.images.context_menu(second.id)
    texts = [act.text() for act in menu.actions() if act.text()]
    assert texts == ["Set as default", "Use suggested crop", "Reveal file", "Remove"]
    urls = _Urls()
    QDesktopServices.setUrlHandler("file", urls, "open")
    try:
        next(act for act in menu.actions() if act.text() == "Reveal file").trigger()
        next(act for act in menu.actions() if act.text() == "Set as default").trigger()
        qtbot.waitUntil(lambda: fake_library.get_identity(ident).images[1].is_default, timeout=5000)
        # clip: Play / Set as default / Reset… / Reveal file / Remove
        menu = editor.clips.context_menu(900)
        texts = [act.text() for act in menu.actions() if act.text()]
        assert texts == [
            "Play",
            "Set as default",
            "Reset to the suggested window",
            "Reveal file",
            "Remove",
        ]
        assert not next(a for a in menu.actions() if a.text() == "Set as default").isEnabled()
        next(act for act in menu.actions() if act.text() == "Remove").trigger()
        qtbot.waitUntil(lambda: not fake_library.get_identity(ident).clips, timeout=5000)
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert urls.opened and Path(urls.opened[0].toLocalFile()) == Path(b).parent

    # the card's Delete… asks, then deletes
    next(act for act in panel.context_menu(ident).actions() if act.text() == "Delete…").trigger()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=5000)


def test_dragged_window_is_the_clips_stored_reference_window(
    qtbot, real_window, real_library, tmp_path
):
    ident = real_library.create_identity("Long Speaker")
    text = (
        "This recording is deliberately longer than the five seconds the method wants, "
        "so that the reference window has somewhere to move along the clip."
    )
    clip = real_library.add_voice_clip(ident, mf.speech_wav(tmp_path / "long.wav", text))
    info = real_library.get_identity(ident).clips[0]
    assert info.duration_s > 7.0
    start0, end0 = info.best_window
    _open(qtbot, real_window, ident)
    row = real_window.editor.clips.clips_list.row(clip.clip_id)
    wave = row.waveform
    wave.resize(600, 50)
    px = wave.width() / info.duration_s
    y = wave.height() / 2
    grab = (start0 + end0) / 2
    target = 1.0 if start0 > 2.0 else info.duration_s - 1.0  # move it well away
    _mouse(wave, QEvent.Type.MouseButtonPress, grab * px, y)
    _mouse(wave, QEvent.Type.MouseMove, target * px, y)
    _mouse(wave, QEvent.Type.MouseButtonRelease, target * px, y)
    moved = wave.highlight()
    assert abs(moved[0] - start0) > 1.0 and abs((moved[1] - moved[0]) - (end0 - start0)) < 1e-6
    qtbot.waitUntil(lambda: real_library.get_identity(ident).clips[0].window_moved, timeout=10000)
    stored = real_library.get_identity(ident).clips[0]
    assert abs(stored.best_window[0] - moved[0]) < 0.01
    assert stored.suggested_window == (start0, end0)


def test_a_selected_picture_is_shown_untinted(qtbot, studio) -> None:  # noqa: ANN001, F811
    """Qt tints a selected item's icon with the highlight colour: the default reference photo
    (selected in the editor and in the Generate picker) looked grey-blue. Every picture list
    shows the picture itself, selected or not."""
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QIcon

    window = studio.window
    lists = {
        "editor images": window.editor.images.images_list,
        "generate images": window.generate_panel.form.identity.image_list,
        "bin": window.timeline_panel.bin,
    }
    for where, view in lists.items():
        qtbot.waitUntil(
            lambda v=view: v.count() > 0 and not v.item(0).icon().isNull(), timeout=10_000
        )
        icon = view.item(0).icon()
        side = QSize(32, 32)
        normal = icon.pixmap(side, QIcon.Mode.Normal).toImage()
        selected = icon.pixmap(side, QIcon.Mode.Selected).toImage()
        assert selected == normal, f"{where}: the selected picture is drawn tinted"
