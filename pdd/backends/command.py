"""``command`` backend: a program that reads the prompt on stdin and prints the answer.

Settings (``command:`` in ``.pdd/config.yaml``)::

    command:
      preset: claude        # claude | codex | gemini | llm | null (plain)
      argv: []              # the program and its arguments; empty: the preset's
      base_url:             # optional endpoint for the client (see below)
      timeout: 300          # seconds per run
      max_retries: 1        # further tries after a timeout

The program is started directly from ``argv`` (never through a shell), with the
prompt on stdin, in the ``work`` folder of a fresh scratch folder that pdd
removes after the run (so an agent CLI cannot read or edit the repository
through relative paths). In any ``argv`` element ``{model}`` is replaced by the
model name pdd uses (config ``model``, ``PDD_MODEL``, or the prompt's ``model:``).

With a **preset**, the client is run the safe way (the flags and settings below are
what the pinned versions Claude Code 2.1.197, Codex CLI 0.171.0, Gemini CLI 0.61.0 and
llm 0.36 need; ``docs/backends.md`` explains each): no tools, no file writes, no session
files, no telemetry or update checks. Every bit of client state (``CLAUDE_CONFIG_DIR``,
``CODEX_HOME``, ``GEMINI_CLI_HOME``, ``LLM_USER_PATH``) and ``HOME``, the XDG folders and
``TMPDIR`` point into the scratch folder (:data:`PRESET_ENV`, :data:`HOME_ENV`), so a
client finds no login there: keys come from the environment (``ANTHROPIC_API_KEY``,
``OPENAI_API_KEY``, ``GEMINI_API_KEY``, or whatever variable an ``llm`` plugin reads).
``command.base_url`` sets ``ANTHROPIC_BASE_URL`` (claude) or ``GOOGLE_GEMINI_BASE_URL``
(gemini), is the Responses endpoint of codex's provider (default ``OPENAI_BASE_URL``, else
OpenAI's), and for llm defines the model as an OpenAI-compatible one at that address.
Without a preset the program gets pdd's environment unchanged.

The chat messages are flattened into one text on stdin (:func:`flatten_messages`):
the system text, then the request; a retry after failing tests also shows the
earlier answer and the test output, each under a ``=== USER ===`` /
``=== ASSISTANT ===`` heading.

Output parsing by preset (default ``argv`` in :data:`PRESETS`):

``null`` (plain)
    stdout is the answer; tokens and cost unknown.
``claude`` (``claude -p --output-format json``)
    One JSON object: the answer is ``result``; an ``is_error`` true or a ``subtype``
    other than ``success`` is a failure; cost is ``total_cost_usd`` (older
    versions: ``cost_usd``) as the client reports it; tokens in are ``usage.input_tokens``
    plus ``cache_creation_input_tokens`` and ``cache_read_input_tokens``, out
    ``usage.output_tokens``; the model is the single key of ``modelUsage``.
``codex`` (``codex exec --json``)
    JSON Lines events: the answer is the text of the last ``item.completed``
    event whose item type is ``agent_message`` (older: ``assistant_message``, or
    legacy ``{"msg": {"type": "agent_message", "message": ...}}``); tokens are the
    sums of ``turn.completed`` ``usage.input_tokens`` / ``output_tokens`` (legacy:
    ``token_count`` events); ``turn.failed`` and ``error`` events are failures. Codex
    reports no cost: it comes from the prices table.
``gemini`` (``gemini -p "<instruction>" --output-format json``)
    One JSON object: the answer is ``response``; an ``error`` object without a
    response is a failure; tokens are summed over ``stats.models.*.tokens``: in
    ``prompt``, out ``candidates`` plus ``thoughts`` (thinking is billed as
    output). Gemini CLI appends the ``-p`` text to what it reads on stdin. No cost
    is reported: it comes from the prices table.
``llm`` (``llm prompt -m MODEL --no-log --json``)
    A JSON list of response records (the shape of ``llm logs --json``): the answer
    is the last one's ``response``, tokens ``input_tokens`` / ``output_tokens``, the
    model ``resolved_model`` or ``model``. Cost from the prices table.

These shapes were measured against the versions above; fields a client does not
report are left unknown rather than guessed. The completion's
``extra["backend_info"]`` is ``{"preset", "program"}`` (recorded in the note).

Failures are :class:`BackendError` (exit 3) naming the program, with the end of
its stderr (redacted, truncated): the program is missing, exits non-zero, prints
an error object, no answer or unparsable output, or runs past ``timeout``. Only a
timeout is retried, up to ``max_retries`` more times with exponential backoff and
jitter; a non-zero exit is not (the tool has its own retry policy, and its error is
usually not transient).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pdd.backends import Completion, Request
from pdd.backends._common import checked_answer, truncate
from pdd.errors import BackendError, ConfigError
from pdd.redact import redact

if TYPE_CHECKING:
    from pdd.config import Config

DEFAULT_TIMEOUT = 300.0
DEFAULT_MAX_RETRIES = 1
BACKOFF_BASE = 1.0  # seconds before the first retry; doubles, capped at BACKOFF_CAP
BACKOFF_CAP = 30.0
STDERR_CHARS = 1500
GEMINI_INSTRUCTION = "Follow the instructions given above and answer as they ask."
CODEX_PROVIDER = "pdd"
CODEX_DEFAULT_BASE_URL = "https://api.openai.com/v1"

PRESETS: dict[str, list[str]] = {
    "claude": ["claude", "-p", "--output-format", "json", "--model", "{model}", "--tools", "",
               "--no-session-persistence", "--bare"],
    "codex": ["codex", "exec", "--json", "--skip-git-repo-check", "--ephemeral", "--sandbox", "read-only",
              "--model", "{model}",
              "-c", f"model_provider={CODEX_PROVIDER}",
              "-c", "model_providers." + CODEX_PROVIDER + '={name="pdd",base_url="{base_url}",'
                    'env_key="OPENAI_API_KEY",wire_api="responses"}',
              "-c", "check_for_update_on_startup=false", "-c", "analytics.enabled=false",
              "-c", "otel.metrics_exporter=none", "-c", "web_search=disabled",
              "--disable", "plugins", "--disable", "shell_tool", "--disable", "view_image",
              "--disable", "goals", "--disable", "multi_agent", "--disable", "apps", "-"],
    "gemini": ["gemini", "-p", GEMINI_INSTRUCTION, "--output-format", "json", "--model", "{model}"],
    "llm": ["llm", "prompt", "-m", "{model}", "--no-log", "--json"],
}
"""Each preset's default command line; the prompt goes on stdin. ``{model}`` becomes the model
name and ``{base_url}`` (codex) the endpoint: ``command.base_url``, else ``OPENAI_BASE_URL``,
else OpenAI's. No other brace is touched."""

# Client state and telemetry switches per preset: ``{scratch}`` is the run's private state folder
# (removed after the run); ``{base_url}`` is ``command.base_url`` (the variable is left alone when unset).
PRESET_ENV: dict[str, dict[str, str]] = {
    "claude": {"CLAUDE_CONFIG_DIR": "{scratch}", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
               "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1",
               "ANTHROPIC_BASE_URL": "{base_url}"},
    "codex": {"CODEX_HOME": "{scratch}"},
    "gemini": {"GEMINI_CLI_HOME": "{scratch}", "GEMINI_CLI_TRUST_WORKSPACE": "true", "GEMINI_TELEMETRY_ENABLED": "false",
               "GEMINI_CLI_NO_RELAUNCH": "true", "GOOGLE_GEMINI_BASE_URL": "{base_url}"},
    "llm": {"LLM_USER_PATH": "{scratch}"},
}
# Every preset: home, caches and temporary files inside the run's folder too (paths relative to it),
# so nothing a client writes outlives the run.
HOME_ENV: dict[str, str] = {"HOME": "home", "XDG_CONFIG_HOME": "home/.config", "XDG_CACHE_HOME": "home/.cache",
                            "XDG_DATA_HOME": "home/.local/share", "XDG_STATE_HOME": "home/.local/state", "TMPDIR": "tmp"}
GEMINI_SETTINGS: dict[str, Any] = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "telemetry": {"enabled": False},
    "privacy": {"usageStatisticsEnabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False, "checkpointing": {"enabled": False}},
    "tools": {"core": []},
}
"""``GEMINI_CLI_HOME/.gemini/settings.json`` for the gemini preset: API-key auth, no telemetry or
usage statistics, no update checks, no checkpoints, and an empty core tool list (no tools)."""
_PLAIN_NAMES = (None, "", "null", "none", "plain")


def flatten_messages(messages: tuple[dict[str, str], ...] | list[dict[str, str]]) -> str:
    """Chat messages as one prompt text (see the module docstring)."""
    system = [m["content"].rstrip("\n") for m in messages if m.get("role") == "system"]
    rest = [m for m in messages if m.get("role") != "system"]
    parts = list(system)
    if len(rest) == 1 and rest[0].get("role") == "user":
        parts.append(rest[0]["content"].rstrip("\n"))
    else:
        for m in rest:
            label = "ASSISTANT (your earlier answer)" if m.get("role") == "assistant" else str(m.get("role", "user")).upper()
            parts.append(f"=== {label} ===\n{m['content'].rstrip(chr(10))}")
        if rest:
            parts.append("=== Answer the last USER message above. ===")
    return "\n\n".join(parts) + "\n"


class CommandBackend:
    """Runs a program per request. Raises :class:`BackendError`."""

    name = "command"

    def __init__(self, settings: dict[str, Any], root: Path | None = None) -> None:
        preset = settings.get("preset")
        preset = None if preset in _PLAIN_NAMES else str(preset).lower()
        if preset is not None and preset not in PRESETS:
            raise ConfigError(f".pdd/config.yaml: command.preset must be one of {', '.join(PRESETS)} or null, got {preset!r}")
        argv = settings.get("argv") or []
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ConfigError(".pdd/config.yaml: command.argv must be a list of strings (the program, then its arguments)")
        if not argv:
            if preset is None:
                raise ConfigError("the command backend needs command.argv (or command.preset) in .pdd/config.yaml",
                                  hint="e.g. command: {preset: llm} or command: {preset: claude}")
            argv = list(PRESETS[preset])
        base_url = settings.get("base_url")
        if base_url is not None and (not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))
                                     or any(c.isspace() or c in '"\\' for c in base_url)):
            raise ConfigError(f".pdd/config.yaml: command.base_url must be an http:// or https:// URL, got {base_url!r}",
                              hint="e.g. base_url: http://127.0.0.1:8000 (or remove it to use the client's default)")
        timeout = settings.get("timeout")
        retries = settings.get("max_retries")
        self.preset = preset
        self.argv = list(argv)
        self.base_url: str | None = base_url.rstrip("/") if base_url else None
        self.timeout = float(timeout) if timeout else DEFAULT_TIMEOUT
        self.max_retries = int(retries) if retries is not None else DEFAULT_MAX_RETRIES
        if self.timeout <= 0 or self.max_retries < 0:
            raise ConfigError(".pdd/config.yaml: command.timeout must be > 0 and command.max_retries >= 0")
        self.root = root
        self._parse: Callable[[str, str, Request], Completion] = _PARSERS[preset or "plain"]

    def argv_for(self, request: Request) -> list[str]:
        """The command line for ``request`` (``{model}`` and ``{base_url}`` substituted)."""
        base_url = self.base_url or os.environ.get("OPENAI_BASE_URL") or CODEX_DEFAULT_BASE_URL
        return [a.replace("{model}", request.model).replace("{base_url}", base_url.rstrip("/")) for a in self.argv]

    def environment(self, scratch: Path) -> dict[str, str]:
        """The program's environment: pdd's, plus (for a preset) the client state, home, caches and
        temporary files all inside ``scratch`` and the preset's telemetry switches (:data:`PRESET_ENV`)."""
        env = dict(os.environ)
        if self.preset is None:
            return env
        for name, rel in HOME_ENV.items():
            env[name] = str(scratch / rel)
        for name, value in PRESET_ENV[self.preset].items():
            if "{base_url}" in value and not self.base_url:
                continue  # the client reads its own variable from pdd's environment
            env[name] = value.replace("{scratch}", str(scratch / "state")).replace("{base_url}", self.base_url or "")
        return env

    def prepare(self, scratch: Path, request: Request) -> None:
        """Create the run's folders (``work`` is the working folder, ``state`` the client's own) and
        the preset's settings files: Gemini CLI's ``.gemini/settings.json`` (:data:`GEMINI_SETTINGS`);
        for llm with ``command.base_url``, ``extra-openai-models.yaml`` naming the model at that endpoint."""
        for sub in ("work", "state", "home", "tmp"):
            (scratch / sub).mkdir(mode=0o700)
        if self.preset == "gemini":
            (scratch / "state" / ".gemini").mkdir()
            (scratch / "state" / ".gemini" / "settings.json").write_text(json.dumps(GEMINI_SETTINGS, indent=2))
        elif self.preset == "llm" and self.base_url:
            # JSON is YAML: llm reads this list of model definitions with yaml.safe_load.
            models = [{"model_id": request.model, "model_name": request.model, "api_base": self.base_url}]
            (scratch / "state" / "extra-openai-models.yaml").write_text(json.dumps(models, indent=2))

    def _reported_error(self, out: str, err: str, request: Request) -> str | None:
        """The error a preset's client reported in its JSON (on stdout, else stderr), or ``None``."""
        if self.preset is None:
            return None
        for text in (out, err):
            try:
                self._parse(text, "", request)
            except ClientError as exc:
                return exc.message
            except BackendError:
                continue
        return None

    def complete(self, request: Request) -> Completion:
        """Run the program with the flattened prompt on stdin; parse its output."""
        argv = self.argv_for(request)
        prompt = flatten_messages(request.messages)
        tries = self.max_retries + 1
        for attempt in range(1, tries + 1):
            outcome = self._run_once(argv, prompt, request)
            if outcome is not None:
                return outcome
            if attempt < tries:
                time.sleep(backoff_delay(attempt))
        raise BackendError(
            f"command backend: {request.module or 'request'}: `{_prog(argv)}` timed out after {self.timeout:g} s "
            f"({tries} tr{'y' if tries == 1 else 'ies'})",
            hint="raise command.timeout (or command.max_retries) in .pdd/config.yaml",
        )

    def _run_once(self, argv: list[str], prompt: str, request: Request) -> Completion | None:
        """One run in a fresh scratch folder (removed afterwards): the completion, or ``None`` on
        timeout. Raises :class:`BackendError` otherwise."""
        what = request.module or "request"
        scratch = Path(tempfile.mkdtemp(prefix="pdd-command-"))
        try:
            self.prepare(scratch, request)
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        cwd=scratch / "work", env=self.environment(scratch), start_new_session=True)
            except FileNotFoundError:
                raise BackendError(f"command backend: program `{argv[0]}` not found",
                                   hint="install it or put it on PATH, or fix command.argv in .pdd/config.yaml") from None
            except PermissionError as exc:
                raise BackendError(f"command backend: cannot run `{argv[0]}`: {exc.strerror}",
                                   hint="check command.argv in .pdd/config.yaml") from None
            try:
                out_b, err_b = proc.communicate(prompt.encode("utf-8"), timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill(proc)
                return None
            except BaseException:
                _kill(proc)
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        out = out_b.decode("utf-8", "replace")
        err = err_b.decode("utf-8", "replace")
        if proc.returncode != 0:
            reported = self._reported_error(out, err, request)
            raise BackendError(
                f"command backend: {what}: `{_prog(argv)}` exited with status {proc.returncode}"
                + (f": {reported}" if reported else _stderr_suffix(err, out)),
                hint="run the command by hand to see what it needs (key in the environment, model name, flags)",
            )
        try:
            completion = self._parse(out, err, request)
        except BackendError as exc:
            raise BackendError(f"command backend: {what}: `{_prog(argv)}`: {exc.message}" + _stderr_suffix(err, ""),
                               hint=exc.hint) from None
        checked_answer(f"command backend: {what}: `{_prog(argv)}`", completion.text, strict_usage=False)
        if not completion.text.strip():
            raise BackendError(f"command backend: {what}: `{_prog(argv)}` printed no answer" + _stderr_suffix(err, ""))
        info = {"preset": self.preset or "plain", "program": _prog(argv)}
        return dataclasses.replace(completion, extra={**completion.extra, "backend_info": info})


class ClientError(BackendError):
    """The client printed its own error report (``is_error``, a ``turn.failed`` event, an ``error``
    object): its message is what the user needs, more than the client's stderr."""


def backoff_delay(attempt: int) -> float:
    """Seconds to wait after failed try ``attempt`` (1-based): exponential, capped, with up to 25 % jitter."""
    return min(BACKOFF_BASE * 2 ** (attempt - 1), BACKOFF_CAP) * (1 - 0.25 * random.random())


def _prog(argv: list[str]) -> str:
    return os.path.basename(argv[0]) if argv else "?"


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.communicate(timeout=5)
    except Exception:
        pass


def _stderr_suffix(err: str, out: str) -> str:
    text = err.strip() or out.strip()
    if not text:
        return " (no output on stderr)"
    return "\n  stderr: " + truncate(redact(text), STDERR_CHARS, keep="tail").replace("\n", "\n    ")


# -- output parsers -------------------------------------------------------------------------------------------------


def _parse_plain(out: str, err: str, request: Request) -> Completion:
    return Completion(text=out, model=request.model)


def _json_object(out: str, tool: str) -> dict[str, Any]:
    """The JSON object a tool printed (the whole stdout, else its last JSON-object line)."""
    text = out.strip()
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            return obj
    except ValueError:
        pass
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):  # the last JSON object, on one line or pretty-printed to the end
        if not lines[i].lstrip().startswith("{"):
            continue
        for candidate in (lines[i], "\n".join(lines[i:])):
            try:
                obj = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj
    raise BackendError(f"the {tool} output is not a JSON object: {truncate(redact(text), 300) or '(empty)'}",
                       hint=f"the {tool} preset expects JSON output; check the flags in command.argv")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        return int(value)
    return None  # garbage (a string, NaN, infinite, negative) is an unknown count


def _parse_claude(out: str, err: str, request: Request) -> Completion:
    data = _json_object(out, "claude")
    result = data.get("result")
    if data.get("is_error") or (data.get("subtype") not in (None, "success")):
        raise ClientError(f"claude reported an error ({data.get('subtype') or 'is_error'}): "
                           f"{truncate(redact(str(result or data.get('error') or '')), 500)}")
    if not isinstance(result, str):
        raise BackendError("the claude JSON output has no 'result' text")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    tokens_in = _int(usage.get("input_tokens"))
    if tokens_in is not None:
        tokens_in += sum(_int(usage.get(k)) or 0 for k in ("cache_creation_input_tokens", "cache_read_input_tokens"))
    cost = data.get("total_cost_usd", data.get("cost_usd"))
    cost = (float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) and math.isfinite(cost)
            and cost >= 0 else None)
    models = data.get("modelUsage")
    model = next(iter(models)) if isinstance(models, dict) and len(models) == 1 else request.model
    return Completion(text=result, tokens_in=tokens_in, tokens_out=_int(usage.get("output_tokens")),
                      cost_usd=cost, model=model)


def _parse_codex(out: str, err: str, request: Request) -> Completion:
    text: str | None = None
    tokens_in = tokens_out = None
    errors: list[str] = []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if not isinstance(ev, dict):
            continue
        kind = ev.get("type")
        if kind == "item.completed" and isinstance(ev.get("item"), dict):
            item = ev["item"]
            if item.get("type") in ("agent_message", "assistant_message") and isinstance(item.get("text"), str):
                text = item["text"]
        elif kind == "turn.completed" and isinstance(ev.get("usage"), dict):
            u = ev["usage"]
            if _int(u.get("input_tokens")) is not None:
                tokens_in = (tokens_in or 0) + (_int(u.get("input_tokens")) or 0)
            if _int(u.get("output_tokens")) is not None:
                tokens_out = (tokens_out or 0) + (_int(u.get("output_tokens")) or 0)
        elif kind == "turn.failed":
            err = ev.get("error")
            errors.append(str(err.get("message") if isinstance(err, dict) else err))
        elif kind == "error":
            errors.append(str(ev.get("message") or ev.get("error") or "error"))
        elif isinstance(ev.get("msg"), dict):  # legacy event stream
            msg = ev["msg"]
            if msg.get("type") == "agent_message" and isinstance(msg.get("message"), str):
                text = msg["message"]
            elif msg.get("type") == "token_count":
                info = msg.get("info") if isinstance(msg.get("info"), dict) else msg
                usage = info.get("total_token_usage") if isinstance(info.get("total_token_usage"), dict) else info
                tokens_in = _int(usage.get("input_tokens")) if _int(usage.get("input_tokens")) is not None else tokens_in
                tokens_out = _int(usage.get("output_tokens")) if _int(usage.get("output_tokens")) is not None else tokens_out
            elif msg.get("type") == "error":
                errors.append(str(msg.get("message") or "error"))
    if text is None:
        if errors:
            raise ClientError("codex reported an error: " + truncate(redact("; ".join(errors)), 500))
        raise BackendError("the codex --json output has no agent message: "
                           + (truncate(redact(out.strip()), 300) or "(empty)"),
                           hint="the codex preset expects `codex exec --json`; check command.argv")
    return Completion(text=text, tokens_in=tokens_in, tokens_out=tokens_out, model=request.model)


def _parse_gemini(out: str, err: str, request: Request) -> Completion:
    data = _json_object(out, "gemini")
    response = data.get("response")
    if not isinstance(response, str) or (data.get("error") and not response):
        err = data.get("error")
        message = err.get("message") if isinstance(err, dict) else err
        raise ClientError("gemini reported an error: " + truncate(redact(str(message or "no 'response' in its JSON")), 500))
    tokens_in = tokens_out = None
    model = request.model
    stats = data.get("stats") if isinstance(data.get("stats"), dict) else {}
    models = stats.get("models") if isinstance(stats.get("models"), dict) else {}
    for name, entry in models.items():
        tokens = entry.get("tokens") if isinstance(entry, dict) and isinstance(entry.get("tokens"), dict) else None
        if tokens is None:
            continue
        if _int(tokens.get("prompt")) is not None:
            tokens_in = (tokens_in or 0) + (_int(tokens.get("prompt")) or 0)
        if _int(tokens.get("candidates")) is not None:
            tokens_out = (tokens_out or 0) + (_int(tokens.get("candidates")) or 0) + (_int(tokens.get("thoughts")) or 0)
    if len(models) == 1:
        model = next(iter(models))
    return Completion(text=response, tokens_in=tokens_in, tokens_out=tokens_out, model=model)


def _parse_llm(out: str, err: str, request: Request) -> Completion:
    """``llm prompt --json``: a JSON list of logged responses; the last one is this run's."""
    text = out.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data or not isinstance(data[-1], dict):
        raise BackendError(f"the llm output is not a JSON list of responses: {truncate(redact(text), 300) or '(empty)'}",
                           hint="the llm preset expects `llm prompt --json` (llm 0.26 or later); check command.argv")
    entry = data[-1]
    response = entry.get("response")
    if not isinstance(response, str):
        raise BackendError("the llm JSON output has no 'response' text")
    model = entry.get("resolved_model") or entry.get("model") or request.model
    return Completion(text=response, tokens_in=_int(entry.get("input_tokens")), tokens_out=_int(entry.get("output_tokens")),
                      model=str(model))


_PARSERS: dict[str, Callable[[str, str, Request], Completion]] = {
    "plain": _parse_plain,
    "claude": _parse_claude,
    "codex": _parse_codex,
    "gemini": _parse_gemini,
    "llm": _parse_llm,
}


def create(config: "Config", root: Path) -> CommandBackend:
    """The registry's factory (:data:`pdd.backends.REGISTRY`): settings from the ``command`` section."""
    return CommandBackend(config.section("command"), root)
