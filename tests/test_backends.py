"""Backends against the fake model server (real openai/anthropic SDKs) and the fake agent CLI.

Retries and backoff of the SDK backends are the SDKs' own (``max_retries``); these
tests check that they behave as pdd documents: Retry-After honoured, bounded tries,
non-retryable errors fail at once with the service's message, timeouts and
malformed bodies become :class:`BackendError`, keys never appear in errors.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from fakeserver import FakeModelServer, Reply, ScriptedResponder  # noqa: E402

from pdd.backends import Request, make_backend  # noqa: E402
from pdd.config import Config  # noqa: E402
from pdd.errors import BackendError, ConfigError  # noqa: E402

FAKE_AGENT = TESTS_DIR / "fake_agent_cli.py"
SECRET = "sk-test-SECRET-abc123"
MESSAGES = (
    {"role": "system", "content": "You are the code generator."},
    {"role": "user", "content": "Target module: generated.demo\nWrite it."},
)


def request(**kw) -> Request:
    base = dict(messages=MESSAGES, model="fake-model", temperature=0.0, max_tokens=256, module="demo")
    base.update(kw)
    return Request(**base)


@pytest.fixture
def env(monkeypatch):
    """A clean environment: dummy keys, no base URLs."""
    for k in list(os.environ):
        if k.endswith("_API_KEY") or k in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"):
            monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    return monkeypatch


def sdk_backend(kind: str, server: FakeModelServer, **settings):
    if kind == "openai":
        from pdd.backends.openai import OpenAIBackend

        return OpenAIBackend({"base_url": server.openai_base_url, **settings})
    from pdd.backends.anthropic import AnthropicBackend

    return AnthropicBackend({"base_url": server.anthropic_base_url, **settings})


KINDS = ["openai", "anthropic"]


@pytest.mark.parametrize("kind,stream", [("openai", True), ("openai", False), ("anthropic", None)])
def test_an_answer_cut_off_at_max_tokens_is_marked_truncated_and_the_cache_keeps_it(env, tmp_path, kind, stream):
    from pdd.backends.api import truncation_note
    from pdd.cache import GenerationCache

    settings = {"stream": stream} if stream is not None else {}
    script = ScriptedResponder([Reply(text="```python\ndef f():\n    return [1, 2,", truncated=True), "done"])
    with FakeModelServer(script) as srv:
        backend = sdk_backend(kind, srv, max_retries=0, timeout=10, **settings)
        cut, whole = backend.complete(request()), backend.complete(request())
    assert cut.extra.get("truncated") is True and "truncated" not in whole.extra
    assert truncation_note(cut, 256).startswith("the answer was cut off at max_tokens (256 tokens)")
    assert truncation_note(whole, 256) == ""
    cache = GenerationCache(tmp_path)
    cache.put("k" * 64, cut)
    assert cache.get("k" * 64).extra.get("truncated") is True


# -- retries, Retry-After, giving up (the SDKs' max_retries) ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_rate_limit_with_retry_after_then_success(env, kind):
    script = ScriptedResponder([Reply(status=429, retry_after=1, text="slow down"), "the answer"])
    with FakeModelServer(script) as srv:
        backend = sdk_backend(kind, srv, max_retries=2, timeout=10)
        t0 = time.monotonic()
        c = backend.complete(request())
        elapsed = time.monotonic() - t0
    assert c.text == "the answer"
    assert srv.request_count == 2
    # The SDK's own first backoff is 0.375-0.5 s; waiting a full second shows Retry-After was honoured.
    assert 0.95 <= elapsed < 5


@pytest.mark.parametrize("kind", KINDS)
def test_server_errors_are_retried_a_bounded_number_of_times(env, kind):
    script = ScriptedResponder([Reply(status=500, text="boom")] * 5)
    with FakeModelServer(script) as srv:
        backend = sdk_backend(kind, srv, max_retries=1, timeout=10)
        with pytest.raises(BackendError) as info:
            backend.complete(request())
        assert srv.request_count == 2  # 1 try + max_retries
    assert "HTTP 500" in info.value.message and "boom" in info.value.message
    assert info.value.exit_code == 3


@pytest.mark.parametrize("kind", KINDS)
def test_unauthorized_fails_at_once_with_the_service_message(env, kind):
    script = ScriptedResponder([Reply(status=401, text=f"Incorrect API key provided: {SECRET}")] * 3)
    with FakeModelServer(script) as srv:
        backend = sdk_backend(kind, srv, max_retries=3, timeout=10)
        with pytest.raises(BackendError) as info:
            backend.complete(request())
        assert srv.request_count == 1
    text = str(info.value)
    assert "HTTP 401" in text and "Incorrect API key provided" in text
    assert SECRET not in text and "[redacted]" in text
    assert ("OPENAI_API_KEY" if kind == "openai" else "ANTHROPIC_API_KEY") in (info.value.hint or "")


@pytest.mark.parametrize("kind", KINDS)
def test_bad_model_fails_at_once(env, kind):
    script = ScriptedResponder([Reply(status=404, text="The model `nope` does not exist")] * 3)
    with FakeModelServer(script) as srv:
        backend = sdk_backend(kind, srv, max_retries=3, timeout=10)
        with pytest.raises(BackendError) as info:
            backend.complete(request(model="nope"))
        assert srv.request_count == 1
    assert "does not exist" in info.value.message
    assert "model" in (info.value.hint or "")


@pytest.mark.parametrize("kind", KINDS)
def test_hang_past_timeout_is_a_backend_error(env, kind):
    with FakeModelServer(ScriptedResponder([Reply(hang=5, text="late")] * 3)) as srv:
        backend = sdk_backend(kind, srv, max_retries=0, timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(BackendError) as info:
            backend.complete(request())
        assert time.monotonic() - t0 < 3
    assert "timed out" in info.value.message


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_body_is_a_backend_error(env, kind):
    with FakeModelServer(ScriptedResponder([Reply(malformed=True)])) as srv:
        backend = sdk_backend(kind, srv, max_retries=0, timeout=5)
        with pytest.raises(BackendError) as info:
            backend.complete(request())
    assert "not valid JSON" in info.value.message


def test_anthropic_overloaded_529_is_retried(env):
    with FakeModelServer(ScriptedResponder([Reply(status=529, text="Overloaded"), "fine"])) as srv:
        c = sdk_backend("anthropic", srv, max_retries=2, timeout=10).complete(request())
    assert c.text == "fine" and srv.request_count == 2


# -- anthropic round trip -------------------------------------------------------------------------------------------


def test_anthropic_round_trip_through_the_real_sdk(env):
    retry_conversation = (
        *MESSAGES,
        {"role": "assistant", "content": "```python\nx = 1\n```"},
        {"role": "user", "content": "It failed. Fix it."},
    )
    with FakeModelServer(ScriptedResponder([Reply(text="```python\nx = 2\n```", prompt_tokens=321,
                                                  completion_tokens=45)])) as srv:
        backend = sdk_backend("anthropic", srv, max_retries=0, timeout=10)
        c = backend.complete(request(messages=retry_conversation, model="claude-test", temperature=0.2,
                                     max_tokens=777))
        logged = srv.last_request
    assert c.text == "```python\nx = 2\n```"
    assert (c.tokens_in, c.tokens_out, c.model) == (321, 45, "claude-test")
    assert c.cost_usd is None  # priced later from the prices table
    assert logged["api"] == "anthropic"
    body = logged["body"]
    assert body["system"] == "You are the code generator."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert all(m["role"] != "system" for m in body["messages"])
    assert body["model"] == "claude-test" and body["max_tokens"] == 777
    assert "temperature" not in body  # the Messages API of the current SDK takes no sampling parameters
    headers = logged["headers"]
    assert headers.get("x-api-key") == SECRET or headers.get("authorization") == f"Bearer {SECRET}"
    assert "anthropic-version" in logged["headers"]


def test_anthropic_base_url_from_environment_wins(env):
    with FakeModelServer(lambda r: "via env") as srv:
        env.setenv("ANTHROPIC_BASE_URL", srv.anthropic_base_url)
        from pdd.backends.anthropic import AnthropicBackend

        c = AnthropicBackend({"base_url": "http://127.0.0.1:9/unused", "max_retries": 0}).complete(request())
    assert c.text == "via env"


def test_anthropic_needs_a_key_without_a_gateway(env):
    env.delenv("ANTHROPIC_API_KEY")
    from pdd.backends.anthropic import AnthropicBackend

    with pytest.raises(ConfigError) as info:
        AnthropicBackend({})
    assert "ANTHROPIC_API_KEY" in info.value.message


def test_to_messages_api_merges_consecutive_roles():
    from pdd.backends.anthropic import to_messages_api

    system, msgs = to_messages_api([
        {"role": "system", "content": "a"}, {"role": "system", "content": "b"},
        {"role": "user", "content": "u1"}, {"role": "user", "content": "u2"},
    ])
    assert system == "a\n\nb"
    assert msgs == [{"role": "user", "content": "u1\n\nu2"}]


def test_make_backend_registers_anthropic_and_command(env, tmp_path):
    from pdd.backends.anthropic import AnthropicBackend
    from pdd.backends.command import CommandBackend

    assert isinstance(make_backend(Config(backend="anthropic"), tmp_path), AnthropicBackend)
    cfg = Config(backend="command", sections={"command": {"argv": ["echo"]}})
    assert isinstance(make_backend(cfg, tmp_path), CommandBackend)


# -- command backend ------------------------------------------------------------------------------------------------


@pytest.fixture
def agent_bin(tmp_path, monkeypatch):
    """A folder on PATH with ``claude``, ``codex`` and ``gemini`` shims running the fake agent CLI."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("claude", "codex", "gemini"):
        shim = bindir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AGENT}" --mode {name} "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    log = tmp_path / "agent.log"
    monkeypatch.setenv("FAKE_AGENT_LOG", str(log))
    for k in list(os.environ):
        if k.startswith("FAKE_AGENT_") and k != "FAKE_AGENT_LOG":
            monkeypatch.delenv(k)
    return log


def runs(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def command_backend(**settings):
    from pdd.backends.command import CommandBackend

    return CommandBackend(settings, None)


def plain_argv(*extra: str) -> list[str]:
    return [sys.executable, str(FAKE_AGENT), "--mode", "plain", *extra]


def test_command_plain_stdout_is_the_answer(agent_bin, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_ANSWER", "```python\nVALUE = 42\n```\n")
    c = command_backend(argv=plain_argv("--model", "{model}")).complete(request(model="my-model"))
    assert c.text == "```python\nVALUE = 42\n```\n"
    assert (c.tokens_in, c.tokens_out, c.cost_usd) == (None, None, None)
    [run] = runs(agent_bin)
    assert run["argv"][-2:] == ["--model", "my-model"]  # {model} substituted, no shell
    assert run["stdin"].startswith("You are the code generator.\n\nTarget module: generated.demo")
    assert Path(run["cwd"]).resolve() != Path.cwd().resolve()  # an empty scratch folder, not the repository


def test_command_claude_preset(agent_bin, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_ANSWER", "the claude answer")
    monkeypatch.setenv("FAKE_AGENT_COST", "0.0456")
    c = command_backend(preset="claude").complete(request(model="sonnet"))
    assert c.text == "the claude answer"
    assert c.cost_usd == pytest.approx(0.0456)
    prompt = runs(agent_bin)[0]["stdin"]
    assert c.tokens_in == len(prompt) // 4 + 7 + 3  # input + cache creation + cache read
    assert c.tokens_out == len("the claude answer") // 4
    assert c.model == "sonnet"
    assert runs(agent_bin)[0]["argv"] == ["--mode", "claude", "-p", "--output-format", "json", "--model", "sonnet",
                                          "--tools", "", "--no-session-persistence", "--bare"]
    assert c.extra["backend_info"] == {"preset": "claude", "program": "claude"}


def test_command_preset_state_lives_in_a_scratch_folder_that_is_removed(agent_bin, monkeypatch, tmp_path):
    names = "HOME TMPDIR XDG_CACHE_HOME CLAUDE_CONFIG_DIR DISABLE_TELEMETRY ANTHROPIC_BASE_URL"
    monkeypatch.setenv("FAKE_AGENT_LOG_ENV", names)
    monkeypatch.setenv("FAKE_AGENT_ANSWER", "x")
    monkeypatch.setenv("HOME", str(tmp_path / "my-home"))
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/from-env")
    command_backend(preset="claude").complete(request())
    command_backend(preset="claude", base_url="http://127.0.0.1:9/from-config/").complete(request())
    command_backend(argv=plain_argv()).complete(request())
    first, second, plain = runs(agent_bin)
    scratch = Path(first["cwd"]).parent
    assert Path(first["cwd"]).name == "work" and not scratch.exists()  # removed after the run
    env = first["env"]
    assert env["HOME"] == str(scratch / "home") and env["TMPDIR"] == str(scratch / "tmp")
    assert env["XDG_CACHE_HOME"] == str(scratch / "home" / ".cache")
    assert env["CLAUDE_CONFIG_DIR"] == str(scratch / "state") and env["DISABLE_TELEMETRY"] == "1"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/from-env"  # the client reads its own variable
    assert second["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/from-config"
    assert Path(second["cwd"]).parent != scratch  # a fresh folder per run
    # Without a preset the program gets pdd's environment unchanged.
    assert plain["env"]["HOME"] == str(tmp_path / "my-home") and plain["env"]["CLAUDE_CONFIG_DIR"] is None


def test_command_codex_preset(agent_bin, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_ANSWER", "the codex answer")
    c = command_backend(preset="codex").complete(request(model="gpt-5-codex"))
    assert c.text == "the codex answer"
    prompt = runs(agent_bin)[0]["stdin"]
    assert (c.tokens_in, c.tokens_out) == (len(prompt) // 4, len("the codex answer") // 4)
    assert c.cost_usd is None  # codex reports none: priced from the table
    argv = runs(agent_bin)[0]["argv"]
    assert argv[:3] == ["--mode", "codex", "exec"] and "--json" in argv and argv[-1] == "-"
    assert "--ephemeral" in argv and "shell_tool" in argv and "model_provider=pdd" in argv
    provider = argv[argv.index("model_provider=pdd") + 2]
    assert provider.startswith("model_providers.pdd={") and 'wire_api="responses"' in provider


def test_command_llm_preset_and_its_models_file(agent_bin, monkeypatch, tmp_path):
    shim = Path(os.environ["PATH"].split(os.pathsep)[0]) / "llm"
    copy = tmp_path / "models-seen.yaml"
    shim.write_text(f'#!/bin/sh\ncp "$LLM_USER_PATH/extra-openai-models.yaml" "{copy}"\n'
                    f'exec "{sys.executable}" "{FAKE_AGENT}" --mode plain "$@"\n')
    shim.chmod(0o755)
    record = [{"id": "01", "model": "local-coder", "resolved_model": None, "response": "the llm answer",
               "input_tokens": 12, "output_tokens": 3}]
    monkeypatch.setenv("FAKE_AGENT_ANSWER", json.dumps(record))
    c = command_backend(preset="llm", base_url="http://127.0.0.1:9/v1").complete(request(model="local-coder"))
    assert (c.text, c.tokens_in, c.tokens_out, c.model) == ("the llm answer", 12, 3, "local-coder")
    assert runs(agent_bin)[0]["argv"][-5:] == ["prompt", "-m", "local-coder", "--no-log", "--json"]
    assert json.loads(copy.read_text()) == [{"model_id": "local-coder", "model_name": "local-coder",
                                            "api_base": "http://127.0.0.1:9/v1"}]
    monkeypatch.setenv("FAKE_AGENT_ANSWER", "Error: not json")
    with pytest.raises(BackendError, match="not a JSON list"):
        command_backend(preset="llm").complete(request())
    for bad in ("127.0.0.1:9", 'http://x",env_key="HOME', 42):
        with pytest.raises(ConfigError, match="base_url"):
            command_backend(preset="llm", base_url=bad)


def test_command_gemini_preset(agent_bin, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_ANSWER", "the gemini answer")
    c = command_backend(preset="gemini").complete(request(model="gemini-2.5-pro"))
    assert c.text == "the gemini answer"
    prompt = runs(agent_bin)[0]["stdin"]
    assert c.tokens_in == len(prompt) // 4
    assert c.tokens_out == len("the gemini answer") // 4 + 5  # candidates + thoughts
    assert c.model == "gemini-2.5-pro" and c.cost_usd is None


@pytest.mark.parametrize("preset", ["claude", "codex", "gemini"])
def test_command_preset_tool_error_is_a_backend_error(agent_bin, monkeypatch, preset):
    monkeypatch.setenv("FAKE_AGENT_TOOL_ERROR", "quota exhausted for this account")
    with pytest.raises(BackendError) as info:
        command_backend(preset=preset).complete(request())
    assert "quota exhausted" in info.value.message and preset in info.value.message


def test_command_preset_unparsable_output(agent_bin, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_ANSWER", "not json at all")
    with pytest.raises(BackendError) as info:
        command_backend(preset="claude", argv=plain_argv()).complete(request())
    assert "not a JSON object" in info.value.message


def test_command_missing_program(agent_bin):
    with pytest.raises(BackendError) as info:
        command_backend(argv=["pdd-no-such-program-xyz", "-p"]).complete(request())
    assert "pdd-no-such-program-xyz" in info.value.message and "not found" in info.value.message
    assert info.value.exit_code == 3


def test_command_nonzero_exit_attaches_truncated_redacted_stderr(agent_bin, monkeypatch):
    monkeypatch.setenv("SOME_SERVICE_API_KEY", SECRET)
    monkeypatch.setenv("FAKE_AGENT_EXIT", "7")
    monkeypatch.setenv("FAKE_AGENT_STDERR", "x" * 5000 + f"\nerror: not logged in (key {SECRET})")
    with pytest.raises(BackendError) as info:
        command_backend(argv=plain_argv()).complete(request())
    text = str(info.value)
    assert "exited with status 7" in text
    assert "error: not logged in" in text  # the end of stderr is kept
    assert SECRET not in text and "[redacted]" in text
    assert len(text) < 2500
    assert len(runs(agent_bin)) == 1  # a non-zero exit is not retried


def test_command_timeout_is_retried_then_gives_up(agent_bin, monkeypatch):
    import pdd.backends.command as command

    monkeypatch.setattr(command, "BACKOFF_BASE", 0.05)
    monkeypatch.setenv("FAKE_AGENT_SLEEP", "10")
    t0 = time.monotonic()
    with pytest.raises(BackendError) as info:
        command_backend(argv=plain_argv(), timeout=0.5, max_retries=1).complete(request())
    assert time.monotonic() - t0 < 5
    assert "timed out after 0.5 s (2 tries)" in info.value.message
    assert len(runs(agent_bin)) == 2


def test_command_timeout_once_then_success(agent_bin, monkeypatch, tmp_path):
    import pdd.backends.command as command

    monkeypatch.setattr(command, "BACKOFF_BASE", 0.05)
    monkeypatch.setenv("FAKE_AGENT_SLEEP", "10")
    monkeypatch.setenv("FAKE_AGENT_SLEEP_ONCE", str(tmp_path / "slept"))
    monkeypatch.setenv("FAKE_AGENT_ANSWER", "second time lucky")
    c = command_backend(argv=plain_argv(), timeout=0.5, max_retries=2).complete(request())
    assert c.text == "second time lucky"
    assert len(runs(agent_bin)) == 2


def test_command_empty_answer_is_an_error(agent_bin, monkeypatch):
    monkeypatch.setenv("FAKE_AGENT_ANSWER", "   \n")
    with pytest.raises(BackendError) as info:
        command_backend(argv=plain_argv()).complete(request())
    assert "printed no answer" in info.value.message


def test_command_backoff_is_exponential_with_jitter(monkeypatch):
    import pdd.backends.command as command

    delays = [command.backoff_delay(n) for n in (1, 2, 3, 4)]
    for n, d in enumerate(delays, start=1):
        full = min(command.BACKOFF_BASE * 2 ** (n - 1), command.BACKOFF_CAP)
        assert 0.75 * full <= d <= full
    assert command.backoff_delay(50) <= command.BACKOFF_CAP


def test_command_settings_are_validated():
    with pytest.raises(ConfigError):
        command_backend(preset="cursor")
    with pytest.raises(ConfigError) as info:
        command_backend()
    assert "command.argv" in info.value.message
    with pytest.raises(ConfigError):
        command_backend(argv="claude -p")  # a string, not a list: no shell parsing
    assert command_backend(preset="claude", argv=["my-claude", "-p", "--output-format", "json"]).argv[0] == "my-claude"


def test_flatten_messages_for_a_retry_conversation():
    from pdd.backends.command import flatten_messages

    text = flatten_messages([
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "SPEC"},
        {"role": "assistant", "content": "CODE"},
        {"role": "user", "content": "FAILED"},
    ])
    assert text.index("SYS") < text.index("=== USER ===\nSPEC") < text.index("=== ASSISTANT (your earlier answer) ===\nCODE")
    assert text.index("CODE") < text.index("=== USER ===\nFAILED") < text.index("Answer the last USER message")
    assert flatten_messages(MESSAGES) == "You are the code generator.\n\nTarget module: generated.demo\nWrite it.\n"


def test_codex_legacy_event_stream_is_understood():
    from pdd.backends.command import _parse_codex

    out = "\n".join(json.dumps(e) for e in [
        {"id": "0", "msg": {"type": "task_started"}},
        {"id": "0", "msg": {"type": "agent_message", "message": "legacy answer"}},
        {"id": "0", "msg": {"type": "token_count", "input_tokens": 120, "output_tokens": 30}},
    ])
    c = _parse_codex("some banner line\n" + out, "", request())
    assert (c.text, c.tokens_in, c.tokens_out) == ("legacy answer", 120, 30)
