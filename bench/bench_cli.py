#!/usr/bin/env python
"""Benchmark the light ``pdd`` commands against their floors, in one run.

Floors: ``python -c pass`` (interpreter start-up) and ``python -m pdd --version``
(start-up plus importing typer and pdd's command line, the least any ``pdd``
command pays). Figures:

* ``pdd --help``;
* ``pdd check`` with nothing to check (a committed pdd project without modules);
* ``pdd status`` on a small project (``--modules`` prompts, default 3, not built).

Each command runs ``--runs`` times (default 15), the commands interleaved round by
round so a load change on the machine hits them alike. Printed per command: the
median wall time, the median CPU time of the process (user + system, from
``os.wait4``; steadier than wall time on a shared machine), and the ratio of each
to the ``--version`` floor. The target (issue 12) is ``pdd --help`` <= 0.2 s wall;
PASS/MISS is printed for it.

    python bench/bench_cli.py
    python bench/bench_cli.py --runs 30 --modules 10
    python bench/bench_cli.py --source /path/to/other/checkout   # time another copy of pdd (its pdd/ folder)
    python bench/bench_cli.py --python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP_TARGET = 0.200


def clean_env(source: str | None) -> dict[str, str]:
    """No PDD_* overrides, git isolated from the global config; ``source`` first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDD_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    if source:
        env["PYTHONPATH"] = source + os.pathsep + env.get("PYTHONPATH", "")
    return env


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=clean_env(None))


def make_project(path: Path, modules: int) -> Path:
    """A committed pdd project at ``path`` with ``modules`` prompts (none built) and
    their behavior tests; ``modules=0`` gives nothing to check."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "bench")
    git(path, "config", "user.email", "bench@example.invalid")
    (path / ".pdd").mkdir()
    (path / ".pdd/config.yaml").write_text("backend: replay\nmodel: recorded\n")
    (path / "prompts").mkdir()
    (path / "behavior_tests").mkdir()
    for i in range(modules):
        (path / f"prompts/mod{i}.prompt").write_text(f"# Module {i}\n## Goal\nReturn {i}.\n")
        (path / f"behavior_tests/test_mod{i}.py").write_text(f"def test_value():\n    assert {i} == {i}\n")
    (path / "README.md").write_text("bench\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "layout")
    return path


def run_once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the child, exit status) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--modules", type=int, default=3, help="prompts of the small project pdd status reads")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--source", help="a folder holding the pdd package to time instead of the installed one")
    args = parser.parse_args()
    env = clean_env(args.source)
    with tempfile.TemporaryDirectory(prefix="pdd-bench-cli-") as tmp:
        empty = make_project(Path(tmp) / "empty", 0)
        small = make_project(Path(tmp) / "small", args.modules)
        py = args.python
        cases = [
            ("python -c pass", [py, "-c", "pass"], empty),
            ("pdd --version", [py, "-m", "pdd", "--version"], empty),
            ("pdd --help", [py, "-m", "pdd", "--help"], empty),
            ("pdd check (nothing to check)", [py, "-m", "pdd", "check"], empty),
            (f"pdd status ({args.modules} modules)", [py, "-m", "pdd", "status"], small),
        ]
        for _, argv, cwd in cases:  # warm the bytecode and the yaml cache
            run_once(argv, cwd, env)
        walls: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        cpus: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        codes: dict[str, set[int]] = {name: set() for name, _, _ in cases}
        for _ in range(args.runs):
            for name, argv, cwd in cases:
                wall, cpu, code = run_once(argv, cwd, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
                codes[name].add(code)
    wall = {n: statistics.median(v) for n, v in walls.items()}
    cpu = {n: statistics.median(v) for n, v in cpus.items()}
    floor = "pdd --version"
    print(f"pdd command line, medians of {args.runs} interleaved runs ({args.source or 'installed pdd'}; {py})")
    print(f"{'command':<30} {'wall':>8} {'cpu':>8}   {'wall/floor':>10} {'cpu/floor':>9}   exit")
    for name, _, _ in cases:
        ratio = "" if name == "python -c pass" else f"{wall[name] / wall[floor]:>9.2f}x {cpu[name] / cpu[floor]:>8.2f}x"
        print(f"{name:<30} {wall[name] * 1000:>6.0f}ms {cpu[name] * 1000:>6.0f}ms   {ratio:<20}   "
              f"{','.join(map(str, sorted(codes[name])))}")
    print(f"floors: python -c pass {wall['python -c pass'] * 1000:.0f} ms, pdd --version {wall[floor] * 1000:.0f} ms "
          f"(wall); pdd --help is {wall['pdd --help'] - wall['python -c pass']:.3f} s above interpreter start-up")
    verdict = "PASS" if wall["pdd --help"] <= HELP_TARGET else "MISS"
    print(f"{verdict}: pdd --help {wall['pdd --help']:.3f} s (target <= {HELP_TARGET:.1f} s)")
    bad = {n: c for n, c in codes.items() if c - {0}}
    if bad:
        print(f"unexpected exit status: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
