"""Playback follows its master clock; scrubbing shows the cached frame under the playhead."""

from __future__ import annotations

import time

from tests.app.test_timeline import Rig, rig  # noqa: F401 - fixture


def _decoded(rig: Rig) -> None:  # noqa: F811
    for t in rig.env.take_ids:
        rig.qtbot.waitUntil(
            lambda t=t: rig.cache.frames(rig.state.media(t)) is not None, timeout=10000
        )


def test_play_advances_with_the_clock_and_video_matches_it(rig: Rig) -> None:  # noqa: F811
    a, b, c = rig.env.take_ids
    st = rig.state
    for t in (a, b, c):
        st.append_take(t)
    _decoded(rig)
    player = rig.player
    st.set_playhead(3)
    player.play()
    assert player.playing and player.clock_source in ("audio", "timer")
    # The rate is measured from the first advance: the audio device's start-up latency (the
    # clock is the audio's) is not the player's to hide and grows with the machine's load.
    rig.qtbot.waitUntil(lambda: st.playhead > 3, timeout=3000)
    t0, start = time.monotonic(), st.playhead
    rig.qtbot.wait(500)
    elapsed = time.monotonic() - t0
    clock_frame = player.frame_for_clock()
    # The playhead advanced by roughly the elapsed time...
    assert abs((st.playhead - start) - elapsed * st.fps) <= 4, (start, st.playhead, elapsed)
    # ...the picture shown is the frame for the clock (within one frame)...
    assert abs(player.shown_frame - clock_frame) <= 1
    assert player.shown_frame == st.playhead
    # ...and it is the decoded frame of the clip under the playhead.
    clip = st.clip_at(player.shown_frame)
    expected = rig.cache.frame(
        st.media(clip.take_id), clip.in_frame + player.shown_frame - clip.position
    )
    assert player.image is expected
    player.pause()
    stopped = st.playhead
    rig.qtbot.wait(100)
    assert st.playhead == stopped and not player.playing


def test_playback_stops_at_the_end_and_shuttle_runs_backwards(rig: Rig) -> None:  # noqa: F811
    st = rig.state
    st.append_take(rig.env.take_ids[0])  # 25 frames = 1 s
    _decoded(rig)
    st.set_playhead(20)
    rig.player.play()
    rig.qtbot.waitUntil(lambda: not rig.player.playing, timeout=3000)
    assert st.playhead == 25
    rig.player.shuttle(-1)
    assert rig.player.rate < 0
    rig.qtbot.wait(200)
    assert st.playhead < 25
    rig.player.shuttle(0)
    assert not rig.player.playing


def test_scrubbing_shows_the_cached_frame(rig: Rig) -> None:  # noqa: F811
    a, b, _ = rig.env.take_ids
    st = rig.state
    st.append_take(a)
    st.append_take(b)
    _decoded(rig)
    st.set_playhead(30)  # frame 5 of take b (green)
    img = rig.player.image
    assert img is rig.cache.frame(st.media(b), 5)
    colour = img.pixelColor(img.width() // 2 + 10, img.height() // 2)
    assert colour.green() > colour.red() + 40
    st.set_playhead(2)  # take a (red)
    colour = rig.player.image.pixelColor(40, 32)
    assert colour.red() > colour.green() + 40


def test_while_a_take_decodes_the_viewer_shows_that_take(rig: Rig, monkeypatch) -> None:  # noqa: ANN001, F811
    """Moving the playhead into a clip whose frames are still being decoded showed the last
    picture of the clip before (another take, under this clip's timecode); it shows this
    take's own timeline thumbnail until its frames arrive."""
    a, b, _ = rig.env.take_ids
    st = rig.state
    st.append_take(a)
    st.append_take(b)
    _decoded(rig)
    for t in (a, b):
        rig.qtbot.waitUntil(
            lambda t=t: rig.cache.thumbnails(st.media(t)) is not None, timeout=10000
        )
    st.set_playhead(2)  # take a (red), decoded
    assert rig.player.image is rig.cache.frame(st.media(a), 2)
    decoded = rig.cache.frame
    still_decoding = st.media(b).video_hash
    monkeypatch.setattr(
        rig.cache,
        "frame",
        lambda media, i: None if media.video_hash == still_decoding else decoded(media, i),
    )
    st.set_playhead(30)  # frame 5 of take b (green)
    img = rig.player.image
    assert img is rig.cache.thumbnails(st.media(b)).nearest(5)
    colour = img.pixelColor(img.width() // 2 + 2, img.height() // 2)
    assert colour.green() > colour.red() + 40
