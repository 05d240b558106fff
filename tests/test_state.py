"""In-process tests of the one judge of module state (pdd.provenance.state.judge), of
``pdd check``'s engine and of ``pdd status``'s states, in real git repositories with
real notes."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pygit2
import pytest

from conftest import commit_all, git, init_git_repo, write_file
from pdd.check import run_check
from pdd.config import parse_config
from pdd.fingerprint import compute_fingerprint, generator_for
from pdd.notes import NotesWriter
from pdd.prompt import INIT_TEXT, parse_prompt
from pdd.provenance.record import FETCH_NOTES_HINT, NoteRecord
from pdd.provenance.source import Notes, WorktreeSource, snapshot
from pdd.provenance.state import STATUS_FIX, ModuleState, State, judge, matching_record
from pdd.render import render_prompt

PROMPT = "prompts/m.prompt"
OUT = "generated/m.py"


class Render:
    """A render callable that counts its calls (the fast path must not render)."""

    def __init__(self, root: Path, spec) -> None:
        self.root, self.spec, self.calls = root, spec, 0

    def __call__(self) -> str:
        self.calls += 1
        return render_prompt(self.spec, self.root, "prompts").text


@pytest.fixture
def mod(tmp_path):
    """A repository with one module m, built by hand exactly as `pdd build` notes it, committed."""
    root = init_git_repo(tmp_path / "repo")
    write_file(root, PROMPT, "Write m.\n")
    write_file(root, OUT, "def f():\n    return 1\n")
    write_file(root, "behavior_tests/test_m.py", "def test_f():\n    pass\n")
    spec = parse_prompt((root / PROMPT).read_text(), path=PROMPT, name="m")
    config = parse_config(None, {})
    gen = generator_for(spec, config)
    fp = compute_fingerprint(spec, render_prompt(spec, root, "prompts").text, gen, {}, {})
    commit_all(root)
    record = NoteRecord(path=OUT, prompt=PROMPT, prompt_blob=git(root, "rev-parse", f"HEAD:{PROMPT}"), fingerprint=fp,
                        inputs={"includes": {}, "deps": {}, "generator": gen.to_json()}, time="2026-01-01T00:00:00Z")
    return dataclasses.make_dataclass("Mod", ["root", "spec", "config", "gen", "fp", "record"])(
        root, spec, config, gen, fp, record)


def note(root: Path, path: str, record: NoteRecord) -> None:
    w = NotesWriter(pygit2.Repository(str(root)))
    w.add(git(root, "hash-object", "--", path), record)
    w.flush()


def judged(m, kind: str = "index", *, generator=None, deps=None, untested=None, outcome=None,
           want_fingerprint=False) -> tuple[ModuleState, int]:
    notes = Notes(m.root)
    try:
        source = WorktreeSource(m.root, notes) if kind == "files" else snapshot(m.root, kind)
        source.notes = notes
        render = Render(m.root, m.spec)
        st = judge(m.spec, source, have_notes=notes.exists, generator=generator or m.gen,
                   deps={} if deps is None else deps, uses={}, render=render, untested=untested, outcome=outcome,
                   want_fingerprint=want_fingerprint)
        return st, render.calls
    finally:
        notes.close()


ALL_KINDS = ("index", "HEAD", "worktree", "files")


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_fresh_by_the_fast_path_renders_nothing(mod, kind):
    note(mod.root, OUT, mod.record)
    st, renders = judged(mod, kind)
    assert (st.state, st.why, renders) == ("fresh", "genuine and up to date", 0)
    assert st.fingerprint == mod.fp and st.note == mod.record and st.reason == "genuine and up to date"


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_fresh_by_the_fingerprint_when_the_manifest_cannot_say(mod, kind):
    # computed includes (None): the recorded manifest cannot decide; the fingerprint does, rendered once
    note(mod.root, OUT, dataclasses.replace(mod.record, inputs={**mod.record.inputs, "includes": None}))
    st, renders = judged(mod, kind)
    assert (st.state, renders, st.fingerprint) == ("fresh", 1, mod.fp)


def test_missing_unknown_and_edited(mod):
    st, _ = judged(mod)
    assert st.state == "unknown" and FETCH_NOTES_HINT in st.why  # no notes ref: never "edited"
    note(mod.root, "behavior_tests/test_m.py", NoteRecord(path="elsewhere"))  # now a notes ref exists
    st, _ = judged(mod)
    assert st.state == "edited" and "has no pdd note for this path: edited by hand" in st.why
    assert st.reason.endswith(f"run `pdd fix {OUT}` or `pdd build --force m`")
    note(mod.root, OUT, dataclasses.replace(mod.record, path="generated/copy.py"))
    st, _ = judged(mod)
    assert st.state == "edited" and st.why == "its note names generated/copy.py, not this path (copied or renamed by hand?)"
    git(mod.root, "rm", "-q", OUT)
    st, _ = judged(mod)
    assert (st.state, st.why, st.reason) == ("missing", "no generated file", "no generated file; run `pdd build m`")


def test_status_wants_the_fingerprint_in_every_state(mod):
    git(mod.root, "rm", "-q", OUT)
    st, renders = judged(mod, "files")
    assert (st.state, st.fingerprint, renders) == ("missing", None, 0)  # check and the hook: nothing rendered
    st, renders = judged(mod, "files", want_fingerprint=True)
    assert (st.state, st.fingerprint, renders) == ("missing", mod.fp, 1)  # status: rendered, so a bad prompt is exit 2
    st, renders = judged(mod, "files", want_fingerprint=True, deps="dependency d has no usable generated module")
    assert (st.state, st.fingerprint, renders) == ("missing", None, 0)


def test_untested_and_failing(mod):
    note(mod.root, OUT, mod.record)
    st, _ = judged(mod, untested="its behavior tests behavior_tests/test_m.py are missing")
    assert st.state == "untested" and st.note == mod.record
    failed = {"status": "failed", "tests": "failed", "fingerprint": mod.fp, "error": "1 test failed"}
    st, renders = judged(mod, "files", outcome=failed)
    assert (st.state, st.why, renders) == ("failing", "the last build's behavior tests failed: 1 test failed", 0)
    st, _ = judged(mod, "files", outcome={**failed, "fingerprint": "an older one"})
    assert st.state == "fresh"  # the failure was of other inputs


@pytest.mark.parametrize("computed_includes", [False, True])
def test_generator_changed_fast_and_slow(mod, computed_includes):
    other = dataclasses.replace(mod.gen, model="another-model")
    rec = dataclasses.replace(mod.record, inputs={**mod.record.inputs, "includes": None}) if computed_includes else mod.record
    note(mod.root, OUT, rec)
    st, renders = judged(mod, "worktree", generator=other)
    assert (st.state, renders, st.note) == ("generator-changed", 1 if computed_includes else 0, rec)
    assert st.why.startswith("built with another generator (model recorded -> another-model)")
    assert st.reason.endswith("`pdd build --force m` regenerates it")


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_stale_says_what_changed(mod, kind):
    note(mod.root, OUT, mod.record)
    write_file(mod.root, PROMPT, "Write m, differently.\n")
    git(mod.root, "add", PROMPT)
    commit_all(mod.root, "prompt changed")
    mod.spec = parse_prompt((mod.root / PROMPT).read_text(), path=PROMPT, name="m")
    st, renders = judged(mod, kind)
    assert (st.state, st.why, renders) == ("stale", "prompt changed", 1)
    assert st.reason == "prompt changed; run `pdd build`" and st.fingerprint != mod.fp


def test_stale_for_a_dependency(mod):
    rec = dataclasses.replace(mod.record, inputs={**mod.record.inputs, "deps": {"d": "old digest"}})
    note(mod.root, OUT, rec)
    st, _ = judged(mod, deps={"d": "new digest"})
    assert st.state == "stale" and "a dependency's interface changed" in st.why
    st, renders = judged(mod, deps="dependency d has no usable generated module")
    assert (st.state, st.why, renders) == ("stale", "dependency d has no usable generated module", 0)


def test_the_fast_path_finds_the_newest_matching_record(mod):
    older = dataclasses.replace(mod.record, inputs={**mod.record.inputs, "generator": {"model": "old"}})
    notes = Notes(mod.root)
    snap = snapshot(mod.root, "index")
    try:
        got, same = matching_record(mod.spec, snap, [mod.record, older], mod.gen.to_json(), {}, {})
        assert got == mod.record and same
        got, same = matching_record(mod.spec, snap, [older], mod.gen.to_json(), {}, {})
        assert got == older and not same
        assert matching_record(mod.spec, snap, [mod.record], mod.gen.to_json(), {"d": "x"}, {}) == (None, False)
    finally:
        notes.close()


def test_a_renamed_prompt_is_stale_not_fresh_by_its_old_note(mod):
    """A prompt moved to another path (same blob, same output) is another module: its
    fingerprint covers the module name, so the old note's manifest must not make it fresh
    (review finding: status and explain said fresh and showed the old fingerprint)."""
    git(mod.root, "mv", PROMPT, "prompts/n.prompt")
    moved = dataclasses.replace(mod.spec, path="prompts/n.prompt", name="n")  # as with `output: generated/m.py`
    assert moved.output == OUT
    note(mod.root, OUT, mod.record)
    snap = snapshot(mod.root, "index")
    try:
        assert matching_record(moved, snap, [mod.record], mod.gen.to_json(), {}, {}) == (None, False)
    finally:
        snap.reader.close()
    renamed = dataclasses.replace(mod, spec=moved)
    for kind in ("index", "files"):
        st, calls = judged(renamed, kind, want_fingerprint=True)
        assert st.state == "stale" and calls == 1, (kind, st)
        assert st.fingerprint != mod.fp


def test_every_state_has_one_literal_and_a_status_hint():
    states = typing.get_args(State)
    assert len(states) == len(set(states)) == 10
    assert set(STATUS_FIX) <= set(states)


# --- check (the hook's engine) in-process ---------------------------------------------------


def test_check_in_process_fresh_then_stale_then_edited(mod):
    write_file(mod.root, "generated/__init__.py", INIT_TEXT)
    commit_all(mod.root)
    note(mod.root, OUT, mod.record)
    for kind, checked in (({}, 1), ({"staged": True}, 0), ({"rev": "HEAD"}, 1)):  # nothing staged: nothing to check
        result = run_check(mod.root, environ={}, **kind)
        assert result.exit_code == 0 and result.checked == checked and not result.problems, (kind, result.problems)
    write_file(mod.root, PROMPT, "Write m, differently.\n")
    git(mod.root, "add", PROMPT)
    result = run_check(mod.root, environ={}, staged=True)
    assert [(p.state, p.message) for p in result.problems] == [("stale", f"{OUT} is stale: prompt changed")]
    write_file(mod.root, OUT, "def f():\n    return 2\n")
    git(mod.root, "add", OUT)
    result = run_check(mod.root, environ={}, staged=True)
    assert [p.state for p in result.problems] == ["edited"]  # one state per module: a hand edit wins
    assert result.problems[0].message.startswith(f"{OUT} is not genuine: its blob ")
    assert result.exit_code == 1
