"""``replay`` backend: answers only from recorded responses; never calls out.

Recordings live in the replay folder (``replay.dir``, default ``.pdd/recordings``),
tracked in git, one JSON file per request: ``<replay key>.json`` where the replay
key is the SHA-256 of the canonical JSON of the request's messages (see
:func:`replay_key`), so a recording made with any backend and model replays under
any model name. File shape::

    {"label": "recorded response", "replay_key": ..., "module": ...,
     "recorded_from": {"backend": ..., "model": ...}, "recorded_at": ISO-8601,
     "completion": {"text": ..., "tokens_in": ..., "tokens_out": ..., ...}}

``pdd build --record`` writes them from whatever backend answered.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdd.atomicfile import write_atomic
from pdd.backends import Completion, Request
from pdd.canonical import digest
from pdd.errors import ReplayMissError

if TYPE_CHECKING:
    from pdd.config import Config

LABEL = "recorded response"


def replay_key(request: Request) -> str:
    """SHA-256 hex of the canonical JSON of ``request.messages``."""
    return digest(list(request.messages))


class ReplayBackend:
    """Serve recordings from ``directory``. A miss raises :class:`ReplayMissError`."""

    name = "replay"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _has_recording_of(self, module: str) -> bool:
        """True if any recording in the folder was made for ``module`` (read only on a miss)."""
        return self.directory.is_dir() and any(_module_of(p) == module for p in self.directory.glob("*.json"))

    def complete(self, request: Request) -> Completion:
        """The recorded completion for ``request``; never makes a network call."""
        key = replay_key(request)
        path = self.directory / f"{key}.json"
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return Completion.from_json(data["completion"])
        except FileNotFoundError:
            what = request.module or "this request"
            how = ("point pdd at a model to generate it: PDD_BACKEND=openai PDD_MODEL=<model> (with OPENAI_API_KEY "
                   "or OPENAI_BASE_URL), or set `backend:` in .pdd/config.yaml; add --record to store the answers for replay")
            if request.module and self._has_recording_of(request.module):
                raise ReplayMissError(
                    f"replay backend: no recorded response for {what} (replay key {key[:12]}): the prompt or its "
                    "context changed since it was recorded",
                    hint=how) from None
            raise ReplayMissError(
                f"replay backend: no recording exists for {what} in {self.directory} (replay key {key[:12]})",
                hint=how) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ReplayMissError(f"replay backend: recording {path} is corrupt: {exc}") from None


def _module_of(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("module") if isinstance(data, dict) else None


def record(directory: Path, request: Request, completion: Completion, *, backend: str) -> Path:
    """Store ``completion`` as the recorded response of ``request``; return its path."""
    key = replay_key(request)
    data = {
        "label": LABEL,
        "replay_key": key,
        "module": request.module,
        "recorded_from": {"backend": backend, "model": completion.model or request.model},
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "completion": completion.to_json(),
    }
    path = directory / f"{key}.json"
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return path


def create(config: "Config", root: Path) -> ReplayBackend:
    """The registry's factory (:data:`pdd.backends.REGISTRY`): recordings in ``replay.dir``."""
    return ReplayBackend(root / config.replay_dir)
