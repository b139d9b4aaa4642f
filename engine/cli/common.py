"""What the ``generate`` command's modules share: exit codes, the usage error, a job,
printable text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.api import (
    GenerationRequest,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_CANCELLED = 130

PARALLEL_CHOICES = ("passes", "sequence", "jobs")


class UsageError(Exception):
    """A command line (or jobs file) that cannot run as given: exit code 2."""


@dataclass(frozen=True)
class Job:
    """One take to make: its request and where the clip goes."""

    index: int
    name: str
    request: GenerationRequest
    output: Path


def _shown(value: object) -> str:
    """Text safe to print: bytes that are not UTF-8 (kept by Python as surrogates) as escapes."""
    from engine.text import printable

    return printable(value)
