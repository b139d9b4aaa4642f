"""Audio input devices through sounddevice (PortAudio), with errors a person can act on.

sounddevice loads PortAudio when it is imported; a machine without ``libportaudio2`` raises
``OSError`` there. Everything here imports it lazily and turns that into
:class:`AudioUnavailable`, so the Studio starts and the recorder explains the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType


class AudioUnavailable(RuntimeError):
    """Audio capture is impossible here; ``str(err)`` says why and what to do."""


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    hostapi: str
    default_samplerate: float
    max_input_channels: int
    is_default: bool

    @property
    def label(self) -> str:
        """Text for a device picker."""
        suffix = " (default)" if self.is_default else ""
        return f"{self.name} - {self.hostapi}{suffix}"


def sounddevice_module() -> ModuleType:
    """Import sounddevice, or raise :class:`AudioUnavailable` when PortAudio is missing."""
    try:
        import sounddevice
    except OSError as err:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise AudioUnavailable(
            "The PortAudio library is not installed, so no microphone can be used. "
            "Install it (Debian/Ubuntu: 'sudo apt install libportaudio2') and restart the Studio. "
            f"({err})"
        ) from err
    return sounddevice


def refresh_devices() -> None:
    """Re-scan devices (PortAudio enumerates only when it is initialised).

    Call this when a device was plugged in or a sound server started after the first scan.
    Must not be called while a stream is open.
    """
    sd = sounddevice_module()
    sd._terminate()
    sd._initialize()


def list_input_devices() -> list[InputDevice]:
    """All devices with at least one input channel, the system default marked.

    Raises :class:`AudioUnavailable` when PortAudio is missing or there is no input device.
    """
    sd = sounddevice_module()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as err:
        raise AudioUnavailable(f"Could not list audio devices: {err}") from err
    try:
        default_in = sd.default.device[0]
    except (TypeError, IndexError):
        default_in = -1
    if default_in is None or default_in < 0:
        try:
            default_in = int(sd.query_devices(kind="input")["index"])
        except (sd.PortAudioError, ValueError, KeyError):
            default_in = -1
    found: list[InputDevice] = []
    for info in devices:
        if int(info["max_input_channels"]) <= 0:
            continue
        index = int(info["index"])
        found.append(
            InputDevice(
                index=index,
                name=str(info["name"]),
                hostapi=str(hostapis[int(info["hostapi"])]["name"]),
                default_samplerate=float(info["default_samplerate"]),
                max_input_channels=int(info["max_input_channels"]),
                is_default=index == default_in,
            )
        )
    if not found:
        raise AudioUnavailable(
            "No audio input device was found. Connect a microphone (or enable it in the "
            "system sound settings) and try again."
        )
    return found


def default_input_device() -> InputDevice:
    """The system default input device (the first input device if none is marked)."""
    devices = list_input_devices()
    for dev in devices:
        if dev.is_default:
            return dev
    return devices[0]


def find_input_device(name_or_index: str | int | None) -> InputDevice:
    """The input device with this index or exact name; ``None``/"" means the default.

    A stored name that no longer exists falls back to the default device.
    """
    if name_or_index is None or name_or_index == "":
        return default_input_device()
    devices = list_input_devices()
    for dev in devices:
        if isinstance(name_or_index, int) and dev.index == name_or_index:
            return dev
        if isinstance(name_or_index, str) and dev.name == name_or_index:
            return dev
    if isinstance(name_or_index, int):
        raise AudioUnavailable(f"Audio input device #{name_or_index} does not exist.")
    return default_input_device()
