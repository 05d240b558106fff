#!/usr/bin/env python3
"""A fake agent CLI for tests of pdd's ``command`` backend: not a model.

It reads the prompt on stdin and prints an answer the way one of these tools
does, so the backend's presets can be tested without the real programs:

``plain``   the answer on stdout
``claude``  ``claude -p --output-format json``: one JSON result object with
            ``result``, ``total_cost_usd``, ``usage`` and ``modelUsage``
``codex``   ``codex exec --json``: JSON Lines events (``thread.started``,
            ``turn.started``, ``item.completed`` with an ``agent_message``,
            ``turn.completed`` with ``usage``)
``gemini``  ``gemini -p ... --output-format json``: one object with ``response``
            and ``stats.models.<model>.tokens``

The mode is ``--mode MODE`` if given, else ``FAKE_AGENT_MODE``, else the program
name (a ``claude``/``codex``/``gemini`` shim on PATH that execs this script), else
``plain``. Every other argument is accepted and ignored, except ``--model M`` /
``-m M`` (reported back as the model).

Behaviour is steered by environment variables, because presets fix the argv:

``FAKE_AGENT_ANSWER``      the answer text (default: from ``FAKE_AGENT_ANSWERS``)
``FAKE_AGENT_ANSWERS``     a folder: ``Target module: generated.x.y`` in the prompt
                           selects ``FOLDER/x/y.py``, answered in a python fence
``FAKE_AGENT_EXIT``        exit with this status (after printing ``FAKE_AGENT_STDERR``)
``FAKE_AGENT_STDERR``      text printed to stderr
``FAKE_AGENT_SLEEP``       seconds to sleep before answering
``FAKE_AGENT_SLEEP_ONCE``  a marker path: sleep only if it does not exist yet (it is
                           created), so only the first run hangs
``FAKE_AGENT_COST``        ``total_cost_usd`` in claude mode (default 0.0123)
``FAKE_AGENT_TOOL_ERROR``  report a tool-level error in the JSON (claude/codex/gemini)
``FAKE_AGENT_LOG``         append one JSON line per run: argv, stdin, cwd, mode, and ``env``: the
                           environment variables whose names are in ``FAKE_AGENT_LOG_ENV``
                           (space-separated)
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import uuid

_TARGET = re.compile(r"Target module: (generated(?:\.\w+)+)")


def _mode(argv: list[str]) -> str:
    if "--mode" in argv:
        i = argv.index("--mode")
        if i + 1 < len(argv):
            return argv[i + 1]
    if os.environ.get("FAKE_AGENT_MODE"):
        return os.environ["FAKE_AGENT_MODE"]
    name = os.path.basename(sys.argv[0])
    for mode in ("claude", "codex", "gemini"):
        if name.startswith(mode):
            return mode
    return "plain"


def _model(argv: list[str]) -> str:
    for flag in ("--model", "-m"):
        if flag in argv:
            i = argv.index(flag)
            if i + 1 < len(argv):
                return argv[i + 1]
    return "fake-agent-model"


def _answer(prompt: str) -> str:
    if "FAKE_AGENT_ANSWER" in os.environ:
        return os.environ["FAKE_AGENT_ANSWER"]
    folder = os.environ.get("FAKE_AGENT_ANSWERS")
    match = _TARGET.search(prompt)
    if folder and match:
        parts = match.group(1).split(".")[1:]
        path = os.path.join(folder, *parts) + ".py"
        with open(path, encoding="utf-8") as fh:
            code = fh.read()
        return f"Here is the module.\n\n```python\n{code}```\n"
    return "OK"


def main() -> int:
    argv = sys.argv[1:]
    mode = _mode(argv)
    prompt = sys.stdin.read()
    log = os.environ.get("FAKE_AGENT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            env = {k: os.environ.get(k) for k in os.environ.get("FAKE_AGENT_LOG_ENV", "").split()}
            fh.write(json.dumps({"argv": argv, "stdin": prompt, "cwd": os.getcwd(), "mode": mode, "env": env}) + "\n")
    once = os.environ.get("FAKE_AGENT_SLEEP_ONCE")
    if once and not os.path.exists(once):
        open(once, "w").close()
        time.sleep(float(os.environ.get("FAKE_AGENT_SLEEP", "30")))
    elif not once and os.environ.get("FAKE_AGENT_SLEEP"):
        time.sleep(float(os.environ["FAKE_AGENT_SLEEP"]))
    if os.environ.get("FAKE_AGENT_STDERR"):
        sys.stderr.write(os.environ["FAKE_AGENT_STDERR"] + "\n")
    if os.environ.get("FAKE_AGENT_EXIT"):
        return int(os.environ["FAKE_AGENT_EXIT"])

    answer = _answer(prompt)
    model = _model(argv)
    tokens_in = max(1, len(prompt) // 4)
    tokens_out = max(1, len(answer) // 4)
    tool_error = os.environ.get("FAKE_AGENT_TOOL_ERROR")

    if mode == "plain":
        sys.stdout.write(answer)
    elif mode == "claude":
        out = {
            "type": "result",
            "subtype": "error_during_execution" if tool_error else "success",
            "is_error": bool(tool_error),
            "duration_ms": 12,
            "duration_api_ms": 10,
            "num_turns": 1,
            "result": tool_error or answer,
            "stop_reason": "end_turn",
            "session_id": str(uuid.uuid4()),
            "total_cost_usd": float(os.environ.get("FAKE_AGENT_COST", "0.0123")),
            "usage": {"input_tokens": tokens_in, "cache_creation_input_tokens": 7,
                      "cache_read_input_tokens": 3, "output_tokens": tokens_out},
            "modelUsage": {model: {"inputTokens": tokens_in, "outputTokens": tokens_out}},
            "permission_denials": [],
        }
        sys.stdout.write(json.dumps(out) + "\n")
    elif mode == "codex":
        events = [
            {"type": "thread.started", "thread_id": str(uuid.uuid4())},
            {"type": "turn.started"},
            {"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Thinking**"}},
        ]
        if tool_error:
            events.append({"type": "turn.failed", "error": {"message": tool_error}})
        else:
            events.append({"type": "item.completed", "item": {"id": "item_1", "type": "agent_message", "text": answer}})
            events.append({"type": "turn.completed",
                           "usage": {"input_tokens": tokens_in, "cached_input_tokens": 0, "output_tokens": tokens_out}})
        for ev in events:
            sys.stdout.write(json.dumps(ev) + "\n")
    elif mode == "gemini":
        if tool_error:
            out = {"error": {"type": "ApiError", "message": tool_error, "code": 1}}
        else:
            out = {
                "response": answer,
                "stats": {
                    "models": {model: {"api": {"totalRequests": 1, "totalErrors": 0, "totalLatencyMs": 5},
                                       "tokens": {"prompt": tokens_in, "candidates": tokens_out,
                                                  "total": tokens_in + tokens_out + 5, "cached": 0,
                                                  "thoughts": 5, "tool": 0}}},
                    "tools": {"totalCalls": 0},
                    "files": {"totalLinesAdded": 0, "totalLinesRemoved": 0},
                },
            }
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stderr.write(f"fake_agent_cli: unknown mode {mode!r}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
