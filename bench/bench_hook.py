#!/usr/bin/env python
"""Benchmark the pre-commit hook and ``pdd check`` on a 10,000-module repository.

Builds (in a temporary folder) a pdd project with ``--modules`` modules (default
10,000; 100 packages ``pkgNN`` of 100 modules each), committed, whose generated
files are all **genuine and fresh** by pdd's own rules: every note record is made
from :func:`pdd.freshness.module_inputs` (prompt blob, includes, dependency
digests, generator identity, fingerprint), like :meth:`pdd.build.Builder._accept`
writes it. The notes ref is written in one commit (note blobs and a 2/38 fanout
tree built with pygit2, as ``git notes`` lays out large notes trees), not with
thousands of ``git notes add`` calls. The repository is then repacked, as a clone
or any repository after git's automatic gc is.

A thousand generated files (``--staged``, every tenth module) are changed
*genuinely* (new content, noted with the same inputs); it measures, each beside its
**floor** computed here with the same git calls (``bench/floor.py``: python start-up
+ what is staged or changed + ``ls-files -s`` of the folders + ``ls-tree`` of the
notes tree + one ``cat-file --batch`` of the blobs needed), runs interleaved with the
floor's, and prints the ratio of the medians:

* the hook, ``python -m pdd.hook``, with one of them staged (``--runs``, 20);
* ``pdd check`` (the working tree) over every module (``--check-runs``, 3);
* the hook with all thousand staged.

Targets (issue 12): hook <= 1.3x its floor (1 staged), <= 1.5x (1,000 staged);
``pdd check`` <= 1.5x and <= 1 s. Prints PASS/MISS for each. The load average is
printed: on a loaded machine the ratios, not the times, are the figures.

    python bench/bench_hook.py
    python bench/bench_hook.py --modules 2000 --runs 10 --staged 200
    python bench/bench_hook.py --profile      # cProfile of both, top entries
    python bench/bench_hook.py --keep         # keep the repository, print its path
    python bench/bench_hook.py --depends      # prompts with front matter and dependencies
    python bench/bench_hook.py --python /path/to/venv/bin/python   # a regular (non-editable) install
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from floor import floor_seconds, ratio_line, staged_objects, tree_objects  # noqa: E402  (bench/floor.py)

# Targets (issue 12): each figure's ratio to its floor; pdd check also in absolute time.
HOOK_RATIO = 1.3
HOOK_MANY_RATIO = 1.5
CHECK_RATIO = 1.5
CHECK_TARGET = 1.0
PER_PACKAGE = 100


def clean_env() -> dict[str, str]:
    """The environment for git and pdd: no PDD_* overrides, git isolated from global config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDD_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    return env


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, env=clean_env(), input=input, capture_output=True)
    if proc.returncode:
        raise SystemExit(f"git {' '.join(args)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode().strip()


def module_code(i: int, regenerated: bool = False) -> str:
    """A tiny module; ``regenerated`` changes the body only (same interface, so its
    dependents stay fresh)."""
    body = f"int({i})" if regenerated else f"{i}"
    return (f'"""Synthetic module {i}."""\n\n__all__ = ["value_{i}"]\n\n\n'
            f'def value_{i}() -> int:\n    """The number {i}."""\n    return {body}\n')


def make_repo(path: Path, n: int, depends: bool = False, many: int = 1000) -> tuple[Path, list[str]]:
    """The repository and the names of the ``many`` modules (every ``n // many``-th)
    whose generated file is changed genuinely: their new blobs are noted too, and the
    first one's new text is written and staged (:func:`stage_changed` writes the rest)."""
    from pdd.freshness import module_inputs
    from pdd.provenance.record import NoteRecord
    from pdd.provenance.source import git_blob_id
    from pdd.project import Project
    from pdd.config import load_config
    from pdd.prompt import INIT_TEXT
    from pdd.initproject import init_project

    t0 = time.perf_counter()
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "bench")
    git(path, "config", "user.email", "bench@example.invalid")
    git(path, "config", "commit.gpgsign", "false")
    os.environ.update({k: v for k, v in clean_env().items() if k.startswith("GIT_")})
    for k in [k for k in os.environ if k.startswith("PDD_")]:
        del os.environ[k]
    init_project(path, hooks=False)
    names = []
    for i in range(n):
        pkg = f"pkg{i // PER_PACKAGE:02d}"
        name = f"{pkg}/m{i:05d}"
        names.append(name)
        (path / "prompts" / pkg).mkdir(parents=True, exist_ok=True)
        dep = f"depends: [{pkg}/m{i - 1:05d}]\n" if depends and i % PER_PACKAGE else ""
        # no behavior tests, said so: an untested module is a check failure (issue 10)
        front = f"---\n{dep}tests: []\nuntested_reason: a benchmark module, timed not tested\n---\n"
        (path / "prompts" / f"{name}.prompt").write_text(f"{front}# Goal\nA function value_{i}() returning {i}.\n",
                                                          encoding="utf-8")
        gen = path / "generated" / pkg
        if not gen.is_dir():
            gen.mkdir(parents=True)
            (gen / "__init__.py").write_text(INIT_TEXT, encoding="utf-8")
        (path / "generated" / f"{name}.py").write_text(module_code(i), encoding="utf-8")
    print(f"  wrote {n} prompts and modules in {time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    project = Project(root=path, config=load_config(path, environ={}))
    specs = project.specs()
    records: dict[str, str] = {}  # generated blob -> note text

    def record(spec, inputs, blob_text: str) -> None:
        rec = {
            "path": spec.output, "prompt": spec.path, "prompt_blob": inputs.prompt_blob,
            "fingerprint": inputs.fingerprint, "backend": inputs.generator.backend, "model": inputs.generator.model,
            "tokens_in": 100, "tokens_out": 80, "cost_usd": 0.0001, "tests": "passed", "attempts": 1,
            "time": "2026-01-01T00:00:00Z", "pdd": "bench", "inputs": inputs.to_note(),
        }
        blob = git_blob_id(blob_text.encode("utf-8"))
        line = NoteRecord(**rec).to_line()  # the current format (schema 2)
        records[blob] = "\n".join(sorted(set((records.get(blob, "") + "\n" + line).split("\n")) - {""})) + "\n"

    inputs_by_name = {}
    for i, name in enumerate(names):
        inputs = module_inputs(project, specs[name])
        inputs_by_name[name] = inputs
        record(specs[name], inputs, module_code(i))
    # The files that will be changed genuinely and staged: their new blobs noted too.
    step = max(1, n // max(1, many))
    changed = [i for i in range(n // 2 % step, n, step)][:many]
    changed.insert(0, changed.pop(len(changed) // 2))  # the one staged alone: mid-repository
    for i in changed:
        record(specs[names[i]], inputs_by_name[names[i]], module_code(i, regenerated=True))
    print(f"  computed {len(records)} note records with pdd.freshness.module_inputs in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    git(path, "add", "-A")
    git(path, "commit", "-q", "--no-verify", "-m", f"{n} generated modules")
    write_notes(path, records)
    # Packed, like a clone or any repository after git's automatic gc (20,000+ loose
    # objects would measure the file system, not pdd).
    git(path, "repack", "-a", "-d", "-q")
    print(f"  committed, wrote the notes ref and repacked in {time.perf_counter() - t0:.1f} s", flush=True)

    stage_changed(path, [names[i] for i in changed[:1]])
    return path, [names[i] for i in changed]


def stage_changed(path: Path, names: list[str]) -> None:
    """Write each module's genuinely regenerated text (:func:`module_code`) and stage it."""
    outputs = []
    for name in names:
        out = f"generated/{name}.py"
        (path / out).write_text(module_code(int(name.rsplit("/m", 1)[1]), regenerated=True), encoding="utf-8")
        outputs.append(out)
    git(path, "add", "--", *outputs)


def write_notes(repo_path: Path, notes: dict[str, str]) -> None:
    """``refs/notes/pdd`` with ``notes`` in one commit, in a 2/38 fanout tree."""
    import pygit2

    repo = pygit2.Repository(str(repo_path))
    by_prefix: dict[str, list[tuple[str, pygit2.Oid]]] = {}
    for blob, text in notes.items():
        by_prefix.setdefault(blob[:2], []).append((blob[2:], repo.create_blob(text.encode("utf-8"))))
    root = repo.TreeBuilder()
    for prefix, entries in sorted(by_prefix.items()):
        sub = repo.TreeBuilder()
        for rest, oid in entries:
            sub.insert(rest, oid, pygit2.GIT_FILEMODE_BLOB)
        root.insert(prefix, sub.write(), pygit2.GIT_FILEMODE_TREE)
    sig = pygit2.Signature("bench", "bench@example.invalid")
    commit = repo.create_commit(None, sig, sig, "Notes added by 'pdd build'", root.write(), [])
    repo.references.create("refs/notes/pdd", commit, force=True)


def wall(argv: list[str], cwd: Path, expect: int | None = 0) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if expect is not None and proc.returncode != expect:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode} (expected {expect}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def profile(repo: Path, label: str, fn) -> None:
    cwd = os.getcwd()
    os.chdir(repo)
    prof = cProfile.Profile()
    try:
        prof.enable()
        fn()
        prof.disable()
    finally:
        os.chdir(cwd)
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
    print(f"\n--- profile: {label} ---")
    print("\n".join(out.getvalue().splitlines()[:60]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=20, help="runs of the 1-staged hook (and half as many with many staged)")
    ap.add_argument("--check-runs", type=int, default=3, help="runs of pdd check")
    ap.add_argument("--staged", type=int, default=1000, help="generated files staged for the second hook figure")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter with pdd installed to time (default: this one). An editable install adds "
                         "its import finder to every start: time a regular install (pip install .) for figures "
                         "users see")
    ap.add_argument("--depends", action="store_true",
                    help="give each prompt a YAML front matter depending on the previous module of its package "
                         "(chains of 100), as real prompts have")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pdd-bench-hook-"))
    try:
        print(f"making a repository with {args.modules} generated modules ...", flush=True)
        repo, changed = make_repo(tmp / "repo", args.modules, depends=args.depends, many=args.staged)
        py = args.python
        # Sanity: the hook and the check accept it (everything genuine and fresh).
        wall([py, "-m", "pdd.hook"], repo)
        wall([py, "-m", "pdd", "check"], repo)
        one = changed[:1]
        one_folders = sorted({f"generated/{m.rsplit('/', 1)[0]}" for m in one}
                             | {f"prompts/{m.rsplit('/', 1)[0]}" for m in one})
        one_objects = staged_objects(repo, one)
        tree = tree_objects(repo)

        # Interleaved (command, floor) pairs: a load change hits both alike.
        hook1, hook1_floor, check, check_floor = [], [], [], []
        for _ in range(args.runs):
            hook1.append(wall([py, "-m", "pdd.hook"], repo))
            hook1_floor += floor_seconds(py, repo, "staged", one_objects, one_folders, 1, wall)
        for _ in range(args.check_runs):
            check.append(wall([py, "-m", "pdd", "check"], repo))
            check_floor += floor_seconds(py, repo, "tree", tree, ["prompts", "generated"], 1, wall)
        startup = [wall([py, "-c", "pass"], repo) for _ in range(args.runs)]

        stage_changed(repo, changed[1:])
        many_folders = sorted({f"generated/{m.rsplit('/', 1)[0]}" for m in changed}
                              | {f"prompts/{m.rsplit('/', 1)[0]}" for m in changed})
        many_objects = staged_objects(repo, changed)
        wall([py, "-m", "pdd.hook"], repo)
        hook_many, hook_many_floor = [], []
        for _ in range(max(3, args.runs // 2)):
            hook_many.append(wall([py, "-m", "pdd.hook"], repo))
            hook_many_floor += floor_seconds(py, repo, "staged", many_objects, many_folders, 1, wall)

        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"\nrepository: {args.modules} modules{' with front matter and dependencies' if args.depends else ''}; "
              f"load average {load:.2f}; python start-up (python -c pass) {statistics.median(startup) * 1000:.1f} ms")
        print("floor = python start-up + git diff-index --cached (hook) or diff-files (check) + ls-files -s of the "
              "folders + ls-tree -r of the notes tree (check) + one cat-file --batch of the blobs needed\n")
        line, ok1 = ratio_line(f"hook, 1 staged ({changed[0]})", hook1, hook1_floor, HOOK_RATIO)
        print(line)
        line, okm = ratio_line(f"hook, {len(changed)} staged", hook_many, hook_many_floor, HOOK_MANY_RATIO)
        print(line)
        line, okc = ratio_line(f"pdd check, {args.modules} modules", check, check_floor, CHECK_RATIO, unit="s")
        okc_abs = statistics.median(check) <= CHECK_TARGET
        print(f"{line}; <= {CHECK_TARGET:g} s: {'PASS' if okc_abs else 'MISS'}")
        ok = ok1 and okm and okc and okc_abs
        if args.profile:
            from pdd.check import run_check

            profile(repo, "hook (run_check staged)", lambda: run_check(repo, staged=True, environ=clean_env()))
            profile(repo, "pdd check (run_check HEAD)", lambda: run_check(repo, staged=False, environ=clean_env()))
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept: {tmp / 'repo'}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
