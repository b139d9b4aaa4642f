"""A real virtual microphone: a private PulseAudio daemon with a null sink ``vmic``.

Whatever is played into the sink (``paplay``) comes out of ``vmic.monitor``, which is made
the default source, so PortAudio's ``pulse``/``default`` devices capture it. The daemon runs
in its own runtime folder (``PULSE_SERVER`` points clients at it), so it neither needs nor
disturbs a desktop sound server, and works as root (CI) without ``--system``.

If PulseAudio cannot be started the tests that need it FAIL with the reason; they are
never skipped.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

RATE = 48000


@dataclass
class VirtualMic:
    runtime_dir: Path
    server: str
    pid: int
    keepalive: subprocess.Popen[bytes]

    def play(self, wav: Path) -> subprocess.Popen[bytes]:
        """Start playing ``wav`` into the null sink (returns the running ``paplay``)."""
        return subprocess.Popen(
            ["paplay", "--device=vmic", str(wav)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )


def _fail(message: str) -> None:
    pytest.fail(
        f"PulseAudio virtual microphone unavailable: {message}\n"
        "Install the Debian packages pulseaudio pulseaudio-utils libasound2-plugins "
        "libportaudio2 (see installers/debian-test-packages.txt).",
        pytrace=False,
    )


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGKILL it when the test process dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _run(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20)


@pytest.fixture(scope="session")
def virtual_mic() -> Iterator[VirtualMic]:
    for tool in ("pulseaudio", "pactl", "paplay", "parec"):
        if shutil.which(tool) is None:
            _fail(f"'{tool}' is not installed")
    runtime = Path(tempfile.mkdtemp(prefix="idlora-pa-"))
    runtime.chmod(0o700)
    socket = runtime / "native"
    client_conf = runtime / "client.conf"
    client_conf.write_text("autospawn = no\n")
    saved = {
        k: os.environ.get(k)
        for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "PULSE_CLIENTCONFIG", "PULSE_SINK")
    }
    env = dict(os.environ)
    env.update(
        HOME=str(runtime),
        XDG_RUNTIME_DIR=str(runtime),
        XDG_CONFIG_HOME=str(runtime / "config"),
        PULSE_RUNTIME_PATH=str(runtime),
        PULSE_CLIENTCONFIG=str(client_conf),
        PULSE_SERVER=f"unix:{socket}",
    )
    env.pop("PULSE_SINK", None)
    # Not daemonised: a child that the kernel kills with this process, so an interrupted
    # test run (timeout, Ctrl-C, SIGKILL) leaves no sound server behind.
    daemon = subprocess.Popen(
        [
            "pulseaudio",
            "--daemonize=no",
            "-n",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            "--load=module-null-sink sink_name=vmic rate=48000",
            f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
            "--load=module-always-sink",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent,
    )
    keepalive: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 10
        while _run(["pactl", "info"], env).returncode != 0:
            if daemon.poll() is not None:
                err = daemon.stderr.read() if daemon.stderr else ""
                _fail(f"pulseaudio exited with {daemon.returncode}: {err.strip()}")
            if time.monotonic() > deadline:
                _fail("the daemon did not answer 'pactl info' within 10 s")
            time.sleep(0.1)
        for cmd in (
            ["pactl", "set-default-sink", "vmic"],
            ["pactl", "set-default-source", "vmic.monitor"],
        ):
            res = _run(cmd, env)
            if res.returncode != 0:
                _fail(f"{' '.join(cmd)} failed: {res.stderr.strip()}")
        for key in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "PULSE_CLIENTCONFIG"):
            os.environ[key] = env[key]
        os.environ.pop("PULSE_SINK", None)
        # An idle null sink renders in 2 s steps, so a new recording could wait up to 2 s for
        # its first block; a low-latency reader of the monitor keeps the sink ticking.
        keepalive = subprocess.Popen(
            ["parec", "--device=vmic.monitor", "--latency-msec=20", "--raw"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        # PortAudio enumerates devices once; rescan now that the sound server exists.
        from idlora_studio.recording.devices import list_input_devices, refresh_devices

        refresh_devices()
        names = [d.name for d in list_input_devices()]
        if "pulse" not in names:
            _fail(
                f"PortAudio does not list a 'pulse' input (found {names}); "
                "libasound2-plugins missing?"
            )
        yield VirtualMic(runtime, env["PULSE_SERVER"], daemon.pid, keepalive)
    finally:
        for child in (keepalive, daemon):
            if child is not None and child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=1)
                except subprocess.TimeoutExpired:  # slow idle timers; nothing worth keeping
                    child.kill()
                    child.wait()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(runtime, ignore_errors=True)


def make_tone(
    path: Path,
    freq: float = 440.0,
    tone_s: float = 2.0,
    pad_s: float = 0.5,
    amplitude: float = 0.5,
    rate: int = RATE,
) -> Path:
    """WAV: ``pad_s`` silence, ``tone_s`` of a sine (10 ms fades), ``pad_s`` silence."""
    import soundfile as sf

    t = np.arange(int(tone_s * rate)) / rate
    tone = amplitude * np.sin(2 * np.pi * freq * t)
    fade = int(0.01 * rate)
    ramp = np.linspace(0.0, 1.0, fade)
    tone[:fade] *= ramp
    tone[-fade:] *= ramp[::-1]
    pad = np.zeros(int(pad_s * rate))
    sf.write(str(path), np.concatenate([pad, tone, pad]).astype(np.float32), rate, subtype="PCM_16")
    return path


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency (Hz) of the strongest FFT bin, with parabolic interpolation."""
    x = samples.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    x = x * np.hanning(x.size)
    spec = np.abs(np.fft.rfft(x))
    k = int(np.argmax(spec[1:]) + 1)
    if 1 <= k < spec.size - 1:
        a, b, c = spec[k - 1], spec[k], spec[k + 1]
        denom = a - 2 * b + c
        k_f = k + (0.5 * (a - c) / denom if denom else 0.0)
    else:
        k_f = float(k)
    return k_f * rate / x.size


@pytest.fixture(scope="session")
def tone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """0.5 s silence, 2.0 s of 440 Hz at amplitude 0.5, 0.5 s silence."""
    return make_tone(tmp_path_factory.mktemp("tone") / "tone440.wav")


SPEECH_TEXT = (
    "Hello, this is a test of the studio microphone. I am reading a few words so the "
    "recorder hears a real voice."
)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """0.5 s silence, espeak-ng speech (~6 s, 22050 Hz), 0.5 s silence."""
    import soundfile as sf

    from tests.media_fixtures import speech_wav as make_speech

    path = make_speech(
        tmp_path_factory.mktemp("speech") / "speech.wav",
        SPEECH_TEXT,
        lead_silence=0.5,
        tail_silence=0.5,
    )
    assert sf.info(str(path)).duration > 4.0
    return path
