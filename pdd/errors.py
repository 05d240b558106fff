"""Errors pdd raises, each carrying the process exit code of the contract.

Exit codes (product contract, "Commands"): 0 success; 1 the check or the tests
found a problem; 2 bad usage, input or configuration; 3 the model backend failed.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_BACKEND = 3


class PddError(Exception):
    """Base class. ``exit_code`` is what the CLI exits with; ``hint`` says what to do next."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(PddError):
    """Bad usage, input or configuration (exit 2)."""

    exit_code = EXIT_USAGE


class InputError(UsageError):
    """A bad input file: names ``path`` and 1-based ``line`` (or ``None``) (exit 2)."""

    def __init__(self, path: str, line: int | None, message: str, *, hint: str | None = None) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.line = line


class ConfigError(UsageError):
    """``.pdd/config.yaml`` or an environment override is invalid (exit 2)."""


class NotARepositoryError(UsageError):
    """The working directory is not inside a git repository (exit 2)."""


class BackendError(PddError):
    """The model backend failed: unreachable, refused, or an unusable answer (exit 3)."""

    exit_code = EXIT_BACKEND


class ReplayMissError(BackendError):
    """The ``replay`` backend has no recorded response for a request (exit 3)."""


class ProblemFound(PddError):
    """A check or a test run found a problem (exit 1)."""

    exit_code = EXIT_PROBLEM
