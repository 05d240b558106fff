"""End to end: ``pdd adopt`` through the real CLI against the scripted fake model server.

The server plays two roles, told apart by the request: a *drafting* request (the
prompt file; it carries ``Adopting the hand-written module: PATH``) is answered from
a list of prompt drafts; a *regeneration* request (``Target module: generated.X``)
is answered by a rule on the prompt text as sent, so a regeneration is right only
when the prompt states the behavior — the adoption passes only if the prompt alone
is enough.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable, Dict, List

import pytest

from conftest import FakeModelServer, blob_id, commit_all, fence, note_records, run_pdd_cli, snapshot_files, write_file
from fakeserver import request_text

ORIGINAL = '''\
"""Text helpers, written by hand."""


def slug(text: str) -> str:
    """Lower-case words joined by single dashes."""
    return "-".join(text.lower().split())


def count_words(text: str) -> int:
    return len(text.split())
'''

TESTS = '''\
from textutil import count_words, slug


def test_slug():
    assert slug("Hello World") == "hello-world"


def test_count_words():
    assert count_words("a b c") == 3
'''

# The regeneration as the generator writes it: right only if the prompt says how runs of spaces go.
RIGHT = '''\
def slug(text: str) -> str:
    words = text.lower().split()
    return "-".join(words)


def count_words(text: str) -> int:
    return len(text.split())
'''
WRONG = RIGHT.replace('''    words = text.lower().split()
    return "-".join(words)''', '''    return text.lower().strip().replace(" ", "-")''')


def prompt_file(tests: List[str], depends: List[str] = (), extra: str = "") -> str:
    return textwrap.dedent(f"""\
        Here is the prompt file.

        ````prompt
        ---
        depends: {json.dumps(list(depends))}
        tests: {json.dumps(tests)}
        ---
        # Goal
        Small text helpers.

        ## Inputs / Outputs
        - `slug(text: str) -> str`: the words of `text`, lower-cased, joined by `-`.
        - `count_words(text: str) -> int`: how many words `text` has.

        ## Constraints
        Pure functions.EXTRA

        ## Failure modes
        None: every string is accepted.

        ## Out of scope
        Unicode normalisation.

        ## Acceptance
        - [A1] `slug("Hello World")` is `"hello-world"`.
        - [A2] `count_words("a b c")` is 3.
        ````
        """).replace("EXTRA", extra)


PRECISE = "\nWords are separated by runs of whitespace; leading and trailing whitespace is ignored."


class AdoptScript:
    """Responder: drafts from a list (the last repeats); regenerations by ``generate(prompt_text, module)``."""

    def __init__(self, drafts: List[str], generate: Callable[[str, str], str]) -> None:
        self.drafts = list(drafts)
        self.generate = generate
        self.draft_requests: List[str] = []
        self.generation_requests: List[str] = []

    def __call__(self, request: Dict) -> str:
        text = request_text(request)
        if "Adopting the hand-written module:" in text:
            self.draft_requests.append(text)
            return self.drafts[min(len(self.draft_requests), len(self.drafts)) - 1]
        module = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Target module:"))
        self.generation_requests.append(text)
        return fence(self.generate(text, module))


@pytest.fixture
def repo(git_repo: Path) -> Path:
    write_file(git_repo, "textutil.py", ORIGINAL, dedent=False)
    write_file(git_repo, "tests/test_textutil.py", TESTS, dedent=False)
    commit_all(git_repo, "hand-written code")
    return git_repo


def run(repo: Path, script: AdoptScript, *args: str) -> subprocess.CompletedProcess:
    with FakeModelServer(script) as server:
        return run_pdd_cli(repo, *args, server=server, timeout=300)


def state(repo: Path) -> Dict[str, bytes]:
    """The project's files, without pdd's own scratch state (cache, run records, adopt records)."""
    return {k: v for k, v in snapshot_files(repo).items()
            if not k.startswith((".pdd/cache/", ".pdd/runs/", ".pdd/adopt/"))}


def test_a_adopted_on_first_attempt(repo: Path) -> None:
    original_blob = blob_id(repo, "textutil.py")
    script = AdoptScript([prompt_file(["tests/test_textutil.py"], extra=PRECISE)],
                         lambda text, _m: RIGHT if "runs of whitespace" in text else WRONG)
    proc = run(repo, script, "adopt", "textutil.py", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "adopted as textutil" in proc.stderr
    # the prompt, from the draft; the regenerated module with its note
    prompt = (repo / "prompts/textutil.prompt").read_text()
    assert "[A1]" in prompt and "tests: [\"tests/test_textutil.py\"]" in prompt
    assert (repo / "generated/textutil.py").read_text() == RIGHT
    (record,) = note_records(repo, "generated/textutil.py")
    assert record["adopted"]["original_blob"] == original_blob
    assert record["adopted"]["examples_agreed"] > 0
    assert record["tests"] == "passed" and record["prompt"] == "prompts/textutil.prompt"
    # the shim, and the original kept
    shim = (repo / "textutil.py").read_text()
    assert "from generated.textutil import *" in shim and "__all__ = ['slug', 'count_words']" in shim
    (kept,) = list((repo / ".pdd/adopt").glob("*/original/textutil.py"))
    assert kept.read_text() == ORIGINAL
    assert not list((repo / ".pdd/adopt").glob("*/pending.json"))
    # the regeneration request had the prompt alone, never the original code
    assert script.generation_requests and all('"-".join(text.lower().split())' not in r and "written by hand" not in r
                                              for r in script.generation_requests)
    assert '"-".join(text.lower().split())' in script.draft_requests[0]  # (the drafting request had it)
    # imports through the shim work; the tests pass; the project checks clean
    out = subprocess.run([sys.executable, "-c", "import textutil; print(textutil.slug('  A  b '), textutil.__all__)"],
                         cwd=repo, capture_output=True, text=True)
    assert out.stdout.strip() == "a-b ['slug', 'count_words']", out.stderr
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=repo,
                           capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout
    check = run(repo, script, "check", "--tests")
    assert check.returncode == 0, check.stdout + check.stderr
    # the run record counts the requests (draft + regeneration)
    cost = run(repo, script, "log", "--json")
    runs = json.loads(cost.stdout)["runs"]
    adopt_runs = [r for r in runs if r.get("command") == "adopt"]
    assert adopt_runs and adopt_runs[0]["totals"]["requests"] == 2, runs
    assert any(r.get("command") == "adopt-build" for r in runs)
    by_module = json.loads(run(repo, script, "cost", "--by", "module", "--json").stdout)
    assert "textutil" in json.dumps(by_module)


def test_b_revision_fixes_a_disagreement(repo: Path) -> None:
    script = AdoptScript([prompt_file(["tests/test_textutil.py"]),
                          prompt_file(["tests/test_textutil.py"], extra=PRECISE)],
                         lambda text, _m: RIGHT if "runs of whitespace" in text else WRONG)
    proc = run(repo, script, "adopt", "textutil.py", "--yes", "--attempts", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(script.draft_requests) == 2 and len(script.generation_requests) == 2
    revision = script.draft_requests[1]
    # the revision request carries the engine's concrete disagreement
    assert "disagree" in revision and "slug(" in revision and "original returns" in revision \
        and "regenerated returns" in revision, revision[-2000:]
    assert "attempt 1: tests passed" in proc.stderr and "1 disagreement(s)" in proc.stderr
    assert (repo / "generated/textutil.py").read_text() == RIGHT
    assert "runs of whitespace" in (repo / "prompts/textutil.prompt").read_text()


def test_c_attempts_exhausted_changes_nothing(repo: Path) -> None:
    before = state(repo)
    script = AdoptScript([prompt_file(["tests/test_textutil.py"])], lambda _t, _m: WRONG)
    proc = run(repo, script, "adopt", "textutil.py", "--yes", "--attempts", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert state(repo) == before
    assert "nothing in the project changed" in proc.stderr
    assert "last draft:" in proc.stderr and "original returns" in proc.stderr
    (folder,) = list((repo / ".pdd/adopt").iterdir())
    assert (folder / "draft.prompt").read_text().startswith("---\ndepends: []")
    assert "disagree" in (folder / "evidence.txt").read_text()
    runs = json.loads(run(repo, script, "log", "--json").stdout)["runs"]
    assert any(r.get("command") == "adopt" and r.get("exit_code") == 1 for r in runs)


SIDE_EFFECT_HIDDEN = '''\
def _load():
    with open("adopt-was-here.txt", "w") as fh:
        fh.write("x")
    return 1


CACHE = _load()


def double(x: int) -> int:
    return 2 * x
'''


@pytest.mark.parametrize("source, says", [
    ("print('hello')\n\ndef double(x: int) -> int:\n    return 2 * x\n", "runs at import time"),
    (SIDE_EFFECT_HIDDEN, "for writing"),
])
def test_d_import_time_side_effects_refused(git_repo: Path, source: str, says: str) -> None:
    from pdd.adopt import static_side_effects

    write_file(git_repo, "effects.py", source, dedent=False)
    write_file(git_repo, "tests/test_effects.py", "from effects import double\n\ndef test_double():\n"
               "    assert double(2) == 4\n", dedent=False)
    commit_all(git_repo, "code")
    if source is SIDE_EFFECT_HIDDEN:
        assert static_side_effects(source, "effects.py") == []  # only the observed import catches this one
        # ... and the import really does write when run unobserved (the attack works):
        scratch = git_repo.parent / "scratch"
        scratch.mkdir()
        subprocess.run([sys.executable, "-c", "import effects"], cwd=scratch, check=True,
                       env={"PYTHONPATH": str(git_repo), "PATH": "/usr/bin:/bin"})
        assert (scratch / "adopt-was-here.txt").exists()
    before = state(git_repo)
    script = AdoptScript([prompt_file(["tests/test_effects.py"])], lambda _t, _m: "def double(x):\n    return 2 * x\n")
    proc = run(git_repo, script, "adopt", "effects.py", "--yes")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "side effects at import time" in proc.stderr and says in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not script.draft_requests and not script.generation_requests
    assert state(git_repo) == before and not (git_repo / "adopt-was-here.txt").exists()


def test_d_no_tests_refused(git_repo: Path) -> None:
    write_file(git_repo, "lonely.py", "def f(x: int) -> int:\n    return x\n", dedent=False)
    script = AdoptScript([], lambda _t, _m: "")
    proc = run(git_repo, script, "adopt", "lonely.py")
    assert proc.returncode == 2 and "no tests" in proc.stderr and "--tests" in proc.stderr, proc.stderr


BASE = '''\
def normalize(text: str) -> str:
    return " ".join(text.split())
'''
FMT = '''\
from pkg.base import normalize


def title(text: str) -> str:
    return normalize(text).title()
'''
PKG_TESTS = '''\
from pkg.base import normalize
from pkg.fmt import title


def test_normalize():
    assert normalize("  a   b ") == "a b"


def test_title():
    assert title(" hello   world") == "Hello World"
'''


def pkg_prompt(tests: List[str], depends: List[str], what: str) -> str:
    return prompt_file(tests, depends).replace("Small text helpers.", what)


def test_e_package_adopted_in_dependency_order(git_repo: Path) -> None:
    write_file(git_repo, "pkg/__init__.py", "", dedent=False)
    write_file(git_repo, "pkg/fmt.py", FMT, dedent=False)
    write_file(git_repo, "pkg/base.py", BASE, dedent=False)
    write_file(git_repo, "tests/test_pkg.py", PKG_TESTS, dedent=False)
    commit_all(git_repo, "package")
    t = ["tests/test_pkg.py"]

    class Script(AdoptScript):
        def __call__(self, request: Dict) -> str:
            text = request_text(request)
            if "Adopting the hand-written module: pkg/base.py" in text:
                self.draft_requests.append("pkg/base.py")
                return pkg_prompt(t, [], "Whitespace normalisation.")
            if "Adopting the hand-written module: pkg/fmt.py" in text:
                self.draft_requests.append("pkg/fmt.py")
                assert "### generated.pkg.base" in text  # the dependency's interface is given
                return pkg_prompt(t, ["pkg/base"], "Titles.")
            self.generation_requests.append(text)
            if "Target module: generated.pkg.base" in text:
                return fence(BASE)
            assert "def normalize(text: str) -> str" in text  # interface of the adopted dependency
            return fence("from generated.pkg.base import normalize\n\n\ndef title(text: str) -> str:\n"
                         "    return normalize(text).title()\n")

    script = Script([], lambda _t, _m: "")
    proc = run(git_repo, script, "adopt", "pkg", "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert script.draft_requests == ["pkg/base.py", "pkg/fmt.py"]  # leaves first
    assert "from generated.pkg.base import *" in (git_repo / "pkg/base.py").read_text()
    assert "from generated.pkg.fmt import *" in (git_repo / "pkg/fmt.py").read_text()
    assert (git_repo / "pkg/__init__.py").read_text() == ""
    assert "depends: [\"pkg/base\"]" in (git_repo / "prompts/pkg/fmt.prompt").read_text()
    for rel in ("generated/pkg/base.py", "generated/pkg/fmt.py"):
        (record,) = note_records(git_repo, rel)
        assert record["adopted"]["examples_agreed"] > 0
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=git_repo,
                           capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout
    again = run(git_repo, script, "adopt", "pkg", "--yes")
    assert again.returncode == 0 and "already adopted" in again.stderr, again.stderr


def test_dry_run_and_declined_change_nothing(repo: Path) -> None:
    before = state(repo)
    script = AdoptScript([prompt_file(["tests/test_textutil.py"], extra=PRECISE)],
                         lambda text, _m: RIGHT if "runs of whitespace" in text else WRONG)
    dry = run(repo, script, "adopt", "textutil.py", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    (report,) = json.loads(dry.stdout)
    assert report["outcome"] == "dry-run" and report["examples_agreed"] > 0
    assert "--- prompts/textutil.prompt" in dry.stderr  # the prompt and the evidence are shown
    assert state(repo) == before and not (repo / ".pdd/adopt").exists()
    declined = run(repo, script, "adopt", "textutil.py")  # no terminal, no --yes: not applied
    assert declined.returncode == 1 and "pass --yes" in declined.stderr and "declined" in declined.stderr
    assert state(repo) == before
