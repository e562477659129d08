"""Typed errors raised by the blurvid library.

Library code raises these; the CLI maps every ``BlurvidError`` to one line on stderr and exit
code 1 (``BLURVID_DEBUG=1`` shows the traceback). Each message is a complete sentence that
names the offending file or option, so it can be shown to a user as is.
"""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 240) -> str:
    """The first line of an exception's message (or its type), at most ``limit`` characters:
    foreign errors (ONNX Runtime, PyTorch) become part of one-line blurvid messages."""
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


class BlurvidError(Exception):
    """Base class of every error blurvid reports to a user."""


class InputError(BlurvidError):
    """An input (image file, folder, option value) is missing, unreadable or invalid."""


class OutputExistsError(BlurvidError):
    """An output file already exists and ``force`` was not given."""


class OutputError(BlurvidError):
    """An output could not be written (unwritable folder, full disk, ...)."""


class ModelError(BlurvidError):
    """A model file is missing, corrupt or has the wrong signature."""


class RuntimeUnavailableError(BlurvidError):
    """ONNX Runtime (or the requested execution provider) is not available."""


class DependencyError(BlurvidError):
    """An optional dependency needed for this command is not installed."""
