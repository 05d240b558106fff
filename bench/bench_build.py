#!/usr/bin/env python
"""Benchmark ``pdd build`` on synthetic projects against the fake model server.

It makes temporary git repositories with ``pdd init`` and N independent modules,
then measures through the real command line (``python -m pdd``):

* the speed-up table: the first build of ``--speedup-size`` modules (default 100),
  ``pdd build --no-tests``, at ``--jobs 1`` and at ``--jobs 8``, each in its own
  fresh repository (so both really send N requests; no shared cache), for every
  fake-model latency of ``--latencies`` (default 0.2 and 1.0 s) in one run. Each
  speed-up is printed beside its ideal, ``N / ceil(N / jobs)`` (the number of
  request rounds the high job count needs: 7.7x for 100 modules at 8 jobs), and
  the ratio of the two; beside them, the jobs-8 build's start-up (until its first
  request reaches the server) and the speed-up of the part after it;
* a no-op ``pdd build`` (everything fresh) at the largest of ``--sizes``
  (default 1000; built first at the high job count and the first latency):
  median of 3 runs.
* the per-module test-run CPU (:func:`test_run_cpu`): one behavior-test run of a
  module with one tiny test, plugin autoload on (before) and off (pdd's runs), beside
  its floor ``python -m pytest --version`` (``--test-runs``, default 5; target <= 0.4 s).

The fake model server (tests/fakeserver.py, imported by path) answers every
request after the fixed latency (real models take seconds).

Targets (issue 12): speed-up >= 7x at 0.2 s latency and >= 7.5x at 1.0 s;
no-op build at N=1000 at most 2x its floor (python start-up + the git plumbing calls it
needs, ``bench/floor.py``, timed in the same run).

    python bench/bench_build.py                    # speed-up table, no-op at N=1000
    python bench/bench_build.py --sizes 100 --latencies 0.02
    python bench/bench_build.py --profile          # also profile the no-op build

With ``--profile`` the no-op build is run once more under ``-X importtime`` and
once under cProfile, and the biggest costs are printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FAKESERVER_PATH = ROOT / "tests" / "fakeserver.py"

#: Target speed-up of the high job count by fake-model latency (seconds); others: the lowest.
SPEEDUP_TARGETS = {0.2: 7.0, 1.0: 7.5}
SPEEDUP_SIZE = 100
NOOP_FLOOR_RATIO = 2.0  # the no-op build's target: its time over its floor (bench/floor.py)
NOOP_SIZE = 1000
NOOP_RUNS = 3


def load_fakeserver():
    """Import tests/fakeserver.py by path (it has no relative imports)."""
    spec = importlib.util.spec_from_file_location("pdd_bench_fakeserver", FAKESERVER_PATH)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


fakeserver = load_fakeserver()
# Reply headers and body are two writes: without TCP_NODELAY, Nagle + delayed ACK add
# ~40 ms to every request, which would swamp the configured latency. (Fixed in
# tests/fakeserver.py too; kept here so the benchmark never measures it.)
fakeserver._Handler.disable_nagle_algorithm = True


ARRIVALS: List[float] = []  # time.perf_counter() of each request's arrival (server threads append)


def answer(request: Dict[str, Any]) -> str:
    """A tiny, valid module for whatever module the request names."""
    ARRIVALS.append(time.perf_counter())
    target = fakeserver.find_target_module(request)
    if target is None:
        return fakeserver.Reply(status=400, text="no Target module line")
    name = target.rsplit(".", 1)[-1]
    code = (
        f'"""Synthetic module {target}."""\n\n'
        f'__all__ = ["value_{name}"]\n\n\n'
        f"def value_{name}(x: int) -> int:\n"
        f'    """Return x plus the module number."""\n'
        f"    return x + {int(re.sub(r'[^0-9]', '', name) or 0)}\n"
    )
    return f"Here is the module.\n\n```python\n{code}```\n"


# ---------------------------------------------------------------------------
# running things
# ---------------------------------------------------------------------------


def pdd_env(server) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PDD_") and not k.endswith("_API_KEY") and k != "OPENAI_BASE_URL"}
    env.update({
        "PDD_BACKEND": "openai",
        "PDD_MODEL": "fake-model",
        "OPENAI_API_KEY": "test-key-not-secret",
        "OPENAI_BASE_URL": server.openai_base_url,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "NO_COLOR": "1",
    })
    return env


def run(cmd: List[str], cwd: Path, env: Optional[Dict[str, str]] = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.stderr.write(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}\n")
        raise SystemExit(1)
    return proc


def pdd(args: List[str], repo: Path, env: Dict[str, str], *, python_opts: List[str] = ()) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``python -m pdd ARGS`` in ``repo``; return (wall seconds, process)."""
    t0 = time.perf_counter()
    proc = run([sys.executable, *python_opts, "-m", "pdd", *args], repo, env)
    return time.perf_counter() - t0, proc


STYLE_INCLUDE = '{% include "_shared/python_style.md" %}'


def make_project(parent: Path, n: int, env: Dict[str, str], label: str) -> Path:
    """A git repository with ``pdd init`` and N independent module prompts."""
    repo = Path(tempfile.mkdtemp(prefix=f"{label}-n{n}-", dir=parent))
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run(["git", "config", "user.name", "pdd bench"], repo, env)
    run(["git", "config", "user.email", "bench@example.invalid"], repo, env)
    pdd(["init"], repo, env)
    width = len(str(n - 1))
    for i in range(n):
        group = f"g{i // 100:02d}"
        name = f"m{i:0{width}d}"
        path = repo / "prompts" / group / f"{name}.prompt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "---\n"
            "depends: []\n"
            "tests: []\n"  # untested, said so (an untested module fails the build, issue 10)
            "untested_reason: a benchmark module, timed not tested\n"
            "---\n"
            "# Goal\n"
            f"Module {group}/{name}: `value_{name}(x: int) -> int` returns x plus {i}.\n\n"
            "# Constraints\n"
            f"{STYLE_INCLUDE}\n",
            encoding="utf-8",
        )
    return repo


def count_generated(repo: Path) -> int:
    return sum(1 for p in (repo / "generated").rglob("*.py") if p.name != "__init__.py")


# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------


def first_build(server, workdir: Path, n: int, jobs: int) -> tuple[float, Path, float]:
    """``(wall seconds, repository, seconds from the command's start to its first request)``."""
    env = pdd_env(server)
    repo = make_project(workdir, n, env, f"jobs{jobs}-lat{server.latency:g}")
    before = server.request_count
    seen = len(ARRIVALS)
    t0 = time.perf_counter()
    seconds, _ = pdd(["build", "--no-tests", "--jobs", str(jobs)], repo, env)
    lead = min(ARRIVALS[seen:], default=t0) - t0
    requests = server.request_count - before
    built = count_generated(repo)
    if requests != n or built != n:
        raise SystemExit(f"N={n} jobs={jobs}: expected {n} requests and modules, got {requests} requests, {built} modules")
    print(f"  N={n:<5} jobs={jobs} latency={server.latency:g} s: first build {seconds:7.2f} s  ({requests} requests; "
          f"first request after {lead:.2f} s)", flush=True)
    return seconds, repo, lead


def noop_builds(server, repo: Path, runs: int) -> tuple[List[float], List[float]]:
    """Wall times of ``runs`` no-op builds, each followed by a run of its floor
    (``bench/floor.py``: python start-up + what the working tree changed + ``ls-files
    -s`` of the prompts and generated folders + ``ls-tree`` of the notes tree + one
    ``cat-file --batch`` of every prompt and note: what a no-op build must read)."""
    from floor import floor_seconds, tree_objects

    env = pdd_env(server)
    objects = tree_objects(repo)
    times, floor = [], []

    def wall(argv: List[str], cwd: Path) -> float:
        t0 = time.perf_counter()
        run(argv, cwd, env)
        return time.perf_counter() - t0

    for _ in range(runs):
        before = server.request_count
        seconds, proc = pdd(["build"], repo, env)
        if server.request_count != before:
            raise SystemExit(f"no-op build made {server.request_count - before} request(s)")
        if "fresh" not in proc.stderr:
            raise SystemExit(f"no-op build did not report fresh modules:\n{proc.stderr}")
        times.append(seconds)
        floor += floor_seconds(sys.executable, repo, "tree", objects, ["prompts", "generated"], 1, wall)
    return times, floor


def startup_seconds(server, repo: Path) -> float:
    """Median wall time of ``pdd --version`` (interpreter + CLI import), for context."""
    env = pdd_env(server)
    return statistics.median(pdd(["--version"], repo, env)[0] for _ in range(3))


# Profiles build_one() for every module in the MAIN thread (cProfile sees only the
# thread it runs in; in `pdd build` the per-module work runs on pool threads).
_IN_PROCESS_PROFILE = """
import cProfile, io, pstats, sys, time
from pdd.build import BuildOptions, Builder
from pdd.progress import PlainReporter
from pdd.project import open_project

top = int(sys.argv[1])
t0 = time.perf_counter()
project = open_project()
builder = Builder(project, BuildOptions(), PlainReporter(io.StringIO()))
profile = cProfile.Profile()
profile.enable()
t1 = time.perf_counter()
specs, order, forced = builder.plan()
t2 = time.perf_counter()
statuses = {}
for name in order:
    r = builder.build_one(specs[name], False)
    statuses[r.status] = statuses.get(r.status, 0) + 1
t3 = time.perf_counter()
profile.disable()
print(f"in-process (profiled): open_project {t1 - t0:.2f} s, plan() {t2 - t1:.2f} s, "
      f"build_one x{len(order)} {t3 - t2:.2f} s -> {statuses}")
stats = pstats.Stats(profile)
stats.sort_stats("cumulative").print_stats(top)
stats.sort_stats("tottime").print_stats(top)
"""


def profile_noop(server, repo: Path, workdir: Path, top: int) -> None:
    """Where the time of a no-op build goes: imports, the CLI's main thread, the per-module path."""
    env = pdd_env(server)
    print("\n== profile of the no-op build ==")
    seconds, proc = pdd(["build"], repo, env, python_opts=["-X", "importtime"])
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(3)) <= 1:  # top-level imports only (cumulative includes children)
            rows.append((int(m.group(2)), m.group(4)))
    rows.sort(reverse=True)
    print(f"-X importtime: wall {seconds:.2f} s, top-level imports total {sum(r[0] for r in rows) / 1e6:.2f} s; biggest:")
    for us, name in rows[:top]:
        print(f"  {us / 1000:8.1f} ms  {name}")

    out = workdir / "noop.prof"
    seconds, _ = pdd(["build"], repo, env, python_opts=["-m", "cProfile", "-o", str(out)])
    print(f"\ncProfile of the CLI (main thread only): wall {seconds:.2f} s with profiling; top {top} cumulative:")
    pstats.Stats(str(out)).sort_stats("cumulative").print_stats(top)

    print("per-module path, in process, on the main thread:")
    proc = run([sys.executable, "-c", _IN_PROCESS_PROFILE, str(top)], repo, env)
    print(proc.stdout)


# ---------------------------------------------------------------------------


TEST_RUN_CPU_TARGET = 0.4  # CPU seconds of one behavior-test run of a module with one tiny test (issue 12)
TINY_TEST = "from generated.mini import double\n\n\ndef test_double():\n    assert double(2) == 4\n"
TINY_CODE = "def double(x):\n    return 2 * x\n"


def _children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_of(action) -> float:
    before = _children_cpu()
    action()
    return _children_cpu() - before


def test_run_cpu(workdir: Path, runs: int) -> bool:
    """Print the per-module test-run CPU figure: the children's user+sys CPU seconds of
    one behavior-test run (:func:`pdd.testrun.run_tests`, the candidate in the overlay,
    ``tests.sandbox: none``: under bwrap the test process is not a waited-for child, so
    its CPU is not counted) of a module with one tiny test, median of ``runs``, with
    plugin autoload on (pytest's default: every installed plugin) and off (pdd's
    default), beside the floor ``python -m pytest --version`` with autoload off (the
    interpreter and pytest's own start-up), and the ratios. Returns whether autoload
    off meets :data:`TEST_RUN_CPU_TARGET`."""
    sys.path.insert(0, str(ROOT))
    from pdd.testrun import AUTOLOAD_VAR, run_tests

    project = workdir / "test-run-cpu"
    (project / "behavior_tests").mkdir(parents=True)
    (project / "behavior_tests" / "test_mini.py").write_text(TINY_TEST, encoding="utf-8")

    def one(autoload: bool) -> float:
        holder = {}
        cpu = _cpu_of(lambda: holder.setdefault("r", run_tests(project, ["behavior_tests/test_mini.py"],
                                                               output="generated/mini.py", code=TINY_CODE,
                                                               autoload=autoload, sandbox="none")))
        if not holder["r"].passed:
            raise SystemExit(f"the tiny test did not pass (autoload={autoload}):\n{holder['r'].output}")
        return cpu

    floor_env = {**os.environ, AUTOLOAD_VAR: "1"}
    floor_cmd = [sys.executable, "-m", "pytest", "--version"]
    floor = statistics.median(_cpu_of(lambda: subprocess.run(floor_cmd, env=floor_env, capture_output=True, check=True))
                              for _ in range(runs))
    on = statistics.median(one(True) for _ in range(runs))
    off = statistics.median(one(False) for _ in range(runs))
    ok = off <= TEST_RUN_CPU_TARGET
    print(f"\none behavior-test run, one tiny test (children's user+sys CPU, median of {runs}; "
          f"floor: `python -m pytest --version` with autoload off; unsandboxed)")
    print(f"  floor              {floor:.3f} s")
    print(f"  before: autoload on  {on:.3f} s  ({on / floor:.2f}x floor)")
    print(f"  after: autoload off  {off:.3f} s  ({off / floor:.2f}x floor; {on / off:.2f}x less CPU) | "
          f"target <= {TEST_RUN_CPU_TARGET:g} s | {verdict(ok)}")
    return ok


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ideal_speedup(n: int, low: int, high: int) -> float:
    """The floor of the comparison: rounds of requests at ``low`` jobs over rounds at ``high``."""
    return math.ceil(n / low) / math.ceil(n / high)


def speedup_target(latency: float) -> float:
    return SPEEDUP_TARGETS.get(latency, min(SPEEDUP_TARGETS.values()))


def speedup_table(server_for, workdir: Path, n: int, latencies: List[float], low: int, high: int) -> List[Dict[str, float]]:
    """First builds of ``n`` modules at ``low`` and ``high`` jobs for each latency; one row each."""
    rows = []
    for latency in latencies:
        server = server_for(latency)
        t_low, _, lead_low = first_build(server, workdir, n, low)
        t_high, _, lead_high = first_build(server, workdir, n, high)
        rows.append({"latency": latency, "low": t_low, "high": t_high, "speedup": t_low / t_high,
                     "ideal": ideal_speedup(n, low, high), "lead": lead_high,
                     "after_lead": (t_low - lead_low) / max(t_high - lead_high, 1e-9)})
    return rows


def print_speedup_table(rows: List[Dict[str, float]], n: int, low: int, high: int) -> bool:
    print(f"\nfirst build of {n} independent modules (pdd build --no-tests), fresh repository and cache per run")
    print(f"{'latency':>8} | {f'jobs {low} (s)':>11} | {f'jobs {high} (s)':>11} | {'speed-up':>8} | "
          f"{'ideal':>6} | {'ratio':>5} | target       | {f'start-up {high}':>10} | from 1st request")
    print("-" * 110)
    all_ok = True
    for r in rows:
        target = speedup_target(r["latency"])
        ok = r["speedup"] >= target
        all_ok &= ok
        print(f"{r['latency']:>6g} s | {r['low']:>11.2f} | {r['high']:>11.2f} | {r['speedup']:>7.2f}x | "
              f"{r['ideal']:>5.2f}x | {r['speedup'] / r['ideal']:>5.2f} | >= {target:g}x {verdict(ok)} | "
              f"{r['lead']:>8.2f} s | {r['after_lead']:.2f}x")
    print("start-up: from the command's start to its first request (interpreter, CLI, plan, backend construction "
          "with its SDK import); from 1st request: the speed-up of what follows it")
    return all_ok


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[NOOP_SIZE],
                        help="module counts; the no-op build is measured at the largest (default: 1000)")
    parser.add_argument("--speedup-size", type=int, default=SPEEDUP_SIZE,
                        help="modules in the speed-up table's builds (default 100; 0: no table)")
    parser.add_argument("--latencies", type=float, nargs="+", default=sorted(SPEEDUP_TARGETS),
                        help="fake model latencies per request, seconds (default 0.2 1.0)")
    parser.add_argument("--jobs", type=int, nargs=2, default=[1, 8], metavar=("LOW", "HIGH"),
                        help="the two --jobs values compared (default: 1 8)")
    parser.add_argument("--noop-runs", type=int, default=NOOP_RUNS, help="no-op builds to take the median of (default 3)")
    parser.add_argument("--profile", action="store_true", help="profile the no-op build (importtime and cProfile)")
    parser.add_argument("--top", type=int, default=25, help="rows to show in profiles")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    parser.add_argument("--test-runs", type=int, default=5,
                        help="behavior-test runs to take the CPU median of (default 5; 0 skips the figure)")
    args = parser.parse_args(argv)

    low, high = args.jobs
    workdir = Path(tempfile.mkdtemp(prefix="pdd-bench-"))
    servers: Dict[float, Any] = {}

    def server_for(latency: float):
        if latency not in servers:
            servers[latency] = fakeserver.FakeModelServer(answer, latency=latency).start()
        return servers[latency]

    rows: List[Dict[str, float]] = []
    noop: List[float] = []
    noop_floor: List[float] = []
    noop_n = max(args.sizes)
    startup = None
    print(f"pdd build benchmark: speed-up at N={args.speedup_size}, latencies {args.latencies} s/request, "
          f"jobs {low} vs {high}; no-op build at N={noop_n}; python {sys.version.split()[0]}, {os.cpu_count()} CPU(s)")
    print(f"work dir {workdir}\n", flush=True)
    try:
        if args.speedup_size:
            rows = speedup_table(server_for, workdir, args.speedup_size, args.latencies, low, high)
        if noop_n:
            server = server_for(args.latencies[0])
            _, repo_high, _ = first_build(server, workdir, noop_n, high)
            noop, noop_floor = noop_builds(server, repo_high, args.noop_runs)
            startup = startup_seconds(server, repo_high)
            print(f"  N={noop_n:<5} no-op build: {', '.join(f'{t:.2f}' for t in noop)} s", flush=True)
            if args.profile:
                profile_noop(server, repo_high, workdir, args.top)
    finally:
        for server in servers.values():
            server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    all_ok = print_speedup_table(rows, args.speedup_size, low, high) if rows else True
    if noop:
        med, floor = statistics.median(noop), statistics.median(noop_floor)
        ok = med <= NOOP_FLOOR_RATIO * floor
        label = "" if noop_n == NOOP_SIZE else f"  (target is defined at N={NOOP_SIZE})"
        print(f"\nno-op pdd build at N={noop_n}: median {med:.2f} s of {len(noop)} "
              f"(runs: {', '.join(f'{t:.2f}' for t in noop)}; `pdd --version` alone: {startup:.2f} s) | "
              f"floor {floor:.2f} s (python start-up + the git calls it needs) | ratio {med / floor:.2f}x | "
              f"target <= {NOOP_FLOOR_RATIO:g}x | {verdict(ok)}{label}")
        all_ok &= ok
    if args.test_runs > 0:
        cpu_dir = Path(tempfile.mkdtemp(prefix="pdd-bench-cpu-"))
        try:
            all_ok &= test_run_cpu(cpu_dir, args.test_runs)
        finally:
            shutil.rmtree(cpu_dir, ignore_errors=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
