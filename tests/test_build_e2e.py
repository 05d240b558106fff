"""End-to-end tests of ``pdd build`` (and ``status``/``init``) through the real CLI.

Every test runs ``python -m pdd`` as a subprocess in a temporary git repository
against the fake model server (tests/fakeserver.py), which answers by the
request's ``Target module:`` line (conftest.ModuleAnswers).

The sample project: ``billing/invoice`` depends on ``billing/money``;
``text/slug`` is independent.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from conftest import (
    FAST_BEHAVIOR_TESTS,
    NOTES_REF,
    commit_all,
    git,
    note_records,
    notes_list,
    notes_ref,
    request_modules,
    request_text,
    requests_by_module,
    requests_for,
    snapshot_files,
    write_file,
    write_prompt,
    write_test,
)

MONEY = "billing/money"
INVOICE = "billing/invoice"
SLUG = "text/slug"

MONEY_PY = "generated/billing/money.py"
INVOICE_PY = "generated/billing/invoice.py"
SLUG_PY = "generated/text/slug.py"
OUTPUTS = {MONEY: MONEY_PY, INVOICE: INVOICE_PY, SLUG: SLUG_PY}

MONEY_CODE = '''\
"""Amounts of money in integer cents."""

__all__ = ["add_cents"]


def add_cents(a: int, b: int) -> int:
    """The sum of two amounts in cents."""
    return a + b
'''

# Same public interface, different body.
MONEY_CODE_BODY_CHANGED = '''\
"""Amounts of money in integer cents."""

__all__ = ["add_cents"]


def add_cents(a: int, b: int) -> int:
    """The sum of two amounts in cents."""
    return sum((a, b))
'''

# A new public function: the interface changes.
MONEY_CODE_IFACE_CHANGED = MONEY_CODE.replace('__all__ = ["add_cents"]', '__all__ = ["add_cents", "neg_cents"]') + '''

def neg_cents(a: int) -> int:
    """The opposite amount."""
    return -a
'''

INVOICE_CODE = '''\
"""Invoice totals."""

from generated.billing.money import add_cents

__all__ = ["total"]


def total(items: list[int]) -> int:
    """The total of item prices in cents."""
    result = 0
    for item in items:
        result = add_cents(result, item)
    return result
'''

SLUG_CODE = '''\
"""URL slugs."""

__all__ = ["slugify"]


def slugify(text: str) -> str:
    """Lower-case words joined by hyphens."""
    return "-".join(text.lower().split())
'''

SLUG_CODE_BUGGY = '''\
"""URL slugs."""

__all__ = ["slugify"]


def slugify(text: str) -> str:
    """Lower-case words joined by hyphens."""
    return "-".join(text.split())
'''

MONEY_TEST = '''\
from generated.billing.money import add_cents


def test_add_cents():
    assert add_cents(150, 250) == 400
'''

INVOICE_TEST = '''\
from generated.billing.invoice import total


def test_total():
    assert total([100, 250, 5]) == 355
    assert total([]) == 0
'''

SLUG_TEST = '''\
from generated.text.slug import slugify


def test_slugify_lowercases_and_joins():
    assert slugify("Hello World") == "hello-world"
'''

MONEY_PROMPT = """\
# Goal
Amounts of money as integer cents.

# Inputs/Outputs
`add_cents(a: int, b: int) -> int` returns the sum.
"""

INVOICE_PROMPT = """\
# Goal
Invoice totals built on {{ 'generated.billing.money' }}.

# Inputs/Outputs
`total(items: list[int]) -> int` adds the item prices with `add_cents`.

{% include "_shared/python_style.md" %}
"""

SLUG_PROMPT = """\
# Goal
`slugify(text: str) -> str`: lower-case words joined by hyphens.
"""


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@pytest.fixture
def run_pdd(run_pdd):
    """conftest's run_pdd, with behavior-test runs spared the hypothesis plugin (speed)."""

    def _run(repo, *args, env=None, **kw):
        return run_pdd(repo, *args, env={**FAST_BEHAVIOR_TESTS, **(env or {})}, **kw)

    return _run


def make_project(repo, answers, *, tests=True):
    """Write the three prompts (and their behavior tests) and configure the answers."""
    write_prompt(repo, MONEY, MONEY_PROMPT)
    write_prompt(repo, INVOICE, INVOICE_PROMPT, depends=[MONEY])
    write_prompt(repo, SLUG, SLUG_PROMPT)
    if tests:
        write_test(repo, "money", MONEY_TEST)
        write_test(repo, "invoice", INVOICE_TEST)
        write_test(repo, "slug", SLUG_TEST)
    answers.update({MONEY: MONEY_CODE, INVOICE: INVOICE_CODE, SLUG: SLUG_CODE})


def ok(proc, code=0):
    """Assert the exit code, showing the output when it differs."""
    assert proc.returncode == code, f"exit {proc.returncode} (wanted {code})\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    return proc


def status_map(run_pdd, repo):
    proc = ok(run_pdd(repo, "status", "--json"))
    data = json.loads(proc.stdout)
    return {(m["module"] or m["path"]): m for m in data["modules"]}


def mtimes(repo, paths):
    return {p: (repo / p).stat().st_mtime_ns for p in paths}


def built_repo(git_repo, answers, run_pdd, *args):
    """The sample project, built once (tests off unless asked) — the start of many tests."""
    make_project(git_repo, answers)
    ok(run_pdd(git_repo, "build", *(args or ("--no-tests",))))
    return git_repo


# ---------------------------------------------------------------------------
# first build, no-op rebuild, early cutoff
# ---------------------------------------------------------------------------


def test_first_build_writes_modules_packages_and_notes_in_dependency_order(git_repo, answers, run_pdd, fake_server):
    make_project(git_repo, answers)

    proc = ok(run_pdd(git_repo, "build", "--jobs", "2"))

    for rel, code in ((MONEY_PY, MONEY_CODE), (INVOICE_PY, INVOICE_CODE), (SLUG_PY, SLUG_CODE)):
        assert (git_repo / rel).read_text(encoding="utf-8") == code
    for pkg in ("generated/__init__.py", "generated/billing/__init__.py", "generated/text/__init__.py"):
        assert (git_repo / pkg).is_file(), pkg

    # one request per module; the dependency's request came (and was answered) before the dependent's
    order = request_modules(fake_server)
    assert sorted(order) == sorted([MONEY, INVOICE, SLUG])
    assert order.index(MONEY) < order.index(INVOICE)
    # the dependent saw the dependency's public interface, not its body
    invoice_request = request_text(requests_for(fake_server, INVOICE)[0])
    assert "generated.billing.money" in invoice_request
    assert "def add_cents(a: int, b: int) -> int:" in invoice_request
    assert "return a + b" not in invoice_request

    # a note on each generated blob, naming its path and provenance
    noted = notes_list(git_repo)
    for name, rel in OUTPUTS.items():
        blob = git(git_repo, "hash-object", rel)
        assert blob in noted, f"no note on {rel}"
        (record,) = note_records(git_repo, blob)
        assert record["path"] == rel
        assert record["prompt"] == f"prompts/{name}.prompt"
        assert record["prompt_blob"] == git(git_repo, "hash-object", f"prompts/{name}.prompt")
        assert re.fullmatch(r"[0-9a-f]{64}", record["fingerprint"])
        assert record["backend"] == "openai"
        assert record["model"] == "fake-model"
        assert record["tests"] == "passed"
        assert record["attempts"] == 1
    assert "built" in proc.stderr
    assert {m: s["state"] for m, s in status_map(run_pdd, git_repo).items()} == {
        MONEY: "fresh", INVOICE: "fresh", SLUG: "fresh"}


def test_noop_rebuild_makes_no_request_and_touches_nothing(git_repo, answers, run_pdd, fake_server):
    built_repo(git_repo, answers, run_pdd)
    count = fake_server.request_count
    notes_before = notes_ref(git_repo)
    generated_before = mtimes(git_repo, [p for p in snapshot_files(git_repo, "generated")])

    proc = ok(run_pdd(git_repo, "build"))

    assert fake_server.request_count == count
    assert mtimes(git_repo, generated_before) == generated_before
    assert notes_ref(git_repo) == notes_before
    assert "3 fresh" in proc.stderr


def test_dependency_body_change_rebuilds_only_the_dependency(git_repo, answers, run_pdd, fake_server):
    built_repo(git_repo, answers, run_pdd)
    invoice_before = (git_repo / INVOICE_PY).read_bytes()
    invoice_notes_before = note_records(git_repo, INVOICE_PY)

    # body-only spec change: the interface of the new module is the same
    write_prompt(git_repo, MONEY, MONEY_PROMPT + "\n# Constraints\nAdd with the built-in `sum`.\n")
    answers[MONEY] = MONEY_CODE_BODY_CHANGED
    since = fake_server.request_count
    ok(run_pdd(git_repo, "build", "--no-tests"))

    assert requests_by_module(fake_server, since) == {MONEY: 1}
    assert (git_repo / MONEY_PY).read_text(encoding="utf-8") == MONEY_CODE_BODY_CHANGED
    assert note_records(git_repo, MONEY_PY), "the regenerated dependency has a note"
    assert (git_repo / INVOICE_PY).read_bytes() == invoice_before
    assert note_records(git_repo, INVOICE_PY) == invoice_notes_before
    assert status_map(run_pdd, git_repo)[INVOICE]["state"] == "fresh"


def test_dependency_interface_change_rebuilds_the_dependent(git_repo, answers, run_pdd, fake_server):
    built_repo(git_repo, answers, run_pdd)
    old_fingerprint = note_records(git_repo, INVOICE_PY)[0]["fingerprint"]

    write_prompt(git_repo, MONEY, MONEY_PROMPT + "`neg_cents(a: int) -> int` returns the opposite amount.\n")
    answers[MONEY] = MONEY_CODE_IFACE_CHANGED
    since = fake_server.request_count
    ok(run_pdd(git_repo, "build", "--no-tests"))

    assert requests_by_module(fake_server, since) == {MONEY: 1, INVOICE: 1}
    # the dependent was asked with the new interface
    assert "def neg_cents(a: int) -> int:" in request_text(requests_for(fake_server, INVOICE)[-1])
    fingerprints = {r["fingerprint"] for r in note_records(git_repo, INVOICE_PY)}
    assert old_fingerprint in fingerprints and len(fingerprints) == 2
    assert {s["state"] for s in status_map(run_pdd, git_repo).values()} == {"fresh"}


# ---------------------------------------------------------------------------
# behavior tests: retry with feedback, giving up
# ---------------------------------------------------------------------------


def test_failing_test_is_fixed_on_the_second_attempt_with_the_failure_as_feedback(git_repo, answers, run_pdd, fake_server):
    write_prompt(git_repo, SLUG, SLUG_PROMPT)
    write_test(git_repo, "slug", SLUG_TEST)
    answers[SLUG] = [SLUG_CODE_BUGGY, SLUG_CODE]

    ok(run_pdd(git_repo, "build"))

    first, second = requests_for(fake_server, SLUG)
    assert fake_server.request_count == 2
    feedback = request_text(second)
    assert "'Hello-World'" in feedback and "hello-world" in feedback  # pytest's assertion output
    assert "test_slugify_lowercases_and_joins" in feedback
    assert "'Hello-World'" not in request_text(first)
    assert (git_repo / SLUG_PY).read_text(encoding="utf-8") == SLUG_CODE
    (record,) = note_records(git_repo, SLUG_PY)
    assert record["attempts"] == 2 and record["tests"] == "passed"


def test_gives_up_after_attempts_and_keeps_the_previous_genuine_file(git_repo, answers, run_pdd, fake_server):
    write_prompt(git_repo, SLUG, SLUG_PROMPT)
    write_test(git_repo, "slug", SLUG_TEST)
    answers[SLUG] = SLUG_CODE
    ok(run_pdd(git_repo, "build", "--no-tests"))
    before = (git_repo / SLUG_PY).read_bytes()
    notes_before = notes_ref(git_repo)
    listed_before = notes_list(git_repo)

    write_prompt(git_repo, SLUG, SLUG_PROMPT + "\n# Constraints\nCollapse runs of spaces.\n")
    answers[SLUG] = [SLUG_CODE_BUGGY, SLUG_CODE_BUGGY, SLUG_CODE]
    since = fake_server.request_count
    proc = ok(run_pdd(git_repo, "build", "--attempts", "2"), 1)

    assert requests_by_module(fake_server, since) == {SLUG: 2}
    assert (git_repo / SLUG_PY).read_bytes() == before
    assert notes_ref(git_repo) == notes_before
    assert notes_list(git_repo) == listed_before
    assert "gave up after 2 attempt(s)" in proc.stderr
    assert "'Hello-World'" in proc.stderr  # the last failure is shown
    assert status_map(run_pdd, git_repo)[SLUG]["state"] == "failing"


# ---------------------------------------------------------------------------
# cache
# ---------------------------------------------------------------------------


def test_cache_hit_restores_a_deleted_module_without_a_request(git_repo, answers, run_pdd, fake_server):
    write_prompt(git_repo, SLUG, SLUG_PROMPT)
    answers[SLUG] = SLUG_CODE
    ok(run_pdd(git_repo, "build", "--no-tests"))
    original = (git_repo / SLUG_PY).read_bytes()
    assert list((git_repo / ".pdd/cache").rglob("*.json"))

    (git_repo / SLUG_PY).unlink()
    answers[SLUG] = "raise SystemExit('the cache should have answered')\n"  # a request would change the file
    ok(run_pdd(git_repo, "build", "--no-tests"))
    assert fake_server.request_count == 1
    assert (git_repo / SLUG_PY).read_bytes() == original

    (git_repo / SLUG_PY).unlink()
    shutil.rmtree(git_repo / ".pdd/cache")
    answers[SLUG] = SLUG_CODE
    ok(run_pdd(git_repo, "build", "--no-tests"))
    assert fake_server.request_count == 2
    assert (git_repo / SLUG_PY).read_bytes() == original


# ---------------------------------------------------------------------------
# bad input: exit 2, file:line, nothing written
# ---------------------------------------------------------------------------

BAD_PROMPTS = {
    "unknown_key": (
        {"bad": "---\ndepends: []\ncolour: red\n---\n# Goal\nx\n"},
        r"prompts/bad\.prompt:3: .*unknown front-matter key 'colour'",
    ),
    "malformed_yaml": (
        {"bad": "---\ndepends: [good\ntests: []\nuntested_reason: not about behavior\n---\n# Goal\nx\n"},
        r"prompts/bad\.prompt:\d+: malformed YAML",
    ),
    "missing_include": (
        {"bad": "---\ntests: []\nuntested_reason: not about behavior\n---\n# Goal\nx\n\n{% include \"_shared/nope.md\" %}\n"},
        r"prompts/bad\.prompt:8: included file '_shared/nope\.md' not found",
    ),
    "cycle": (
        {
            "cyc/a": "---\ndepends: [cyc/b]\n---\n# Goal\na\n",
            "cyc/b": "---\ndepends: [cyc/c]\n---\n# Goal\nb\n",
            "cyc/c": "---\ndepends: [cyc/a]\n---\n# Goal\nc\n",
        },
        r"prompts/cyc/a\.prompt:2: dependency cycle: cyc/a -> cyc/b -> cyc/c -> cyc/a",
    ),
    "output_outside_generated": (
        {"bad": "---\ntests: []\nuntested_reason: not about behavior\noutput: src/bad.py\n---\n# Goal\nx\n"},
        r"prompts/bad\.prompt:4: output path 'src/bad\.py' is outside generated/",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PROMPTS))
def test_bad_prompt_files_exit_2_naming_file_and_line_and_write_nothing(case, git_repo, answers, run_pdd, fake_server):
    prompts, pattern = BAD_PROMPTS[case]
    # a good module next to the bad one(s): it must not be built either
    write_prompt(git_repo, "good", "# Goal\nA good module.\n")
    answers["good"] = "X = 1\n"
    for name, raw in prompts.items():
        write_prompt(git_repo, name, raw=raw)
    generated_before = snapshot_files(git_repo, "generated")

    proc = ok(run_pdd(git_repo, "build"), 2)

    assert re.search(pattern, proc.stderr), proc.stderr
    assert snapshot_files(git_repo, "generated") == generated_before
    assert notes_ref(git_repo) is None
    assert fake_server.request_count == 0
    # status reports the same error
    status = ok(run_pdd(git_repo, "status"), 2)
    assert re.search(pattern, status.stderr), status.stderr


# ---------------------------------------------------------------------------
# hand edits
# ---------------------------------------------------------------------------


def test_hand_edited_module_is_not_overwritten_until_forced(git_repo, answers, run_pdd, fake_server):
    write_prompt(git_repo, SLUG, SLUG_PROMPT)
    write_test(git_repo, "slug", SLUG_TEST)  # a module without behavior tests is `untested`, not fresh
    answers[SLUG] = SLUG_CODE
    ok(run_pdd(git_repo, "build", "--no-tests"))
    edited = SLUG_CODE.replace('"-".join', '"_".join')
    (git_repo / SLUG_PY).write_text(edited, encoding="utf-8")
    write_prompt(git_repo, SLUG, SLUG_PROMPT + "\nNote: hyphens, never underscores.\n")  # stale AND edited

    proc = ok(run_pdd(git_repo, "build", "--no-tests"), 1)
    assert "edited by hand" in proc.stderr
    assert "pdd fix" in proc.stderr and "--force" in proc.stderr
    assert (git_repo / SLUG_PY).read_text(encoding="utf-8") == edited
    assert status_map(run_pdd, git_repo)[SLUG]["state"] == "edited"
    text_status = ok(run_pdd(git_repo, "status"))
    assert re.search(r"^edited\s+generated/text/slug\.py", text_status.stdout, re.M)

    proc = ok(run_pdd(git_repo, "build", "--no-tests", "--force", SLUG))
    assert (git_repo / SLUG_PY).read_text(encoding="utf-8") == SLUG_CODE
    backups = list((git_repo / ".pdd/backup").rglob("*"))
    backups = [p for p in backups if p.is_file()]
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == edited
    assert backups[0].relative_to(git_repo / ".pdd/backup").as_posix().startswith("generated/text/slug.py")
    assert ".pdd/backup/" in proc.stderr
    assert status_map(run_pdd, git_repo)[SLUG]["state"] == "fresh"


# ---------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------


def test_status_json_reports_fresh_stale_missing_orphan_edited(git_repo, answers, run_pdd):
    built_repo(git_repo, answers, run_pdd)
    write_prompt(git_repo, SLUG, SLUG_PROMPT + "\nAlso strip punctuation.\n")        # stale
    with open(git_repo / MONEY_PY, "a", encoding="utf-8") as fh:                   # edited (same interface)
        fh.write("# tweaked by hand\n")
    write_prompt(git_repo, "extra", "# Goal\nNot built yet.\n")                     # missing
    write_file(git_repo, "generated/old/thing.py", "VALUE = 1\n")                  # orphan

    states = status_map(run_pdd, git_repo)

    assert {k: v["state"] for k, v in states.items()} == {
        INVOICE: "fresh",
        MONEY: "edited",
        SLUG: "stale",
        "extra": "missing",
        "generated/old/thing.py": "orphan",
    }
    assert "prompt changed" in states[SLUG]["reason"]
    assert states["extra"]["path"] == "generated/extra.py"
    assert states["generated/old/thing.py"]["module"] is None
    assert all(re.fullmatch(r"[0-9a-f]{64}", states[m]["fingerprint"]) for m in (INVOICE, MONEY, SLUG, "extra"))


# ---------------------------------------------------------------------------
# record / replay
# ---------------------------------------------------------------------------


def test_record_then_replay_in_a_fresh_clone_rebuilds_identical_bytes(git_repo, answers, run_pdd, fake_server, tmp_path):
    make_project(git_repo, answers)  # with behavior tests: a module without them is `untested`
    ok(run_pdd(git_repo, "build", "--no-tests", "--record"))
    recordings = sorted((git_repo / ".pdd/recordings").glob("*.json"))
    assert len(recordings) == 3
    assert json.loads(recordings[0].read_text(encoding="utf-8"))["label"] == "recorded response"
    commit_all(git_repo, "build")  # --no-verify: the hook is not under test here
    originals = snapshot_files(git_repo, "generated")

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    git(clone, "fetch", "-q", "origin", f"{NOTES_REF}:{NOTES_REF}")
    git(clone, "config", "user.name", "pdd tests")
    git(clone, "config", "user.email", "pdd-tests@example.invalid")
    assert not (clone / ".pdd/cache").exists()
    (clone / SLUG_PY).unlink()
    (clone / MONEY_PY).unlink()

    count = fake_server.request_count
    replay = {"PDD_BACKEND": "replay"}
    ok(run_pdd(clone, "build", "--no-tests", env=replay))
    assert fake_server.request_count == count
    assert snapshot_files(clone, "generated") == originals
    states = status_map(lambda *a, **k: run_pdd(*a, env=replay, **k), clone)
    # the two rebuilt by replay are fresh; the kept one was built by openai: generator-changed, not stale
    assert {n: s["state"] for n, s in states.items()} == {SLUG: "fresh", MONEY: "fresh", INVOICE: "generator-changed"}

    # a prompt change with no recording: a clear backend failure, exit 3
    write_prompt(clone, SLUG, SLUG_PROMPT + "\nChanged after recording.\n")
    proc = ok(run_pdd(clone, "build", "--no-tests", env=replay), 3)
    assert "no recorded response" in proc.stderr and SLUG in proc.stderr
    assert (clone / SLUG_PY).read_bytes() == originals[SLUG_PY]
    assert fake_server.request_count == count


# ---------------------------------------------------------------------------
# init
# ---------------------------------------------------------------------------


def test_init_outside_a_git_repository_exits_2(tmp_path, run_pdd):
    outside = tmp_path / "plain"
    outside.mkdir()
    proc = ok(run_pdd(outside, "init", env={"GIT_CEILING_DIRECTORIES": str(tmp_path)}), 2)
    assert "not inside a git working tree" in proc.stderr
    assert list(outside.iterdir()) == []


def test_init_twice_changes_nothing(git_repo, run_pdd):
    for rel in (".pdd/config.yaml", ".pdd/.gitignore", ".gitattributes", "generated/__init__.py",
                "prompts/_shared/python_style.md"):
        assert (git_repo / rel).is_file(), rel
    assert (git_repo / "behavior_tests").is_dir()
    assert git(git_repo, "config", "--get", "notes.pdd.mergeStrategy") == "cat_sort_uniq"
    before = snapshot_files(git_repo, skip=("__pycache__",))
    assert ".git/config" in before

    proc = ok(run_pdd(git_repo, "init"))

    assert snapshot_files(git_repo, skip=("__pycache__",)) == before
    assert "nothing to do" in proc.stdout


# ---------------------------------------------------------------------------
# configuration errors
# ---------------------------------------------------------------------------


def test_missing_api_key_is_a_configuration_error_exit_2(git_repo, answers, run_pdd, fake_server):
    write_prompt(git_repo, SLUG, SLUG_PROMPT)
    answers[SLUG] = SLUG_CODE
    proc = run_pdd(git_repo, "build", "--no-tests", env={"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None})
    assert "OPENAI_API_KEY" in proc.stderr
    assert not (git_repo / SLUG_PY).exists()
    assert fake_server.request_count == 0
    ok(proc, 2)


def test_computed_include_name_still_makes_the_module_stale(git_repo, answers, run_pdd, fake_server):
    """An include whose name is computed is not in the note's input manifest, so the
    shortcut must not apply: changing that fragment makes the module stale."""
    from conftest import write_file

    write_file(git_repo, "prompts/_shared/calc_extra.md", "Extra rule one.\n")
    write_prompt(git_repo, "calc", '# Calc\n{% set n = "calc" %}{% include "_shared/" ~ n ~ "_extra.md" %}\n',
                 tests=[], front="untested_reason: this test is not about behavior")
    answers["calc"] = "X = 1\n"
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    before = fake_server.request_count
    write_file(git_repo, "prompts/_shared/calc_extra.md", "Extra rule two.\n")
    status = json.loads(run_pdd(git_repo, "status", "--json").stdout)
    assert {m["path"]: m["state"] for m in status["modules"]}["generated/calc.py"] == "stale"
    git(git_repo, "add", "-A")
    proc = run_pdd(git_repo, "check", "--staged")
    assert proc.returncode == 1 and "stale" in proc.stdout
    assert run_pdd(git_repo, "build", "--no-tests").returncode == 0
    assert fake_server.request_count == before + 1


def test_an_os_error_writing_a_module_fails_that_module_not_the_build(git_repo, answers, run_pdd):
    write_prompt(git_repo, SLUG, SLUG_PROMPT)
    write_prompt(git_repo, MONEY, MONEY_PROMPT)
    answers[SLUG] = SLUG_CODE
    answers[MONEY] = MONEY_CODE
    (git_repo / f"generated/{SLUG}.py").mkdir(parents=True)  # a folder where the module goes
    proc = run_pdd(git_repo, "build", "--no-tests")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "IsADirectoryError" in proc.stderr
    assert (git_repo / f"generated/{MONEY}.py").is_file()
    [run] = [json.loads(p.read_text()) for p in (git_repo / ".pdd/runs").glob("*.json")]
    assert run["exit_code"] == 1 and run["modules"][SLUG]["status"] == "error"
    assert run["modules"][MONEY]["status"] == "built"
