"""Bad input never gives a traceback (issue 9, section 3).

End to end through the real CLI in temporary git repositories (the fake model server
of ``tests/fakeserver.py`` as the model), plus hypothesis property tests over
malformed note lines, configurations and prompts. Each property test counts the
inputs it tried and the tracebacks it saw and prints them (run with ``-s``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import NOTES_REF, blob_id, commit_all, git, write_file, write_prompt

CODE = "def add(a: int, b: int) -> int:\n    return a + b\n"
ENV = {"PDD_BACKEND": "openai", "PDD_MODEL": "fake-model"}
OUT = "generated/calc/add.py"
UNTESTED = "untested_reason: these tests are about bad input, not behavior"


def _built(git_repo, answers, run_pdd, body="# Adder\n## Goal\nadd(a, b).\n"):
    write_prompt(git_repo, "calc/add", body, tests=[], front=UNTESTED)
    answers["calc/add"] = CODE
    proc = run_pdd(git_repo, "build", "--no-tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commit_all(git_repo, "add", env=ENV)


def _no_traceback(proc):
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


# -- notes ----------------------------------------------------------------------------------------------------------

def _set_note(repo: Path, text: str) -> None:
    git(repo, "notes", "--ref", "pdd", "add", "-f", "-m", text, blob_id(repo, OUT))


@pytest.mark.parametrize("field,value", [("inputs", "x"), ("cost_usd", "x"), ("tokens_in", [1])])
def test_a_note_line_with_wrong_types_is_reported_and_skipped(git_repo, answers, run_pdd, field, value):
    _built(git_repo, answers, run_pdd)
    good = json.loads(git(git_repo, "notes", "--ref", "pdd", "show", blob_id(git_repo, OUT)).splitlines()[0])
    bad = dict(good, **{field: value, "time": "9999" if field != "time" else value})
    _set_note(git_repo, json.dumps(good) + "\n" + json.dumps(bad))
    for cmd in (("check",), ("status",), ("explain", OUT), ("build", "--no-tests")):
        proc = run_pdd(git_repo, *cmd)
        _no_traceback(proc)
        assert proc.returncode == 0, (cmd, proc.stdout, proc.stderr)
        assert "line 2" in proc.stderr and "ignored" in proc.stderr and repr(field) in proc.stderr, (cmd, proc.stderr)
    # the only line is bad: the file has no valid note, so it is edited (exit 1), not a crash
    _set_note(git_repo, json.dumps(bad))
    proc = run_pdd(git_repo, "check")
    _no_traceback(proc)
    assert proc.returncode == 1 and "line 1" in proc.stderr


def _point_notes_ref_at(repo: Path, what: str) -> None:
    if what == "blob":
        target = git(repo, "rev-parse", f"HEAD:{OUT}")
    elif what == "tree":
        target = git(repo, "rev-parse", "HEAD^{tree}")
    else:  # a commit that is not a notes commit
        target = git(repo, "rev-parse", "HEAD")
    git(repo, "update-ref", NOTES_REF, target)


@pytest.mark.parametrize("what", ["blob", "tree", "commit"])
def test_a_notes_ref_that_is_not_a_notes_commit_is_exit_2(git_repo, answers, run_pdd, pdd_env, what):
    _built(git_repo, answers, run_pdd)
    _point_notes_ref_at(git_repo, what)
    for cmd in (("check",), ("status",), ("explain", OUT), ("build", "--no-tests")):
        proc = run_pdd(git_repo, *cmd)
        _no_traceback(proc)
        assert proc.returncode == 2, (cmd, proc.stdout, proc.stderr)
        assert "is not a notes commit" in proc.stderr and "git update-ref -d refs/notes/pdd" in proc.stderr
        assert "edited" not in proc.stdout
    # the hook (git plumbing path) refuses the commit with the same message
    write_file(git_repo, OUT, CODE + "# hand edit\n")
    git(git_repo, "add", OUT)
    hook = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=git_repo, env=pdd_env, capture_output=True, text=True)
    assert hook.returncode != 0 and "is not a notes commit" in hook.stderr
    _no_traceback(hook)
    # the ref was not touched by the failed build
    assert git(git_repo, "cat-file", "-t", NOTES_REF) == ("commit" if what == "commit" else what)


# -- model answers that are not text ----------------------------------------------------------------------------------

def _openai_body(content, usage=None):
    return {"id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": usage if usage is not None else {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def _anthropic_body(text, usage=None):
    return {"id": "msg_x", "type": "message", "role": "assistant", "model": "fake-model",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": usage if usage is not None else {"input_tokens": 1, "output_tokens": 1}}


BAD_ANSWERS = [
    ("content int", 42, None),
    ("content list", ["a", "b"], None),
    ("content object", {"a": 1}, None),
    ("lone surrogate", "VALUE = '\ud800'", None),
    ("usage string", "VALUE = 1", "x"),
    ("usage list", "VALUE = 1", [1]),
    ("usage negative", "VALUE = 1", -5),
    ("usage float", "VALUE = 1", 1.5),
]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("label,content,tokens", BAD_ANSWERS, ids=[a[0] for a in BAD_ANSWERS])
def test_a_model_answer_that_is_not_text_is_a_backend_error(monkeypatch, kind, label, content, tokens):
    from fakeserver import FakeModelServer, Reply

    from pdd.backends import Request
    from pdd.errors import BackendError

    monkeypatch.setenv("OPENAI_API_KEY", "k")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    if kind == "openai":
        usage = None if tokens is None else {"prompt_tokens": tokens, "completion_tokens": 1, "total_tokens": 2}
        body = _openai_body(content, usage)
    else:
        usage = None if tokens is None else {"input_tokens": tokens, "output_tokens": 1}
        body = _anthropic_body(content, usage)
    req = Request(messages=({"role": "user", "content": "Target module: generated.demo"},), model="fake-model",
                  temperature=0.0, max_tokens=64, module="demo")
    with FakeModelServer(lambda r: Reply(body=body)) as server:
        if kind == "openai":
            from pdd.backends.openai import OpenAIBackend

            backend = OpenAIBackend({"base_url": server.openai_base_url, "max_retries": 0})
        else:
            from pdd.backends.anthropic import AnthropicBackend

            backend = AnthropicBackend({"base_url": server.anthropic_base_url, "max_retries": 0})
        with pytest.raises(BackendError) as info:
            backend.complete(req)
    assert info.value.exit_code == 3 and "demo" in str(info.value)


@pytest.mark.parametrize("result,usage", [("VALUE = '\ud800'", {}), (42, {}), (["x"], {}),
                                          ("VALUE = 1", {"input_tokens": "NaN", "output_tokens": 1e400}),
                                          ("VALUE = 1", {"input_tokens": float("nan"), "output_tokens": -1})])
def test_command_backend_garbage_json_is_a_backend_error_or_unknown_usage(tmp_path, result, usage):
    import sys

    from pdd.backends import Request
    from pdd.backends.command import CommandBackend
    from pdd.errors import BackendError

    doc = json.dumps({"type": "result", "subtype": "success", "result": result, "usage": usage,
                      "total_cost_usd": float("nan")})
    script = tmp_path / "agent.py"
    script.write_text(f"import sys\nsys.stdin.read()\nsys.stdout.write({doc!r})\n")
    backend = CommandBackend({"preset": "claude", "argv": [sys.executable, str(script)]}, tmp_path)
    req = Request(messages=({"role": "user", "content": "hi"},), model="m", temperature=0.0, max_tokens=64, module="demo")
    if isinstance(result, str) and "\ud800" not in result:
        c = backend.complete(req)  # garbage usage from an agent CLI: unknown counts, not a crash
        assert (c.tokens_in, c.tokens_out, c.cost_usd) == (None, None, None)
    else:
        with pytest.raises(BackendError) as info:
            backend.complete(req)
        assert info.value.exit_code == 3


def test_build_with_an_int_answer_exits_3_and_writes_nothing(git_repo, fake_server, run_pdd):
    from fakeserver import Reply

    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd(a, b).\n", tests=[], front=UNTESTED)
    fake_server.answers["calc/add"] = Reply(body=_openai_body(7))  # a whole JSON body, not a stream
    # streaming on (the default): the whole body is named for what it is, with the setting that fixes it
    proc = run_pdd(git_repo, "build", "--no-tests")
    _no_traceback(proc)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "non-stream" in proc.stderr and "openai.stream: false" in proc.stderr and not (git_repo / OUT).exists()
    _config_with(git_repo, "  max_retries: 4\n\nanthropic:", "  max_retries: 4\n  stream: false\n\nanthropic:")
    proc = run_pdd(git_repo, "build", "--no-tests")
    _no_traceback(proc)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "not text" in proc.stderr and not (git_repo / OUT).exists()


# -- Jinja runtime errors and runaway expressions ---------------------------------------------------------------------

@pytest.mark.parametrize("expr,words", [
    ("{{ 1/0 }}", "ZeroDivisionError"),
    ("{{ 'a' + 1 }}", "TypeError"),
    ("{{ 'x' * 10**10 }}", "too large"),
    ("{{ [0] * 10**9 }}", "too large"),
    ("{{ 'x'|center(10**10) }}", "too large"),
    ("{{ 'x'.ljust(10**10) }}", "too large"),
    ("{{ 7 ** 100000000 }}", "too large"),
    ("{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "too large"),
    ("{% for i in range(30000) %}{{ 'x' * 100 }}{% endfor %}", "too large"),
    ("{{ ''.__class__.__mro__ }}", "unsafe"),
])
def test_jinja_runtime_errors_are_file_line_errors(expr, words, tmp_path):
    from pdd.errors import InputError
    from pdd.prompt import parse_prompt
    from pdd.render import render_prompt

    (tmp_path / "prompts").mkdir()
    spec = parse_prompt(f"---\ntests: []\n{UNTESTED}\n---\n# Goal\nline\n{expr}\n", path="prompts/m.prompt", name="m")
    with pytest.raises(InputError) as info:
        render_prompt(spec, tmp_path, "prompts")
    assert info.value.exit_code == 2 and words in str(info.value)
    assert info.value.path == "prompts/m.prompt" and (info.value.line == 7 or "rendered prompt" in str(info.value))


def test_jinja_errors_exit_2_in_build_status_lint_and_check(git_repo, answers, run_pdd):
    _built(git_repo, answers, run_pdd)
    for expr in ("{{ 1/0 }}", "{{ 'x' * 10**10 }}"):
        write_prompt(git_repo, "calc/add", f"# Adder\n## Goal\nadd(a, b).\n{expr}\n", tests=[], front=UNTESTED)
        git(git_repo, "add", "-A")
        for cmd in (("build", "--no-tests"), ("status",), ("lint",), ("check", "--staged")):
            proc = run_pdd(git_repo, *cmd, timeout=60)
            _no_traceback(proc)
            assert proc.returncode == 2, (cmd, proc.stdout, proc.stderr)
            assert "prompts/calc/add.prompt:8" in proc.stdout + proc.stderr, (cmd, proc.stdout, proc.stderr)
    assert (git_repo / OUT).read_text() == CODE  # nothing was written


# -- configuration ----------------------------------------------------------------------------------------------------

def _config_with(repo: Path, old: str, new: str) -> None:
    path = repo / ".pdd/config.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("case,words", [
    ("deep", "nested too deeply"), ("not utf-8", ".pdd/config.yaml:3: not UTF-8"), ("folder", "is a folder"),
    ("nan timeout", "tests.timeout must be a number of seconds above 0"),
    ("negative timeout", "tests.timeout must be a number of seconds above 0"),
    ("inf request timeout", "openai.timeout must be"),
    ("missing test program", "tests.command: program 'no-such-test-runner-xyz' not found"),
    ("replay dir outside", "replay.dir must be a folder inside the repository"),
    ("NUL", ".pdd/config.yaml:2: malformed YAML"),
])
def test_bad_configs_are_exit_2_naming_file_and_key(git_repo, answers, run_pdd, case, words):
    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd(a, b).\n", tests=[], front=UNTESTED)
    answers["calc/add"] = CODE
    cfg = git_repo / ".pdd/config.yaml"
    if case == "deep":
        cfg.write_text("prices: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n")
    elif case == "not utf-8":
        cfg.write_bytes(b"backend: replay\n# comment\nmodel: caf\xe9\n")
    elif case == "folder":
        cfg.unlink()
        cfg.mkdir()
    elif case == "nan timeout":
        _config_with(git_repo, "timeout: 300                # seconds per module's test run", "timeout: .nan")
    elif case == "negative timeout":
        _config_with(git_repo, "timeout: 300                # seconds per module's test run", "timeout: -1")
    elif case == "inf request timeout":
        _config_with(git_repo, "timeout: 120                # seconds per request", "timeout: .inf")
    elif case == "missing test program":
        _config_with(git_repo, "  command: []", "  command: [no-such-test-runner-xyz, -q]")
    elif case == "replay dir outside":
        _config_with(git_repo, "dir: .pdd/recordings", "dir: ../elsewhere")
    else:
        cfg.write_bytes(b"backend: replay\nmodel: a\x00b\n")
    proc = run_pdd(git_repo, "build")
    _no_traceback(proc)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in proc.stderr, proc.stderr


# -- prompt text: BOM, NUL ---------------------------------------------------------------------------------------------

def test_a_bom_before_the_front_matter_is_ignored():
    from pdd.prompt import parse_prompt

    text = f"\ufeff---\ntests: []\n{UNTESTED}\noutput: generated/x/y.py\n---\n# Goal\n"
    spec = parse_prompt(text, path="prompts/m.prompt", name="m")
    assert spec.output == "generated/x/y.py" and spec.tests == () and spec.body.startswith("\n" * 5 + "# Goal")


def test_a_bom_prompt_builds_like_the_same_prompt_without_it(git_repo, answers, run_pdd):
    _built(git_repo, answers, run_pdd)
    path = git_repo / "prompts/calc/add.prompt"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    proc = run_pdd(git_repo, "status", "--json")
    assert proc.returncode == 0 and "fresh" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize("raw,line", [(b"---\ntests: []\n\x00model: a\n---\n# Goal\n", 3),
                                      (b"---\ntests: []\n---\n# Goal\nok\n\xff\n", 6)])
def test_nul_and_non_utf8_bytes_report_their_line(git_repo, run_pdd, raw, line):
    (git_repo / "prompts/m.prompt").write_bytes(raw)
    proc = run_pdd(git_repo, "lint", "--format", "json")
    _no_traceback(proc)
    assert proc.returncode == 2
    [finding] = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "prompt-invalid"]
    assert finding["line"] == line, finding


# -- symlinks -----------------------------------------------------------------------------------------------------------

def test_a_prompt_or_fragment_symlinked_outside_the_repository_is_refused(git_repo, answers, fake_server, run_pdd, tmp_path):
    secret = tmp_path / "outside.txt"
    secret.write_text("# Goal\nTOP-SECRET-OUTSIDE\n")
    (git_repo / "prompts").mkdir(exist_ok=True)
    os.symlink(secret, git_repo / "prompts/leak.prompt")
    proc = run_pdd(git_repo, "build", "--no-tests")
    _no_traceback(proc)
    assert proc.returncode == 2 and "prompts/leak.prompt" in proc.stderr and "outside the repository" in proc.stderr
    (git_repo / "prompts/leak.prompt").unlink()
    write_file(git_repo, "prompts/_shared/inside.md", "inside\n")
    os.symlink(secret, git_repo / "prompts/_shared/style.md")
    write_prompt(git_repo, "calc/add", '# Adder\n## Goal\nadd.\n{% include "_shared/style.md" %}\n', tests=[], front=UNTESTED)
    answers["calc/add"] = CODE
    for cmd in (("build", "--no-tests"), ("lint",), ("status",)):
        proc = run_pdd(git_repo, *cmd)
        _no_traceback(proc)
        assert proc.returncode == 2 and "_shared/style.md" in proc.stderr + proc.stdout, (cmd, proc.stdout, proc.stderr)
    assert not any("TOP-SECRET-OUTSIDE" in json.dumps(r["body"]) for r in fake_server.requests)
    # a symlink that stays inside the repository is fine
    (git_repo / "prompts/_shared/style.md").unlink()
    os.symlink(git_repo / "prompts/_shared/inside.md", git_repo / "prompts/_shared/style.md")
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0


@pytest.mark.parametrize("where", [".pdd/recordings", ".pdd/runs", "replay.dir absolute"])
def test_record_and_run_folders_leading_outside_are_refused_before_writing(git_repo, answers, run_pdd, tmp_path, where):
    outside = tmp_path / "outside"
    outside.mkdir()
    write_prompt(git_repo, "calc/add", "# Adder\n## Goal\nadd(a, b).\n", tests=[], front=UNTESTED)
    answers["calc/add"] = CODE
    if where == "replay.dir absolute":
        _config_with(git_repo, "dir: .pdd/recordings", f"dir: {outside}")
    else:
        target = git_repo / where
        if target.exists():
            target.rmdir()
        os.symlink(outside, target)
    proc = run_pdd(git_repo, "build", "--no-tests", "--record")
    _no_traceback(proc)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "outside the repository" in proc.stderr or "inside the repository" in proc.stderr
    assert list(outside.iterdir()) == [] and not (git_repo / OUT).exists()


# -- redaction ---------------------------------------------------------------------------------------------------------

def test_every_credential_value_is_redacted_whatever_its_length():
    from pdd.redact import redact, redact_obj

    env = {"SHORT_API_KEY": "k3y", "LONG_TOKEN": "sk-abcdefghijklmnop", "PATH": "/usr/bin"}
    assert redact("auth k3y failed; key=k3y, 'k3y'", env) == "auth [redacted] failed; key=[redacted], '[redacted]'"
    assert redact("k3yboard mk3y k3y_x /usr/bin", env) == "k3yboard mk3y k3y_x /usr/bin"  # words left whole
    assert redact("Bearer sk-abcdefghijklmnopXYZ", env) == "Bearer [redacted]XYZ"
    assert redact_obj({"e": ["k3y"]}, env) == {"e": ["[redacted]"]}
    assert redact("nothing", {"EMPTY_TOKEN": ""}) == "nothing"


# -- property tests: malformed notes lines, configurations and prompts -------------------------------------------------
# Each counts the inputs it tried and the tracebacks (exceptions other than pdd's own
# errors, or a CLI run printing "Traceback") it saw, and prints them.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

TALLY: dict[str, list[int]] = {}


def _tally(name: str, traceback: bool) -> None:
    tried, seen = TALLY.setdefault(name, [0, 0])
    TALLY[name] = [tried + 1, seen + int(traceback)]


def _report(name: str) -> None:
    tried, seen = TALLY.get(name, [0, 0])
    print(f"\n[bad-input] {name}: {tried} inputs tried, {seen} tracebacks seen")


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=12), lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
                    max_leaves=8)
FIELDS = ["path", "prompt", "prompt_blob", "fingerprint", "backend", "model", "tokens_in", "tokens_out", "cost_usd",
          "tests", "attempts", "time", "pdd", "inputs"]


@pytest.fixture(scope="module")
def built_repo(tmp_path_factory):
    """A repository with one built, committed module (built once for the property tests)."""
    from conftest import init_git_repo, run_pdd_cli
    from fakeserver import FakeModelServer

    repo = init_git_repo(tmp_path_factory.mktemp("props") / "repo")
    with FakeModelServer(lambda r: "```python\n" + CODE + "```\n") as server:
        assert run_pdd_cli(repo, "init", server=server).returncode == 0
        write_prompt(repo, "calc/add", "# Adder\n## Goal\nadd(a, b).\n", tests=[], front=UNTESTED)
        proc = run_pdd_cli(repo, "build", "--no-tests", server=server)
        assert proc.returncode == 0, proc.stderr
    commit_all(repo, "add", env=ENV)
    return repo


@st.composite
def note_texts(draw):
    """A note body: valid-looking records with some fields replaced by arbitrary JSON, or junk lines."""
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["mutated", "mutated", "json", "junk"]))
        if kind == "json":
            lines.append(json.dumps(draw(JSON)))
        elif kind == "junk":
            lines.append(draw(st.text(max_size=30)).replace("\n", " "))
        else:
            rec = {"path": OUT, "prompt": "prompts/calc/add.prompt", "prompt_blob": "0" * 40, "fingerprint": "f" * 64,
                   "tokens_in": 1, "tokens_out": 2, "cost_usd": 0.1, "tests": "passed", "attempts": 1,
                   "time": "2026-01-01T00:00:00+00:00", "pdd": "0", "inputs": {"includes": {}, "deps": {}, "generator": {}}}
            for field in draw(st.lists(st.sampled_from(FIELDS + ["inputs.includes", "inputs.deps", "inputs.generator"]),
                                       min_size=1, max_size=3, unique=True)):
                value = draw(JSON)
                if field.startswith("inputs."):
                    rec["inputs"] = {**rec["inputs"], field[7:]: value} if isinstance(rec["inputs"], dict) else rec["inputs"]
                else:
                    rec[field] = value
            lines.append(json.dumps(rec))
    return "\n".join(lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=note_texts())
def test_property_malformed_note_lines_never_crash_check_status_explain(built_repo, text):
    from pdd.check import run_check
    from pdd.errors import PddError
    from pdd.evidence import explain, format_explain
    from pdd.freshness import project_states
    from pdd.project import open_project

    subprocess.run(["git", "notes", "--ref", "pdd", "add", "-f", "-F", "-", blob_id(built_repo, OUT)], cwd=built_repo,
                   input=text or "x", text=True, check=True, capture_output=True)
    crashed = False
    try:
        result = run_check(built_repo)
        assert result.exit_code in (0, 1)
        project = open_project(built_repo)
        states = project_states(project)
        assert [s.state for s in states] and all(s.state in ("fresh", "stale", "edited", "failing") for s in states)
        format_explain(explain(project, OUT, built_repo))
    except PddError as exc:
        crashed = True
        raise AssertionError(f"a bad note line must be skipped, not an error: {exc}") from None
    except Exception:
        crashed = True
        raise
    finally:
        _tally("malformed note lines (check, status, explain in-process)", crashed)


def test_property_malformed_note_lines_report(built_repo):
    _report("malformed note lines (check, status, explain in-process)")


CONFIG_KEYS = ["backend", "model", "temperature", "max_tokens", "prompts", "tests", "jobs", "attempts", "command",
               "timeout", "base_url", "max_retries", "preset", "argv", "dir", "stale", "prices"]
YAML_VALUES = st.sampled_from([".nan", "-.inf", ".inf", "-1", "0", "1e400", "[]", "{}", "[[[[]]]]", "~", "true", "'x'",
                               "!!binary aGk=", "&a [*a]", "*undefined", "{a: {b: {c: {d: 1}}}}", "'\\x00'", "2026-01-01",
                               "0x10", "1_000", '"\\ud800"', "|\n  block", "[a, 1, null]", "../../etc", "/abs/path",
                               "?", ":", "- x", "@", "`", "%TAG"]) | st.text(max_size=15).map(lambda t: t.replace("\n", " "))


@st.composite
def config_texts(draw):
    from pdd.config import DEFAULT_CONFIG_TEXT

    lines = DEFAULT_CONFIG_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(CONFIG_KEYS))
        idx = [i for i, ln in enumerate(lines) if ln.strip().startswith(key + ":")]
        if idx and draw(st.booleans()):
            i = draw(st.sampled_from(idx))
            indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
            lines[i] = f"{indent}{key}: {draw(YAML_VALUES)}"
        else:
            lines.insert(draw(st.integers(0, len(lines))), draw(st.text(max_size=20)).replace("\n", " "))
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))] + draw(st.binary(max_size=4)) + data[len(data) // 2:]
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=config_texts())
def test_property_malformed_configs_are_config_errors(tmp_path, data):
    from pdd.config import check_test_command, load_config
    from pdd.errors import ConfigError

    (tmp_path / ".pdd").mkdir(exist_ok=True)
    (tmp_path / ".pdd/config.yaml").write_bytes(data)
    crashed = False
    try:
        config = load_config(tmp_path, environ={})
        check_test_command(config, tmp_path, environ={"PATH": ""})
        assert config.test_timeout > 0 and config.jobs >= 1
    except ConfigError as exc:
        assert exc.exit_code == 2 and ".pdd/config.yaml" in str(exc)
    except Exception:
        crashed = True
        raise
    finally:
        _tally("malformed configs (load_config in-process)", crashed)


def test_property_malformed_configs_report():
    _report("malformed configs (load_config in-process)")


JINJA_BITS = ["{{ name }}", "{{ 1/0 }}", "{{ 'a' + 1 }}", "{{ 'x' * 10**10 }}", "{{ undefined_var }}", "{% if %}",
              "{% include '_shared/x.md' %}", "{% include 'missing.md' %}", "{% include name %}", "{{ [1,2][5] }}",
              "{{ {}['k'] }}", "{{ 'x'|center(10**12) }}", "{{ range(10**9)|list }}", "{{ ''.__class__ }}", "{%",
              "{{", "}}", "{# c", "\x00", "\ufeff", "\r\n", "---", "{{ 'a'|int + 'b' }}", "{{ (1,)|join(',') * 10**8 }}",
              "{% for i in range(3) %}{{ i }}{% endfor %}", "{{ 2 ** 99999999 }}", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"]
FRONT_LINES = st.sampled_from(["tests: []", "depends: [x]", "depends: calc/add", "output: generated/a/b.py",
                               "output: ../x.py", "model: ''", "temperature: .nan", "temperature: 3", "lint: {disable: [x]}",
                               "lint: 5", "bogus: 1", "tests: [../x.py]", "- list", "tests: {a: 1}", ": :", "output: 5",
                               "depends: [m]", "\ttab: 1"]) | st.text(max_size=12).map(lambda t: t.replace("\n", " "))


@st.composite
def prompt_texts(draw):
    parts = []
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from(["", "\ufeff"])) + "---\n" + "\n".join(draw(st.lists(FRONT_LINES, max_size=3)))
                     + draw(st.sampled_from(["\n---\n", "\n", "\n--- \n"])))
    parts.append("# Goal\n")
    for _ in range(draw(st.integers(0, 4))):
        parts.append(draw(st.sampled_from(JINJA_BITS) | st.text(max_size=10)))
        parts.append(draw(st.sampled_from(["\n", " ", ""])))
    return "".join(parts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=prompt_texts())
def test_property_malformed_prompts_are_input_errors(tmp_path, text):
    from pdd.errors import InputError
    from pdd.prompt import parse_prompt
    from pdd.render import render_prompt

    write_file(tmp_path, "prompts/_shared/x.md", "fragment {{ name }}\n")
    crashed = False
    try:
        spec = parse_prompt(text, path="prompts/m.prompt", name="m")
        render_prompt(spec, tmp_path, "prompts")
    except InputError as exc:
        assert exc.exit_code == 2 and exc.path.startswith("prompts/")
    except Exception:
        crashed = True
        raise
    finally:
        _tally("malformed prompts (parse and render in-process)", crashed)


def test_property_malformed_prompts_report():
    _report("malformed prompts (parse and render in-process)")


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=prompt_texts(), note=note_texts())
def test_property_malformed_prompts_and_notes_through_the_cli(built_repo, text, note):
    """The real CLI (lint, status, check) on a malformed prompt next to a malformed note: exit 0, 1 or 2, no traceback."""
    from conftest import run_pdd_cli

    (built_repo / "prompts/bad.prompt").write_text(text, encoding="utf-8", errors="surrogatepass")
    subprocess.run(["git", "notes", "--ref", "pdd", "add", "-f", "-F", "-", blob_id(built_repo, OUT)], cwd=built_repo,
                   input=note or "x", text=True, check=True, capture_output=True)
    crashed = False
    try:
        for cmd in (("lint", "--format", "json"), ("status",), ("check",)):
            proc = run_pdd_cli(built_repo, *cmd, env={"PDD_BACKEND": "replay"})
            crashed = crashed or "Traceback" in proc.stderr + proc.stdout
            assert not crashed, proc.stderr
            assert proc.returncode in (0, 1, 2), (cmd, proc.returncode, proc.stderr)
    finally:
        (built_repo / "prompts/bad.prompt").unlink()
        _tally("malformed prompts and notes (real CLI: lint, status, check)", crashed)


def test_property_cli_report():
    _report("malformed prompts and notes (real CLI: lint, status, check)")
