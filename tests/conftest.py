"""Shared fixtures and helpers for pdd's tests.

End-to-end tests drive the REAL command line (``python -m pdd ...``) as a
subprocess in a temporary git repository, against the fake model server of
``tests/fakeserver.py`` (no network, no API key).

Fixtures
--------
``fake_server``   a started :class:`FakeModelServer` (stopped afterwards) whose
                  responder is a fresh :class:`ModuleAnswers`, also reachable as
                  ``fake_server.answers`` and through the ``answers`` fixture.
``answers``       that :class:`ModuleAnswers`: ``answers["billing/money"] = CODE``.
``git_repo``      a temporary git repository (user.name/email set, no commit yet)
                  on which ``pdd init`` was run through the CLI (a copy of the
                  session's ``initialised_repo_template``).
``run_pdd``       ``run_pdd(repo, *args, env=None, input=None)`` -> CompletedProcess:
                  the real CLI pointed at ``fake_server`` (see :func:`pdd_environment`).
``pdd_env``       the environment dict ``run_pdd`` uses, for other subprocesses
                  (e.g. ``git commit`` running the pre-commit hook).

Helpers (plain functions, importable as ``from conftest import ...``)
---------------------------------------------------------------------
``ModuleAnswers`` (the routing responder), ``fence``, ``pdd_environment``,
``run_pdd_cli`` (run_pdd without the fixture, e.g. with your own server),
``init_git_repo``, ``write_file``, ``write_prompt``, ``write_test``,
``write_answer`` (for ``AnswersResponder`` directories), ``git``, ``commit_all``,
``blob_id``, ``notes_ref``, ``notes_list``, ``note_records``, ``request_modules``,
``requests_by_module``, ``requests_for``, ``snapshot_files``, ``fresh_python`` (stdout of
``python -c CODE`` in a new interpreter, e.g. to see what an import loads); constants
``NOTES_REF``, ``DUMMY_API_KEY``, ``FAKE_MODEL`` and ``FAST_BEHAVIOR_TESTS`` (now
empty: pdd turns pytest's plugin autoload off itself).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import pytest  # noqa: E402

from fakeserver import (  # noqa: E402,F401  (re-exported for tests)
    AnswersResponder,
    FakeModelServer,
    Reply,
    ScriptedResponder,
    find_target_module,
    request_text,
)

DUMMY_API_KEY = "test-key-not-secret"
NOTES_REF = "refs/notes/pdd"
FAKE_MODEL = "fake-model"
# Formerly the environment that turned pytest's plugin autoload off for behavior-test
# runs; pdd now does that itself (tests.plugins, pdd.testrun), whatever the caller's
# environment says. Kept empty for the tests that still pass it.
FAST_BEHAVIOR_TESTS: Dict[str, str] = {}


# ---------------------------------------------------------------------------
# Model answers routed by target module
# ---------------------------------------------------------------------------

AnswerLike = Union[str, Reply, Callable[[Dict[str, Any]], Any], Sequence[Union[str, Reply]]]


def fence(code: str, prose: str = "Here is the module.") -> str:
    """``code`` as a model would answer it: a line of prose, then a ```python block."""
    code = textwrap.dedent(code).lstrip("\n")
    if not code.endswith("\n"):
        code += "\n"
    return f"{prose}\n\n```python\n{code}```\n"


def module_key(name: str) -> str:
    """``billing/money``, ``generated.billing.money`` or ``generated/billing/money.py``
    -> ``billing/money`` (the pdd module name)."""
    key = name.strip()
    if key.endswith(".py"):
        key = key[: -len(".py")]
    key = key.replace(".", "/")
    if key.startswith("generated/"):
        key = key[len("generated/"):]
    return key


class ModuleAnswers:
    """A responder for :class:`FakeModelServer` that routes by ``Target module:``.

    ``answers[name] = value`` where ``name`` is a pdd module name (``billing/money``;
    dotted ``generated.billing.money`` works too) and ``value`` is:

    * ``str``: Python source, sent back in a fenced ``python`` block (dedented);
      a string that already contains a ``` fence is sent as is;
    * :class:`Reply`: sent as is (faults, token overrides...);
    * a list/tuple of those: one per request for that module, in order (counted
      from when it was set); the last one repeats once the list is used up;
    * a callable ``f(request) -> str | Reply``: called per request (a returned str
      is sent as is, not fenced).

    A module with no answer gets a 404 naming it. ``calls[name]`` counts requests
    per module (thread-safe).
    """

    def __init__(self, initial: Optional[Mapping[str, AnswerLike]] = None) -> None:
        self._answers: Dict[str, AnswerLike] = {}
        self._calls: Counter = Counter()
        self._served: Counter = Counter()  # position in the current answer list
        self._lock = threading.Lock()
        for k, v in (initial or {}).items():
            self[k] = v

    def __setitem__(self, name: str, value: AnswerLike) -> None:
        with self._lock:
            self._answers[module_key(name)] = value
            self._served.pop(module_key(name), None)

    def __getitem__(self, name: str) -> AnswerLike:
        with self._lock:
            return self._answers[module_key(name)]

    def __delitem__(self, name: str) -> None:
        with self._lock:
            del self._answers[module_key(name)]

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return isinstance(name, str) and module_key(name) in self._answers

    def update(self, mapping: Mapping[str, AnswerLike]) -> None:
        for k, v in mapping.items():
            self[k] = v

    @property
    def calls(self) -> Counter:
        """Requests seen per module name (a copy)."""
        with self._lock:
            return Counter(self._calls)

    @staticmethod
    def _render(value: Any) -> Any:
        if isinstance(value, Reply):
            return value
        text = str(value)
        return text if "```" in text else fence(text)

    def __call__(self, request: Dict[str, Any]) -> Any:
        target = find_target_module(request)
        if target is None:
            return Reply(status=400, text="ModuleAnswers: no 'Target module: generated.<name>' line in the request")
        key = module_key(target)
        with self._lock:
            index = self._served[key]
            self._served[key] += 1
            self._calls[key] += 1
            value = self._answers.get(key)
        if value is None:
            return Reply(status=404, text=f"ModuleAnswers: no answer configured for module {key} ({target})")
        if callable(value) and not isinstance(value, (str, Reply)):
            return value(request)
        if isinstance(value, (list, tuple)):
            if not value:
                return Reply(status=500, text=f"ModuleAnswers: empty answer list for {key}")
            value = value[min(index, len(value) - 1)]
        return self._render(value)


def request_modules(server: FakeModelServer) -> List[Optional[str]]:
    """The pdd module name of each logged request, oldest first (None if it names none)."""
    out: List[Optional[str]] = []
    for req in server.requests:
        target = find_target_module(req)
        out.append(module_key(target) if target else None)
    return out


def requests_by_module(server: FakeModelServer, since: int = 0) -> Counter:
    """How many requests named each module, counting from log index ``since``."""
    return Counter(m for m in request_modules(server)[since:] if m is not None)


def requests_for(server: FakeModelServer, name: str) -> List[Dict[str, Any]]:
    """The logged requests whose target is module ``name``, oldest first."""
    key = module_key(name)
    return [r for r in server.requests if (find_target_module(r) and module_key(find_target_module(r)) == key)]


# ---------------------------------------------------------------------------
# Files and git
# ---------------------------------------------------------------------------


def write_file(root: Path, rel: str, text: str, *, dedent: bool = True) -> Path:
    """Write ``root/rel`` (parents created); ``text`` is dedented unless ``dedent=False``."""
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if dedent:
        text = textwrap.dedent(text).lstrip("\n")
    path.write_text(text, encoding="utf-8")
    return path


def write_prompt(
    root: Path,
    name: str,
    body: str = "",
    *,
    depends: Optional[Iterable[str]] = None,
    tests: Optional[Iterable[str]] = None,
    front: Optional[str] = None,
    raw: Optional[str] = None,
) -> Path:
    """Write ``prompts/<name>.prompt``.

    ``raw`` is written verbatim (for malformed files). Otherwise a front matter is
    made from ``depends``/``tests`` plus extra YAML lines ``front`` (omitted when all
    are empty), followed by ``body`` (dedented; default: a one-line Goal).
    """
    rel = f"prompts/{name}.prompt"
    if raw is not None:
        return write_file(root, rel, raw, dedent=False)
    lines: List[str] = []
    if depends:
        lines.append("depends: [" + ", ".join(depends) + "]")
    if tests is not None:
        lines.append("tests: [" + ", ".join(tests) + "]")
    if front:
        lines.extend(textwrap.dedent(front).strip("\n").splitlines())
    body = textwrap.dedent(body).strip("\n") if body else f"# Goal\nThe module {name}."
    text = ("---\n" + "\n".join(lines) + "\n---\n" if lines else "") + body + "\n"
    return write_file(root, rel, text, dedent=False)


def write_test(root: Path, name: str, text: str) -> Path:
    """Write ``behavior_tests/<name>`` (``.py`` and ``test_`` prefix added if absent)."""
    fname = name if name.endswith(".py") else f"{name}.py"
    base = Path(fname)
    if not base.name.startswith("test_"):
        base = base.with_name("test_" + base.name)
    return write_file(root, f"behavior_tests/{base.as_posix()}", text)


def write_answer(directory: Path, name: str, code: str) -> Path:
    """Write the :class:`AnswersResponder` answer file for module ``name``
    (``billing/money`` -> ``DIRECTORY/billing/money.py``)."""
    return write_file(directory, module_key(name) + ".py", code)


def fresh_python(code: str) -> str:
    """Stdout of ``python -c CODE`` in a new interpreter (stripped); raises
    :class:`subprocess.CalledProcessError` if it fails. For what an import loads."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def git(repo: Path, *args: str, check: bool = True, env: Optional[Mapping[str, str]] = None) -> str:
    """Run git in ``repo``; return stdout (stripped of the final newline)."""
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          env=dict(env) if env is not None else _git_env())
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout.rstrip("\n")


def commit_all(repo: Path, message: str = "commit", *, env: Optional[Mapping[str, str]] = None,
               no_verify: bool = True) -> str:
    """``git add -A && git commit``; return the new commit id."""
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", message, *(["--no-verify"] if no_verify else []), env=env)
    return git(repo, "rev-parse", "HEAD", env=env)


def blob_id(repo: Path, rel: str) -> str:
    """The git blob id of the working-tree file ``rel``."""
    return git(repo, "hash-object", "--", rel)


def notes_ref(repo: Path) -> Optional[str]:
    """The commit id of ``refs/notes/pdd``, or None if the ref does not exist."""
    out = subprocess.run(["git", "rev-parse", "--verify", "-q", NOTES_REF], cwd=repo, capture_output=True,
                         text=True, env=_git_env())
    return out.stdout.strip() if out.returncode == 0 else None


def notes_list(repo: Path) -> Dict[str, str]:
    """``{annotated object: note object}`` from ``git notes --ref pdd list`` ({} if none)."""
    if notes_ref(repo) is None:
        return {}
    out = git(repo, "notes", "--ref", "pdd", "list")
    result = {}
    for line in out.splitlines():
        note, obj = line.split()
        result[obj] = note
    return result


def note_records(repo: Path, rel_or_blob: str) -> List[Dict[str, Any]]:
    """The JSON records of the note on a blob (a file path in the working tree, or a blob id)."""
    blob = rel_or_blob if _is_hex_id(rel_or_blob) else blob_id(repo, rel_or_blob)
    proc = subprocess.run(["git", "notes", "--ref", "pdd", "show", blob], cwd=repo, capture_output=True,
                          text=True, env=_git_env())
    if proc.returncode != 0:
        return []
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def snapshot_files(root: Path, under: str = ".", *, skip: Sequence[str] = (".git", "__pycache__")) -> Dict[str, bytes]:
    """``{relative path: bytes}`` of every file below ``root/under`` (skipping ``skip`` folder names)."""
    base = Path(root) / under
    out: Dict[str, bytes] = {}
    if not base.exists():
        return out
    for p in sorted(base.rglob("*")):
        rel = p.relative_to(root)
        if any(part in skip for part in rel.parts) or not p.is_file():
            continue
        out[rel.as_posix()] = p.read_bytes()
    return out


def _is_hex_id(s: str) -> bool:
    return len(s) in (40, 64) and all(c in "0123456789abcdef" for c in s)


def _git_env() -> Dict[str, str]:
    """An environment for git isolated from the user's global and system config."""
    env = dict(os.environ)
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


# ---------------------------------------------------------------------------
# Running the real CLI
# ---------------------------------------------------------------------------


def pdd_environment(server: Optional[FakeModelServer] = None,
                    overrides: Optional[Mapping[str, Optional[str]]] = None) -> Dict[str, str]:
    """The environment the CLI runs in: the fake server as an openai backend.

    Starts from ``os.environ`` minus every ``PDD_*`` and ``*_API_KEY`` variable, sets
    ``PDD_BACKEND=openai``, ``PDD_MODEL=fake-model``, ``OPENAI_BASE_URL`` (and
    ``ANTHROPIC_BASE_URL``) to ``server``, dummy API keys, no colour, git isolated
    from global config. ``overrides`` are applied last; a ``None`` value removes
    the variable.
    """
    env = {k: v for k, v in _git_env().items()
           if not k.startswith("PDD_") and not k.endswith("_API_KEY") and k not in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL")}
    env.update({
        "PDD_BACKEND": "openai",
        "PDD_MODEL": FAKE_MODEL,
        "OPENAI_API_KEY": DUMMY_API_KEY,
        "ANTHROPIC_API_KEY": DUMMY_API_KEY,
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": "200",
        "PYTHONUNBUFFERED": "1",
    })
    if server is not None:
        env["OPENAI_BASE_URL"] = server.openai_base_url
        env["ANTHROPIC_BASE_URL"] = server.anthropic_base_url
    for k, v in (overrides or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run_pdd_cli(repo: Path, *args: str, server: Optional[FakeModelServer] = None,
                env: Optional[Mapping[str, Optional[str]]] = None, input: Optional[str] = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m pdd ARGS`` in ``repo``; return the CompletedProcess (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "pdd", *map(str, args)], cwd=repo, env=pdd_environment(server, env),
        input=input, capture_output=True, text=True, timeout=timeout,
    )


def init_git_repo(path: Path) -> Path:
    """``git init`` at ``path`` (branch main) with a local identity; return ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "pdd tests")
    git(path, "config", "user.email", "pdd-tests@example.invalid")
    git(path, "config", "commit.gpgsign", "false")
    return path


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture
def fake_server():
    """A started fake model server answering through a :class:`ModuleAnswers`."""
    answers = ModuleAnswers()
    server = FakeModelServer(answers)
    server.answers = answers  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def answers(fake_server) -> ModuleAnswers:
    """The fake server's :class:`ModuleAnswers` (module name -> code)."""
    return fake_server.answers


@pytest.fixture
def pdd_env(fake_server) -> Dict[str, str]:
    """The environment ``run_pdd`` uses (pointed at ``fake_server``)."""
    return pdd_environment(fake_server)


@pytest.fixture
def run_pdd(fake_server) -> Callable[..., subprocess.CompletedProcess]:
    """``run_pdd(repo, *args, env=None, input=None, timeout=120)``: the real CLI
    against ``fake_server``. ``env`` entries override (None removes)."""

    def _run(repo: Path, *args: str, env: Optional[Mapping[str, Optional[str]]] = None,
             input: Optional[str] = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return run_pdd_cli(repo, *args, server=fake_server, env=env, input=input, timeout=timeout)

    return _run


@pytest.fixture(scope="session")
def initialised_repo_template(tmp_path_factory) -> Path:
    """One repository per test process made by ``git init`` and ``pdd init`` through
    the CLI (what ``pdd init`` writes holds no path of the repository), copied by
    :func:`git_repo` instead of being made again for every test. Never modify it."""
    repo = init_git_repo(tmp_path_factory.mktemp("template") / "repo")
    proc = run_pdd_cli(repo, "init")
    assert proc.returncode == 0, f"pdd init failed:\n{proc.stdout}\n{proc.stderr}"
    return repo


@pytest.fixture
def git_repo(tmp_path, run_pdd, initialised_repo_template) -> Path:
    """A temporary git repository with ``pdd init`` run through the CLI (a copy of
    :func:`initialised_repo_template`)."""
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(initialised_repo_template, repo, symlinks=True)
    return repo
