"""Voice recording: devices, crash-safe capture, recovery after a crash, playback (Qt-free)."""

from idlora_studio.recording.capture import Levels, Recorder, RecorderError, RecorderStats
from idlora_studio.recording.devices import (
    AudioUnavailable,
    InputDevice,
    default_input_device,
    find_input_device,
    list_input_devices,
    refresh_devices,
)
from idlora_studio.recording.recovery import (
    UnfinishedRecording,
    discard,
    find_unfinished_recordings,
    recover,
)

__all__ = [
    "AudioUnavailable",
    "InputDevice",
    "Levels",
    "Recorder",
    "RecorderError",
    "RecorderStats",
    "UnfinishedRecording",
    "default_input_device",
    "discard",
    "find_input_device",
    "find_unfinished_recordings",
    "list_input_devices",
    "recover",
    "refresh_devices",
]
