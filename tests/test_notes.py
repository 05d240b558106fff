"""Unit tests for pdd.notes in a real temporary git repository."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pygit2
import pytest

import pdd.notes as notes_mod
from pdd.notes import NotesError, NotesWriter
from pdd.provenance.record import NOTES_REF, SCHEMA_VERSION, NoteRecord, format_record, merge_note_text, parse_note, records_for_path
from pdd.provenance.source import Notes

_real_run = subprocess.run  # before any monkeypatching


def read_notes(repo: pygit2.Repository, blob: str) -> list[NoteRecord]:
    """The records on ``blob`` as the one reader (``Notes``) sees them."""
    notes = Notes(Path(repo.workdir))
    try:
        return notes.records(blob)
    finally:
        notes.close()


def notes_ref_exists(repo: pygit2.Repository) -> bool:
    return Notes(Path(repo.workdir)).exists


def git(cwd: Path, *args: str, input: str | None = None) -> str:
    proc = _real_run(["git", *args], cwd=cwd, input=input, capture_output=True, text=True)
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


@pytest.fixture
def repo(tmp_path) -> pygit2.Repository:
    r = pygit2.init_repository(str(tmp_path / "repo"), False)
    r.config["user.name"] = "Test"
    r.config["user.email"] = "test@example.com"
    return r


def workdir(repo: pygit2.Repository) -> Path:
    return Path(repo.workdir)


def blob(repo: pygit2.Repository, text: str) -> str:
    return str(repo.create_blob(text.encode()))


def note_show(repo: pygit2.Repository, blob_hex: str) -> str:
    return git(workdir(repo), "notes", "--ref", "pdd", "show", blob_hex)


def ref_commits(repo: pygit2.Repository) -> list[str]:
    if NOTES_REF not in repo.references:
        return []
    return git(workdir(repo), "rev-list", NOTES_REF).split()


def rec(path: str, **extra) -> NoteRecord:
    return NoteRecord.from_dict({"path": path, "fingerprint": "f" * 64, **extra, "schema": SCHEMA_VERSION})


# --- pure helpers ----------------------------------------------------------------


def test_format_record_is_compact_sorted_json():
    line = format_record({"b": 1, "a": "é", "c": None})
    assert line == '{"a":"é","b":1,"c":null}'
    assert "\n" not in format_record({"x": "multi\nline"})


def test_parse_note_skips_non_objects(capsys):
    text = '{"path":"a"}\n\nnot json\n[1,2]\n"str"\n  {"path":"b"}  \n'
    assert parse_note(text, where="note of blob t1") == [NoteRecord(path="a", schema=1), NoteRecord(path="b", schema=1)]
    err = capsys.readouterr().err
    # each malformed line is reported with its line number (the blank line 2 is not)
    assert "note of blob t1, line 3: not a JSON object (malformed)" in err
    assert "line 4: not a JSON object but list" in err and "line 5: not a JSON object but str" in err
    assert "line 2" not in err and "line 1" not in err and "line 6" not in err
    assert parse_note("") == []


def test_merge_note_text_sorted_unique():
    merged = merge_note_text('{"z":1}\n{"a":1}\n\n', ['{"m":1}', '{"a":1}'])
    assert merged == '{"a":1}\n{"m":1}\n{"z":1}\n'
    assert merge_note_text("", ["x"]) == "x\n"


def test_records_for_path_newest_last():
    records = [NoteRecord(path="a", time="2026-01-02"), NoteRecord(path="b", time="2026-01-03"),
               NoteRecord(path="a", time="2026-01-01"), NoteRecord(path="a")]
    out = records_for_path(records, "a")
    assert [r.time for r in out] == [None, "2026-01-01", "2026-01-02"]


# --- NotesWriter -----------------------------------------------------------------


def test_no_ref_reads_empty(repo):
    b = blob(repo, "x = 1\n")
    assert not notes_ref_exists(repo)
    assert read_notes(repo, b) == []


def test_flush_nothing_writes_nothing(repo):
    assert NotesWriter(repo).flush() == 0
    assert not notes_ref_exists(repo)


def test_one_commit_per_flush(repo):
    blobs = [blob(repo, f"v = {i}\n") for i in range(3)]
    w = NotesWriter(repo)
    for i, b in enumerate(blobs):
        w.add(b, rec(f"generated/m{i}.py"))
    w.add(blobs[0], rec("generated/copy.py"))
    assert ref_commits(repo) == []
    assert w.flush() == 3
    commits = ref_commits(repo)
    assert len(commits) == 1
    assert w.flush() == 0
    assert ref_commits(repo) == commits

    w.add(blobs[1], rec("generated/again.py"))
    assert w.flush() == 1
    commits2 = ref_commits(repo)
    assert len(commits2) == 2 and commits2[1] == commits[0]  # new commit on top of the old one

    msg = repo.references[NOTES_REF].peel(pygit2.Commit).message
    assert "pdd build" in msg


def test_notes_readable_by_git_and_pygit2(repo):
    b = blob(repo, "def f():\n    return 1\n")
    w = NotesWriter(repo)
    r1, r2 = rec("generated/a.py", model="m"), rec("generated/b.py", model="n")
    w.add(b, r2)
    w.add(b, r1)
    w.add(b, r1)  # duplicate line collapses
    w.flush()
    shown = note_show(repo, b)
    assert shown == r1.to_line() + "\n" + r2.to_line() + "\n"
    assert read_notes(repo, b) == [r1, r2]
    # the note is attached to the blob: git lists it
    listed = [ln.split() for ln in git(workdir(repo), "notes", "--ref", "pdd", "list").splitlines()]
    assert [obj for _, obj in listed] == [b]  # "<note blob> <annotated object>"


def test_existing_notes_kept_and_merged_sorted_unique(repo):
    b, other = blob(repo, "a = 1\n"), blob(repo, "b = 2\n")
    wd = workdir(repo)
    existing = rec("generated/zz.py").to_line()
    git(wd, "notes", "--ref", "pdd", "add", "-m", existing, b)
    git(wd, "notes", "--ref", "pdd", "add", "-m", rec("generated/other.py").to_line(), other)
    w = NotesWriter(repo)
    new = rec("generated/aa.py")
    w.add(b, new)
    w.add(b, rec("generated/zz.py"))  # same as the existing line
    w.flush()
    lines = note_show(repo, b).splitlines()
    assert lines == sorted(lines)
    assert lines == [new.to_line(), existing]
    # the untouched note is still there
    assert read_notes(repo, other) == [rec("generated/other.py")]


def test_non_json_lines_of_existing_note_kept(repo):
    b = blob(repo, "c = 3\n")
    git(workdir(repo), "notes", "--ref", "pdd", "add", "-m", "a human comment", b)
    w = NotesWriter(repo)
    w.add(b, rec("generated/c.py"))
    w.flush()
    shown = note_show(repo, b)
    assert "a human comment" in shown.splitlines()
    assert read_notes(repo, b) == [rec("generated/c.py")]


def _fanout_repo(repo: pygit2.Repository, count: int = 300) -> list[str]:
    """Note ``count`` blobs with git itself, so git writes a fanout notes tree."""
    wd = workdir(repo)
    blobs = [blob(repo, f"generated content {i}\n") for i in range(count)]
    git(wd, "notes", "--ref", "pdd", "add", "-m", "git-made note", blobs[0])
    pairs = "".join(f"{blobs[0]} {b}\n" for b in blobs[1:])
    git(wd, "notes", "--ref", "pdd", "copy", "--stdin", input=pairs)
    return blobs


def test_fanout_notes_tree(repo):
    old = _fanout_repo(repo)
    tree = repo.references[NOTES_REF].peel(pygit2.Commit).tree
    prefixes = {e.name for e in tree if e.type_str == "tree"}
    assert prefixes, "git should have switched to a fanout tree"
    assert all(len(p) == 2 for p in prefixes)

    # a new blob whose prefix folder exists, one whose prefix folder does not,
    # and an old blob that already has a (fanned-out) note
    in_folder = no_folder = None
    i = 0
    while in_folder is None or no_folder is None:
        b = blob(repo, f"new blob {i}\n")
        i += 1
        if b[:2] in prefixes and in_folder is None:
            in_folder = b
        elif b[:2] not in prefixes and no_folder is None:
            no_folder = b
    existing = old[123]

    w = NotesWriter(repo)
    r_in, r_no, r_ex = rec("generated/in.py"), rec("generated/no.py"), rec("generated/ex.py")
    w.add(in_folder, r_in)
    w.add(no_folder, r_no)
    w.add(existing, r_ex)
    assert w.flush() == 3

    for b, r in ((in_folder, r_in), (no_folder, r_no)):
        assert read_notes(repo, b) == [r]
        assert note_show(repo, b) == r.to_line() + "\n"
    # the old note was found in its fanout folder and merged, not shadowed
    assert note_show(repo, existing).splitlines() == sorted([r_ex.to_line(), "git-made note"])
    assert read_notes(repo, existing) == [r_ex]
    # the new note went into the existing folder, not next to it at the root
    new_tree = repo.references[NOTES_REF].peel(pygit2.Commit).tree
    assert in_folder not in new_tree
    assert in_folder[2:] in repo[new_tree[in_folder[:2]].id]
    assert existing not in new_tree
    # every other note is intact, for git and for pygit2
    listed = git(workdir(repo), "notes", "--ref", "pdd", "list").splitlines()
    assert len(listed) == len(old) + 2
    for b in (old[0], old[7], old[-1]):
        assert note_show(repo, b) == "git-made note\n"
        assert repo.lookup_note(b, NOTES_REF).message == "git-made note\n"
    # git can keep writing on top of the tree pdd wrote
    git(workdir(repo), "notes", "--ref", "pdd", "append", "-m", "later", in_folder)
    assert "later" in note_show(repo, in_folder)
    assert git(workdir(repo), "fsck", "--no-progress", "--no-dangling").strip() == ""


def test_concurrent_ref_update_between_read_and_cas_is_not_lost(repo, monkeypatch):
    b_pdd, b_other = blob(repo, "mine = 1\n"), blob(repo, "theirs = 1\n")
    wd = workdir(repo)
    w0 = NotesWriter(repo)
    w0.add(b_pdd, rec("generated/first.py"))
    w0.flush()

    moved = []

    def racing_run(args, *a, **kw):
        if args[:2] == ["git", "update-ref"] and not moved:
            moved.append(True)
            # another writer moves the ref after pdd read it, before pdd's CAS:
            # a new note on another blob and an appended line on the same blob
            git(wd, "notes", "--ref", "pdd", "add", "-m", "theirs", b_other)
            git(wd, "notes", "--ref", "pdd", "append", "-m", "their line", b_pdd)
        return _real_run(args, *a, **kw)

    monkeypatch.setattr(subprocess, "run", racing_run)
    w = NotesWriter(repo)
    w.add(b_pdd, rec("generated/second.py"))
    assert w.flush() == 1
    assert moved
    monkeypatch.undo()

    assert note_show(repo, b_other) == "theirs\n"
    lines = note_show(repo, b_pdd).splitlines()
    assert rec("generated/first.py").to_line() in lines
    assert rec("generated/second.py").to_line() in lines
    assert "their line" in lines
    # history: pdd's commit sits on top of the concurrent ones
    assert len(ref_commits(repo)) == 4


def test_failed_write_keeps_old_ref_and_pending(repo, monkeypatch):
    b = blob(repo, "k = 1\n")
    w = NotesWriter(repo)
    w.add(b, rec("generated/k.py"))

    def boom(*a, **kw):
        raise OSError("no git")

    monkeypatch.setattr(subprocess, "run", boom)
    with pytest.raises(OSError):
        w.flush()
    monkeypatch.undo()
    assert not notes_ref_exists(repo)
    assert w.flush() == 1  # kept for a later flush
    assert read_notes(repo, b) == [rec("generated/k.py")]


def test_cas_exhaustion_keeps_pending(repo, monkeypatch):
    b = blob(repo, "q = 1\n")
    w = NotesWriter(repo)
    w.add(b, rec("generated/q.py"))
    monkeypatch.setattr(subprocess, "run",
                        lambda args, *a, **kw: subprocess.CompletedProcess(args, 1, "", "lock"))
    with pytest.raises(NotesError):
        w.flush()
    monkeypatch.undo()
    assert not notes_ref_exists(repo)
    assert w.flush() == 1


def test_update_ref_failure_that_is_not_a_race_says_what_git_said(repo, monkeypatch):
    b = blob(repo, "r = 1\n")
    w0 = NotesWriter(repo)
    w0.add(b, rec("generated/r0.py"))
    w0.flush()
    tip = repo.references[NOTES_REF].target
    w = NotesWriter(repo)
    w.add(b, rec("generated/r1.py"))
    calls = []

    def refuse(args, *a, **kw):
        calls.append(args)
        return subprocess.CompletedProcess(args, 128, "", "fatal: cannot lock ref 'refs/notes/pdd': File exists")

    monkeypatch.setattr(subprocess, "run", refuse)
    with pytest.raises(NotesError) as info:
        w.flush()
    monkeypatch.undo()
    assert info.value.exit_code == 2
    assert "cannot lock ref" in str(info.value) and ".lock" in str(info.value)
    assert len(calls) == 1, "only a lost race is retried"
    assert repo.references[NOTES_REF].target == tip
    assert read_notes(repo, b) == [rec("generated/r0.py")]
    assert w.flush() == 1  # the records were kept for a later flush
    assert {r.path for r in read_notes(repo, b)} == {"generated/r0.py", "generated/r1.py"}


def test_cas_exhaustion_raises_and_leaves_ref(repo, monkeypatch):
    """Another writer moves the ref before every compare-and-swap: bounded retries."""
    b = blob(repo, "r = 1\n")
    w0 = NotesWriter(repo)
    w0.add(b, rec("generated/r0.py"))
    w0.flush()
    w = NotesWriter(repo)
    w.add(b, rec("generated/r1.py"))
    calls = []
    real_run = subprocess.run

    def lose_race(args, *a, **kw):
        calls.append(args)
        tip = repo.references[NOTES_REF].peel(pygit2.Commit)
        sig = pygit2.Signature("other", "other@example.invalid")
        moved = repo.create_commit(None, sig, sig, "other writer", tip.tree.id, [tip.id])
        repo.references.create(NOTES_REF, moved, force=True)
        return subprocess.CompletedProcess(args, 1, "", "cannot lock ref: is at X but expected Y")

    monkeypatch.setattr(subprocess, "run", lose_race)
    with pytest.raises(NotesError) as info:
        w.flush()
    monkeypatch.undo()
    assert real_run is subprocess.run
    assert info.value.exit_code == 2 and "kept moving" in str(info.value)
    assert len(calls) == notes_mod._MAX_CAS_TRIES
    assert all(c[:2] == ["git", "update-ref"] for c in calls)
    assert read_notes(repo, b) == [rec("generated/r0.py")]


def test_add_from_threads(repo):
    blobs = [blob(repo, f"t = {i}\n") for i in range(20)]
    w = NotesWriter(repo)

    def worker(k):
        for i, b in enumerate(blobs):
            w.add(b, rec(f"generated/t{i}.py", worker=k))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert w.flush() == 20
    assert len(ref_commits(repo)) == 1
    for i, b in enumerate(blobs):
        got = read_notes(repo, b)
        assert sorted(r.extra["worker"] for r in got) == [0, 1, 2, 3]
        assert {r.path for r in got} == {f"generated/t{i}.py"}


def test_note_lines_json_round_trip(repo):
    b = blob(repo, "u = 1\n")
    record = NoteRecord(path="generated/ü.py", cost_usd=None, tokens_in=12, inputs={"deps": {"a": "b"}})
    w = NotesWriter(repo)
    w.add(b, record)
    w.flush()
    assert json.loads(note_show(repo, b)) == record.to_dict()
    assert json.loads(note_show(repo, b))["schema"] == SCHEMA_VERSION and json.loads(note_show(repo, b))["cost_usd"] is None
    assert read_notes(repo, b) == [record]
