"""In-process tests of pdd.provenance.record and pdd.provenance.source in real git repositories."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pygit2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import git, init_git_repo, write_file
from pdd.errors import UsageError
from pdd.notes import NotesWriter
from pdd.provenance.record import (
    FETCH_NOTES,
    FETCH_NOTES_HINT,
    NOTES_REF,
    SCHEMA_VERSION,
    NoteRecord,
    is_tracking_ref,
    notes_refs,
    parse_note,
    tracking_ref,
)
from pdd.provenance.source import Notes, WorktreeSource, git_blob_id, snapshot

# --- NoteRecord: one serializer, one reader -------------------------------------------------

_text = st.text(max_size=12)
_opt_text = st.none() | _text
_opt_count = st.none() | st.integers(min_value=0, max_value=10**9)
_json_leaf = st.none() | st.booleans() | st.integers(-10**6, 10**6) | _text
_json = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=6)
_table = st.none() | st.dictionaries(_text, _text, max_size=3)
_inputs = st.none() | st.fixed_dictionaries(
    {}, optional={"includes": _table, "deps": _table, "generator": st.none() | st.dictionaries(_text, _json_leaf, max_size=3),
                  "uses": st.dictionaries(_text, _text, max_size=2)})
_known = {f for f in NoteRecord.__dataclass_fields__}

records = st.builds(
    NoteRecord,
    path=_text, prompt=_opt_text, prompt_blob=_opt_text, fingerprint=_opt_text, backend=_opt_text, model=_opt_text,
    rung=_json, served_model=_json, spend=_json, tokens_in=_opt_count, tokens_out=_opt_count,
    cost_usd=st.none() | st.integers(0, 10**6) | st.floats(0, 1e6, allow_nan=False), tests=_opt_text, sandbox=_json,
    attempts=_opt_count, time=_opt_text, pdd=_opt_text, inputs=_inputs, ladder=_json, system_fingerprint=_json,
    review=_json, backend_info=_json, requirements=_json, adopted=_json,
    extra=st.dictionaries(_text.filter(lambda k: k not in _known), _json, max_size=3),
    schema=st.integers(1, 5),
)


@settings(max_examples=80, deadline=None)
@given(records)
def test_any_valid_record_survives_its_line(record):
    line = record.to_line()
    assert "\n" not in line
    assert NoteRecord.from_line(line) == record
    assert parse_note(line + "\n" + line) == [record, record]
    assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=120, deadline=None)
@given(st.text(max_size=60) | _json.map(json.dumps) | st.dictionaries(
    st.sampled_from(["path", "tokens_in", "cost_usd", "inputs", "schema", "fingerprint", "x"]), _json, max_size=4
).map(json.dumps))
def test_any_line_is_a_record_or_a_reported_problem_never_an_exception(line):
    got = NoteRecord.from_line(line)
    assert isinstance(got, (NoteRecord, str))
    if isinstance(got, str):
        assert got  # a reason
    else:
        assert isinstance(got.path, str)
        assert NoteRecord.from_line(got.to_line()) == got


def test_a_record_holding_unicode_line_separators_stays_one_line():
    r = NoteRecord(path="generated/a.py", model="m\x85\u2028\u2029\x1c", time="t\r")
    assert parse_note(r.to_line() + "\n") == [r]
    from pdd.provenance.record import merge_note_text

    assert merge_note_text(r.to_line() + "\n", []) == r.to_line() + "\n"


def test_malformed_lines_are_reported_with_their_line_and_skipped(capsys):
    text = "\n".join([
        '{"path":"generated/a.py"}',
        '{"path":"generated/b.py","tokens_in":-1}',
        '{"path":"generated/c.py","schema":0}',
        '{"path":"generated/d.py","schema":true}',
        '{"fingerprint":"f"}',
        '{"path":"generated/e.py","inputs":{"deps":{"x":1}}}',
        '{"path":"generated/f.py","cost_usd":true}',
        "{not json",
    ])
    got = parse_note(text, "the note on blob abc")
    assert [r.path for r in got] == ["generated/a.py"]
    err = capsys.readouterr().err
    assert "the note on blob abc, line 2: token counts must not be negative" in err
    assert "line 3: 'schema' must be 1 or more" in err
    assert "line 4: 'schema' must be an integer, got true" in err
    assert "line 5: it has no 'path'" in err
    assert "line 6: 'inputs.deps' must map strings to strings" in err
    assert "line 7: 'cost_usd' must be an integer or a number or null, got true" in err
    assert "line 8: not a JSON object (malformed)" in err
    assert "line 1:" not in err


def test_an_old_line_reads_as_schema_1_and_a_new_record_writes_the_current_schema():
    old = '{"fingerprint":"f1","inputs":{"deps":{},"generator":{"model":"m"},"includes":{}},"path":"generated/a.py"}'
    r = NoteRecord.from_line(old)
    assert isinstance(r, NoteRecord) and r.schema == 1 and r.fingerprint == "f1"
    assert (r.deps, r.includes, r.generator, r.uses) == ({}, {}, {"model": "m"}, {})
    new = NoteRecord(path="generated/a.py", cost_usd=None)
    data = json.loads(new.to_line())
    assert data["schema"] == SCHEMA_VERSION == 2
    assert data["cost_usd"] is None and "cost_usd" in data  # always-written keys stay, as null
    assert "ladder" not in data and "requirements" not in data  # optional keys only when set
    future = NoteRecord.from_line('{"path":"generated/a.py","schema":7,"new_key":[1]}')
    assert isinstance(future, NoteRecord) and future.schema == 7 and future.extra == {"new_key": [1]}


def test_tracking_refs_and_the_fetch_hint_are_defined_once():
    assert NOTES_REF == "refs/notes/pdd"
    assert tracking_ref("origin") == "refs/notes/remotes/origin/pdd" and is_tracking_ref(tracking_ref("up"))
    assert not is_tracking_ref("refs/notes/pdd") and not is_tracking_ref("refs/notes/remotes/origin/other")
    refs = ["refs/notes/remotes/z/pdd", "refs/notes/pdd", "refs/notes/other", "refs/notes/remotes/a/pdd"]
    assert notes_refs(refs) == ["refs/notes/pdd", "refs/notes/remotes/a/pdd", "refs/notes/remotes/z/pdd"]
    assert notes_refs(refs, "refs/notes/other") == ["refs/notes/other"]
    assert FETCH_NOTES_HINT.startswith(FETCH_NOTES) and FETCH_NOTES == "pdd notes sync"


# --- the three sources agree ---------------------------------------------------------------


@pytest.fixture
def repo(tmp_path) -> Path:
    root = init_git_repo(tmp_path / "repo")
    # a clean filter (upper-cases) on *.up files, and CRLF normalisation on *.txt
    git(root, "config", "filter.upper.clean", "tr a-z A-Z")
    git(root, "config", "filter.upper.smudge", "cat")
    write_file(root, ".gitattributes", "*.up filter=upper\n*.txt text eol=crlf\n")
    write_file(root, "generated/plain.py", "x = 1\n")
    (root / "generated").mkdir(exist_ok=True)
    (root / "generated" / "crlf.txt").write_bytes(b"a\r\nb\r\n")
    write_file(root, "generated/shout.up", "quiet words\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    return root


def test_worktree_index_and_commit_agree_on_blob_ids_with_filters_and_crlf(repo):
    paths = ["generated/plain.py", "generated/crlf.txt", "generated/shout.up"]
    index = snapshot(repo, "index")
    head = snapshot(repo, "HEAD")
    work = snapshot(repo, "worktree")
    files = WorktreeSource(repo)
    with_repo = WorktreeSource(repo, repo=pygit2.Repository(str(repo)))
    for p in paths:
        want = git(repo, "rev-parse", f"HEAD:{p}")
        assert index.blob(p) == head.blob(p) == work.blob(p) == files.blob(p) == with_repo.blob(p) == want, p
        assert files.matches(p, want) and with_repo.matches(p, want) and index.matches(p, want)
    # the filtered files' bytes on disk are not what git stores: the plain hash differs, the fallback finds it
    assert git_blob_id((repo / "generated/crlf.txt").read_bytes()) != index.blob("generated/crlf.txt")
    assert git_blob_id((repo / "generated/shout.up").read_bytes()) != index.blob("generated/shout.up")
    assert git_blob_id(b"x = 1\n") == index.blob("generated/plain.py")
    # a change in the working tree: the working-tree sources see it, the index does not
    write_file(repo, "generated/plain.py", "x = 2\n")
    assert snapshot(repo, "worktree").blob("generated/plain.py") == files.blob("generated/plain.py") == git_blob_id(b"x = 2\n")
    assert snapshot(repo, "index").blob("generated/plain.py") == index.blob("generated/plain.py") != git_blob_id(b"x = 2\n")
    assert files.blob("generated/absent.py") is None and not files.matches("generated/absent.py", "0" * 40)
    assert files.read_text("generated/shout.up") == "quiet words\n"


def _write_note(root: Path, blob: str, record: NoteRecord, ref: str = NOTES_REF) -> None:
    w = NotesWriter(pygit2.Repository(str(root)), ref=ref)
    w.add(blob, record)
    w.flush()


def test_every_source_finds_the_notes_of_a_filtered_file(repo):
    p = "generated/crlf.txt"
    stored = git(repo, "rev-parse", f"HEAD:{p}")
    _write_note(repo, stored, NoteRecord(path=p, fingerprint="f"))
    _write_note(repo, stored, NoteRecord(path="generated/elsewhere.txt", fingerprint="g"))
    notes = Notes(repo)
    try:
        for source in (snapshot(repo, "index"), snapshot(repo, "HEAD"), snapshot(repo, "worktree"), WorktreeSource(repo)):
            source.notes = notes
            blob, records, others = source.provenance(p)
            assert blob == stored and [r.fingerprint for r in records] == ["f"], source
            assert others == ["generated/elsewhere.txt"]
            assert source.provenance("generated/plain.py")[0] is not None
            assert source.provenance("generated/plain.py")[1:] == ([], [])
            assert source.provenance("generated/none.py") == (None, [], [])
    finally:
        notes.close()


def test_notes_read_from_the_remote_tracking_ref_by_lookup_and_by_listing(repo):
    blob = git(repo, "rev-parse", "HEAD:generated/plain.py")
    _write_note(repo, blob, NoteRecord(path="generated/plain.py", fingerprint="theirs"), ref=tracking_ref("origin"))
    for listing in (False, True):
        notes = Notes(repo)
        try:
            assert notes.exists and notes.refs == [tracking_ref("origin")]
            if listing:
                notes.load_listing()
            assert [r.fingerprint for r in notes.for_path(blob, "generated/plain.py")] == ["theirs"]
        finally:
            notes.close()
    _write_note(repo, blob, NoteRecord(path="generated/plain.py", fingerprint="ours"))
    notes = Notes(repo)
    try:
        notes.prefetch([blob])
        assert sorted(r.fingerprint for r in notes.records(blob)) == ["ours", "theirs"]
    finally:
        notes.close()


def test_a_notes_ref_that_is_not_a_notes_commit_is_a_usage_error(repo):
    blob = git(repo, "rev-parse", "HEAD:generated/plain.py")
    git(repo, "update-ref", NOTES_REF, blob)
    with pytest.raises(UsageError) as info:
        Notes(repo)
    assert info.value.exit_code == 2 and "is not a notes commit" in str(info.value) and FETCH_NOTES in info.value.hint


def test_no_notes_ref_means_no_records(repo):
    notes = Notes(repo)
    try:
        assert not notes.exists and notes.records("0" * 40) == []
        assert WorktreeSource(repo, notes).provenance("generated/plain.py")[1] == []
    finally:
        notes.close()
    assert subprocess.run(["git", "rev-parse", "--verify", "-q", NOTES_REF], cwd=repo).returncode != 0


# --- the notes tree read through the cat-file process (the hook's path) ----------------------

def test_tree_entries_of_a_raw_tree_equal_what_git_ls_tree_lists(repo):
    from pdd.git import BlobReader
    from pdd.provenance.source import tree_entries

    write_file(repo, "dir with space/é.txt", "a\n")
    (repo / "link").symlink_to("generated/plain.py")
    git(repo, "add", "-A")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},sub")  # a gitlink
    tree = git(repo, "write-tree")
    want = [(line.split("\t", 1)[1], line.split()[1])
            for line in git(repo, "-c", "core.quotePath=false", "ls-tree", tree).splitlines()]
    reader = BlobReader(repo)
    try:
        got = tree_entries(reader.read(tree))
    finally:
        reader.close()
    assert got == want and ("sub", "commit") in got and ("dir with space", "tree") in got and ("link", "blob") in got


def test_tree_entries_refuse_data_that_is_not_a_sha1_tree():
    from pdd.provenance.source import tree_entries

    assert tree_entries(b"") == []
    assert tree_entries(b"100644 a\0" + b"\1" * 20) == [("a", "blob")]
    assert tree_entries(b"100644 a\0" + b"\1" * 32) is None  # a SHA-256 id: left to git ls-tree
    assert tree_entries(b"not a tree") is None


def test_a_notes_ref_at_a_commit_that_is_not_a_notes_commit_is_a_usage_error(repo):
    git(repo, "update-ref", NOTES_REF, git(repo, "rev-parse", "HEAD"))  # its tree holds project files, not notes
    with pytest.raises(UsageError) as info:
        Notes(repo)
    assert info.value.exit_code == 2 and "its tree has blob '.gitattributes', which is not a note" in str(info.value)


def test_a_boolean_where_a_count_belongs_is_still_refused():
    # the exact-type pass must not let a JSON boolean through as an integer
    assert NoteRecord.from_line(json.dumps({"path": "generated/a.py", "tokens_in": True})) == \
        "'tokens_in' must be an integer or null, got true"
    assert isinstance(NoteRecord.from_line(json.dumps({"path": "generated/a.py", "cost_usd": 1})), NoteRecord)
