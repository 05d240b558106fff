"""``pdd build`` with the REAL agent CLIs (Claude Code, Codex CLI, Gemini CLI, llm) against the
fake model server on 127.0.0.1.

The clients are the pinned releases ``.ci/install-agent-clis`` installs into
``$PDD_AGENT_CLIS`` (default ``~/.cache/pdd-agent-clis``); a test skips, saying how to install
it, when its client is absent. Each test runs pdd with ``HOME`` and ``TMPDIR`` pointed at empty
folders of its own, so anything a client leaves behind outside pdd's scratch folder shows up.

What they prove, per client: the preset's command line completes against loopback; the answer
lands in ``generated/``; the note names backend ``command``, the preset, the model and the token
counts the server reported (Claude's cost as Claude computed it); the request the server got
carries pdd's prompt and no tools; the client wrote nothing outside its scratch folder; and,
traced with strace, every ``connect()`` of the client and its children went to the fake server
on 127.0.0.1 (no telemetry, update check or DNS lookup). Two tests run Claude Code *without* the
preset's protections and show those same checks catch it: it writes into ``HOME``, declares its
tool set, and connects to the DNS resolver.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import (
    Reply,
    commit_all,
    fence,
    note_records,
    request_text,
    requests_for,
    run_pdd_cli,
    snapshot_files,
    write_prompt,
    write_test,
)

CLIS_DIR = Path(os.environ.get("PDD_AGENT_CLIS") or Path.home() / ".cache" / "pdd-agent-clis")
CLIENT_PATHS = {
    "claude": "claude/node_modules/.bin/claude",
    "codex": "codex/node_modules/.bin/codex",
    "gemini": "gemini/node_modules/.bin/gemini",
    "llm": "llm/bin/llm",
}
MODELS = {"claude": "sonnet", "codex": "gpt-test-codex", "gemini": "gemini-2.5-flash", "llm": "local-coder"}
API = {"claude": "anthropic", "codex": "responses", "gemini": "gemini", "llm": "openai"}
# Codex CLI 0.171.0 always declares `request_user_input`, a tool that exec mode refuses to run
# ("request_user_input is not supported in exec mode"); no flag or setting removes it.
ALLOWED_TOOLS = {"codex": {"request_user_input"}}

MODULE = "calc/double"
OUTPUT = "generated/calc/double.py"
CODE = "def double(x):\n    return 2 * x\n"
ANSWER = fence(CODE)
GOAL = "`double(x)` returns twice x, for the agent CLI end-to-end test."
TEST = """
from generated.calc.double import double

def test_double():
    assert double(21) == 42
"""


def client_bin(name: str, tmp_path: Path) -> Path:
    """A folder holding only a link to the installed client ``name`` (to put on PATH); skips the
    test when the client is not installed."""
    target = CLIS_DIR / CLIENT_PATHS[name]
    if not target.exists():
        pytest.skip(f"{name} is not installed at {target}: run .ci/install-agent-clis "
                    f"(or point PDD_AGENT_CLIS at a folder where it is)")
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    if not (bindir / name).is_symlink():
        (bindir / name).symlink_to(target)
    return bindir


def tool_names(request: dict) -> list[str]:
    """Names of the tools a logged request declares (Anthropic, Responses, Chat, Gemini shapes)."""
    body = request.get("body") or {}
    names = []
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and "functionDeclarations" in tool:
            names += [d.get("name") for d in tool.get("functionDeclarations") or []]
        elif isinstance(tool, dict):
            names.append(tool.get("name") or (tool.get("function") or {}).get("name") or tool.get("type"))
    return names


def project(repo: Path, client: str, server, **command) -> None:
    """One module with a behavior test, built by ``client``'s preset; committed."""
    write_prompt(repo, MODULE, f"# Goal\n{GOAL}", tests=["behavior_tests/test_double.py"])
    write_test(repo, "double", TEST)
    base_url = {"gemini": server.url, "llm": server.openai_base_url}.get(client)
    settings = {"preset": client, "timeout": 120, **({"base_url": base_url} if base_url else {}), **command}
    config = repo / ".pdd" / "config.yaml"
    text = config.read_text(encoding="utf-8")
    start, end = text.index("\ncommand:"), text.index("\nreplay:")  # the template's command section
    config.write_text(text[:start] + "\ncommand: " + json.dumps(settings) + "\n" + text[end:], encoding="utf-8")
    commit_all(repo, "prompts")


def build(repo: Path, client: str, tmp_path: Path, server, *extra: str):
    """``pdd build`` with the command backend, HOME and TMPDIR empty folders of the test's own."""
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    env = {"PDD_BACKEND": "command", "PDD_MODEL": MODELS[client], "HOME": str(home), "TMPDIR": str(tmp),
           "PATH": f"{client_bin(client, tmp_path)}{os.pathsep}{os.environ['PATH']}",
           "GEMINI_API_KEY": "test-key-not-secret"}
    return run_pdd_cli(repo, "build", *extra, server=server, env=env, timeout=300)


@pytest.mark.parametrize("client", sorted(CLIENT_PATHS))
def test_pdd_build_with_the_real_client(client, git_repo, fake_server, tmp_path):
    bindir = client_bin(client, tmp_path)  # skip early when absent
    fake_server.answers[MODULE] = ANSWER
    project(git_repo, client, fake_server)
    before = snapshot_files(git_repo)

    proc = build(git_repo, client, tmp_path, fake_server)
    assert proc.returncode == 0, f"{client}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert bindir.exists()

    # The files: the answer's code, and nothing else new outside generated/ and .pdd/.
    assert (git_repo / OUTPUT).read_text() == CODE
    after = snapshot_files(git_repo)
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed and all(p.startswith(("generated/", ".pdd/")) for p in changed), changed

    # The request: one, on the client's API, carrying pdd's prompt and no tools.
    [request] = fake_server.requests
    assert request["api"] == API[client] and request["stream"] is (client != "llm")  # llm --json does not stream
    assert requests_for(fake_server, MODULE) == [request]
    text = request_text(request)
    assert "Target module: generated.calc.double" in text and GOAL in text
    assert set(tool_names(request)) <= ALLOWED_TOOLS.get(client, set()), tool_names(request)
    if client == "gemini":
        assert request["model"] == MODELS[client]
    else:
        assert MODELS[client] in request["body"]["model"] or client == "claude"

    # The note: backend, preset, model, and the usage the server reported (via the client's JSON).
    [note] = note_records(git_repo, OUTPUT)
    assert note["backend"] == "command" and note["model"] == MODELS[client]
    assert note["backend_info"] == {"preset": client, "program": client}
    assert note["tokens_in"] == max(1, len(text) // 4)  # the fake server's usage figures
    assert note["tokens_out"] == max(1, len(ANSWER) // 4)
    assert note["tests"] == "passed"
    if client == "claude":  # Claude Code's own figure (Sonnet: $3 in, $15 out per million), no prices table
        assert note["cost_usd"] == pytest.approx(note["tokens_in"] * 3e-6 + note["tokens_out"] * 15e-6)
    else:  # no cost reported and no price for the model: unknown, not zero
        assert note["cost_usd"] is None

    # Nothing outside the scratch folder: HOME and TMPDIR are as empty as before, and pdd removed
    # the scratch folder (it lives in TMPDIR).
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == []


@pytest.mark.parametrize("client", sorted(CLIENT_PATHS))
def test_a_client_error_is_a_backend_failure_with_its_message(client, git_repo, fake_server, tmp_path):
    client_bin(client, tmp_path)
    fake_server.answers[MODULE] = Reply(status=400, text="the model gpt-none does not exist (fake server)")
    project(git_repo, client, fake_server, max_retries=0)

    proc = build(git_repo, client, tmp_path, fake_server)
    assert proc.returncode == 3, f"{client}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "does not exist" in proc.stderr and f"`{client}`" in proc.stderr, proc.stderr
    if client != "llm":  # the client's own error report (from its JSON), not its stack trace
        assert f"{client} reported an error" in proc.stderr and "    at " not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (git_repo / OUTPUT).exists() and note_records(git_repo, "0" * 40) == []
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == []


def test_without_the_preset_the_same_checks_catch_claude(git_repo, fake_server, tmp_path):
    """Protection off: Claude Code run as a plain command (pdd's environment, its default flags)
    writes its state into HOME and declares its tool set, which the checks above would catch."""
    client_bin("claude", tmp_path)
    fake_server.answers[MODULE] = ANSWER
    quiet = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1"}
    project(git_repo, "claude", fake_server, preset=None,
            argv=["env", *[f"{k}={v}" for k, v in quiet.items()], "claude", "-p", "--model", "{model}"])
    proc = build(git_repo, "claude", tmp_path, fake_server)
    assert proc.returncode == 0, proc.stderr
    [request] = fake_server.requests
    assert len(tool_names(request)) > 5 and "Bash" in tool_names(request)
    assert (tmp_path / "home" / ".claude.json").exists() or (tmp_path / "home" / ".claude").exists()


def connections(log: Path) -> list[str]:
    """``ADDRESS:PORT`` of every IPv4/IPv6 ``connect()`` in an ``strace -e trace=connect`` log."""
    import re

    out = []
    for line in log.read_text().splitlines():
        v4 = re.search(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)', line)
        v6 = re.search(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"', line)
        for match in (v4, v6):
            if match:
                out.append(f"{match.group(2)}:{match.group(1)}")
    return out


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed (apt-get install strace)")
@pytest.mark.parametrize("client", sorted(CLIENT_PATHS))
def test_the_preset_connects_only_to_the_configured_server(client, git_repo, fake_server, tmp_path):
    """Every connect() of the client and its children, traced: loopback to the fake server only
    (no telemetry, update check, DNS lookup or other endpoint)."""
    from pdd.backends.command import PRESETS

    client_bin(client, tmp_path)
    fake_server.answers[MODULE] = ANSWER
    log = tmp_path / "connect.log"
    strace = ["strace", "-f", "-qq", "-e", "signal=none", "-e", "trace=connect", "-o", str(log)]
    project(git_repo, client, fake_server, argv=strace + PRESETS[client])
    proc = build(git_repo, client, tmp_path, fake_server)
    if "ptrace" in proc.stderr and proc.returncode != 0:
        pytest.skip("ptrace is not permitted here: " + proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr
    seen = connections(log)
    assert seen and set(seen) == {f"127.0.0.1:{fake_server.port}"}, seen
    assert (git_repo / OUTPUT).read_text() == CODE


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed (apt-get install strace)")
@pytest.mark.skipif(not shutil.which("bwrap"), reason="bwrap is not installed (apt-get install bubblewrap)")
def test_without_the_preset_claude_tries_to_phone_home(git_repo, fake_server, tmp_path):
    """Protection off: the same trace catches Claude Code run with its defaults reaching out (a DNS
    query to the resolver, for its telemetry and update endpoints). The client runs in a network
    namespace of its own (``bwrap --unshare-net``), so its attempts are seen by strace but no
    packet leaves this machine: the test only needs the attempt."""
    client_bin("claude", tmp_path)
    fake_server.answers[MODULE] = ANSWER
    log = tmp_path / "connect.log"
    strace = ["strace", "-f", "-qq", "-e", "signal=none", "-e", "trace=connect", "-o", str(log)]
    no_network = ["bwrap", "--dev-bind", "/", "/", "--unshare-net", "--"]
    project(git_repo, "claude", fake_server, preset=None, timeout=60,
            argv=no_network + strace + ["claude", "-p", "--model", "{model}"])
    build(git_repo, "claude", tmp_path, fake_server)
    others = [c for c in connections(log) if not c.startswith("127.0.0.1:")]
    assert others, connections(log)
