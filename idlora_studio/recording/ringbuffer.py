"""A single-producer / single-consumer ring buffer of audio frames and block level maths.

The producer is PortAudio's callback thread, which must never block or allocate much: it
copies each block into a preallocated array and advances a counter. The consumer (the
recorder's writer thread) reads up to the producer's counter and advances its own. Each
counter is written by one thread only and a block's samples are stored before the write
counter moves, so no lock is needed. When the consumer falls behind and the buffer is full
the *new* frames are dropped and counted; nothing already captured is overwritten.
"""

from __future__ import annotations

import math

import numpy as np

SILENCE_DB = -120.0


def amplitude_to_db(value: float) -> float:
    """dBFS of a linear amplitude (1.0 = full scale); silence floors at ``SILENCE_DB``."""
    if value <= 1e-6:
        return SILENCE_DB
    return max(SILENCE_DB, 20.0 * math.log10(value))


def block_levels(block: np.ndarray) -> tuple[float, float, float]:
    """(peak, rms) in dBFS and the linear peak of a block (all channels together).

    RMS is referenced to full-scale amplitude, so a sine of amplitude 0.5 reads
    -6.02 dBFS peak and -9.03 dBFS RMS.
    """
    if block.size == 0:
        return SILENCE_DB, SILENCE_DB, 0.0
    peak = float(np.max(np.abs(block)))
    rms = float(np.sqrt(np.mean(np.square(block, dtype=np.float64))))
    return amplitude_to_db(peak), amplitude_to_db(rms), peak


class RingBuffer:
    """Fixed-size float32 frame buffer; one writer thread, one reader thread."""

    def __init__(self, capacity_frames: int, channels: int) -> None:
        if capacity_frames <= 0 or channels <= 0:
            raise ValueError("capacity and channels must be positive")
        self.capacity = int(capacity_frames)
        self.channels = int(channels)
        self._data = np.zeros((self.capacity, self.channels), dtype=np.float32)
        self._written = 0  # total frames stored (producer only)
        self._read = 0  # total frames consumed (consumer only)
        self.dropped_frames = 0  # producer only

    def available(self) -> int:
        """Frames waiting to be read."""
        return self._written - self._read

    def free(self) -> int:
        return self.capacity - self.available()

    def write(self, block: np.ndarray) -> int:
        """Store ``block`` (frames x channels); returns frames stored. Never blocks."""
        frames = int(block.shape[0])
        n = min(frames, self.free())
        if n < frames:
            self.dropped_frames += frames - n
        if n <= 0:
            return 0
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        self._data[start : start + first] = block[:first]
        if n > first:
            self._data[: n - first] = block[first:n]
        self._written += n  # publish after the samples are in place
        return n

    def read(self, max_frames: int | None = None) -> np.ndarray:
        """Copy out up to ``max_frames`` waiting frames (all if ``None``)."""
        n = self.available()
        if max_frames is not None:
            n = min(n, max_frames)
        if n <= 0:
            return np.zeros((0, self.channels), dtype=np.float32)
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        if n > first:
            out = np.concatenate((self._data[start:], self._data[: n - first]))
        else:
            out = self._data[start : start + n].copy()
        self._read += n  # release the space after copying
        return out
