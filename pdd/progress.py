"""Build progress on the terminal: a rich progress bar on a TTY, plain lines otherwise.

Both reporters write to standard error, so standard output stays for results
(``--json``). Rich is imported only when a TTY reporter is made.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from pdd.build import ModuleResult

_SYMBOL = {"built": "built", "fresh": "fresh", "failed": "FAILED", "untested": "UNTESTED", "error": "ERROR", "blocked": "blocked"}


def _line(r: ModuleResult) -> str:
    extra = []
    if r.status == "built":
        extra.append(f"attempts {r.attempts}, tests {r.tests}")
        if r.cache_hits:
            extra.append(f"{r.cache_hits} cache hit(s)")
    if r.requests:
        extra.append(f"{r.requests} request(s), {r.tokens_out or 0} tokens out")
    text = f"{_SYMBOL.get(r.status, r.status):>7}  {r.name}"
    if extra:
        text += f"  ({'; '.join(extra)})"
    if r.error:
        text += f"\n         {r.error}"
    return text


class PlainReporter:
    """One line per finished module, for logs and CI."""

    #: seconds between two "tokens received" lines of one module
    PROGRESS_EVERY = 15.0

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = 0
        self.done = 0
        self._lock = threading.Lock()
        self._last_progress: dict[str, float] = {}

    def start(self, total: int) -> None:
        self.total = total

    def module_started(self, name: str) -> None:
        pass

    def module_progress(self, name: str, tokens: int) -> None:
        """``tokens`` received so far for ``name``'s current request (streaming
        backends); a line at most every :data:`PROGRESS_EVERY` seconds per module."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_progress.setdefault(name, now) < self.PROGRESS_EVERY:
                return
            self._last_progress[name] = now
            print(f"         {name}: receiving, {tokens} tokens so far", file=self.stream, flush=True)

    def module_finished(self, result: ModuleResult) -> None:
        with self._lock:
            self.done += 1
            print(f"[{self.done}/{self.total}] {_line(result)}", file=self.stream, flush=True)

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def stop(self) -> None:
        pass


class RichReporter(PlainReporter):
    """A rich progress bar with the modules in flight, plus a line per finished module."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.progress = Progress(TextColumn("[bold]build"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.description}"), console=self.console,
                                 transient=True)
        self.task = None
        self.active: set[str] = set()
        self.tokens: dict[str, int] = {}

    def start(self, total: int) -> None:
        self.total = total
        self.progress.start()
        self.task = self.progress.add_task("", total=total)

    def _describe(self) -> None:
        names = sorted(self.active)
        desc = ", ".join(n + (f" ({self.tokens[n]} tok)" if n in self.tokens else "") for n in names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        self.progress.update(self.task, description=desc)

    def module_started(self, name: str) -> None:
        with self._lock:
            self.active.add(name)
            self._describe()

    def module_progress(self, name: str, tokens: int) -> None:
        with self._lock:
            self.tokens[name] = tokens
            self._describe()

    def module_finished(self, result: ModuleResult) -> None:
        with self._lock:
            self.active.discard(result.name)
            self.tokens.pop(result.name, None)
            style = {"built": "green", "fresh": "dim", "failed": "red", "untested": "red", "error": "red", "blocked": "yellow"}.get(result.status, "")
            self.progress.console.print(_line(result), style=style, markup=False, highlight=False)
            self.progress.advance(self.task)
            self._describe()

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def stop(self) -> None:
        self.progress.stop()


def make_reporter() -> PlainReporter:
    """A :class:`RichReporter` when standard error is a terminal, else a :class:`PlainReporter`."""
    return RichReporter() if sys.stderr.isatty() else PlainReporter()
