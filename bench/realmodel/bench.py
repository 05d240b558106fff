#!/usr/bin/env python
"""Build the graded corpus with a real model and report pass@1, pass@3, requests,
tokens, seconds per module and reproducibility.

The corpus (``bench/realmodel/corpus/``) has 12 six-section specs in three levels:
1 a single pure function, 2 a small class with invariants, 3 a module that depends
on another generated module. Each run copies it into a fresh temporary git
repository, runs ``pdd init`` and then ``pdd build --attempts N --jobs 1 --json``
through the real command line against an OpenAI-compatible server (the
``openai`` backend, streaming), with no cache shared between runs. Two runs
(``--runs 2``) tell whether the model gave byte-identical files.

    python bench/realmodel/server.py start --model 0.5b     # prints the URL and name
    python bench/realmodel/bench.py --url http://127.0.0.1:PORT/v1 \\
        --model qwen2.5-coder-0.5b-instruct --runs 2 --out /tmp/bench-0.5b.json

Metrics, per module and in total (over the first run; reproducibility over all):

* pass@1: built with its tests passing on attempt 1; pass@3 (pass@N): built within
  ``--attempts`` attempts (a module blocked by a failed dependency fails);
* requests: HTTP requests made (failed and timed-out ones included), tokens in/out
  as the server reported them, seconds: wall time of the module in ``pdd build``;
* test runs and repeated answers (answers identical to a failing one, not re-tested);
* identical: whether every run produced the same bytes for the module (or the same
  failure).

``--url`` may be any OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp, the fake
server of the tests answering with ``corpus/reference/``). Exit code 0 when the
bench ran (whatever the pass rates), 2 bad usage, 3 a build could not run at all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
#: level of each corpus item (see the module docstring)
LEVELS = {"roman": 1, "word_freq": 1, "intervals": 1, "slugify": 1, "rle": 1, "money": 1,
          "min_stack": 2, "ring_buffer": 2, "lru_cache": 2,
          "invoice": 3, "anchors": 3, "top_words": 3}


def _env(url: str, model: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDD_") and not k.endswith("_API_KEY")}
    env.update({"PDD_BACKEND": "openai", "PDD_MODEL": model, "OPENAI_BASE_URL": url, "NO_COLOR": "1",
                "GIT_AUTHOR_NAME": "pdd bench", "GIT_AUTHOR_EMAIL": "bench@localhost",
                "GIT_COMMITTER_NAME": "pdd bench", "GIT_COMMITTER_EMAIL": "bench@localhost"})
    return env


def _pdd(repo: Path, env: Dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pdd", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=timeout)


def make_project(root: Path, env: Dict[str, str], items: List[str], request_timeout: float,
                 max_tokens: int | None = None) -> Path:
    """A fresh git repository with ``pdd init`` and the corpus items (and their dependencies)."""
    repo = root / "project"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=env)
    proc = _pdd(repo, env, "init", timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"pdd init failed:\n{proc.stderr}")
    for name in items:
        for src, dst in ((CORPUS / "prompts" / "corpus" / f"{name}.prompt", repo / "prompts" / "corpus" / f"{name}.prompt"),
                         (CORPUS / "behavior_tests" / "corpus" / f"test_{name}.py",
                          repo / "behavior_tests" / "corpus" / f"test_{name}.py")):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    cfg = repo / ".pdd" / "config.yaml"
    text = cfg.read_text(encoding="utf-8")
    text = text.replace("  timeout: 120                # seconds per request", f"  timeout: {request_timeout:g}", 1)
    if max_tokens is not None:
        text = text.replace("\nmax_tokens: 8192\n", f"\nmax_tokens: {max_tokens}\n", 1)
        if f"\nmax_tokens: {max_tokens}\n" not in text:
            raise SystemExit("the config written by pdd init has no `max_tokens: 8192` line to set")
    cfg.write_text(text, encoding="utf-8")
    return repo


def with_dependencies(items: List[str]) -> List[str]:
    out = list(items)
    for name in items:
        text = (CORPUS / "prompts" / "corpus" / f"{name}.prompt").read_text(encoding="utf-8")
        deps = text.split("depends: [", 1)[1].split("]", 1)[0]
        for d in filter(None, (x.strip() for x in deps.split(","))):
            d = d.split("/", 1)[1]
            if d not in out:
                out.append(d)
    return out


def run_once(url: str, model: str, items: List[str], attempts: int, request_timeout: float,
             max_tokens: int | None = None) -> Dict[str, Any]:
    """One build of ``items`` in a fresh repository; per-module results and file bytes."""
    env = _env(url, model)
    with tempfile.TemporaryDirectory(prefix="pdd-realmodel-bench-") as tmp:
        repo = make_project(Path(tmp), env, with_dependencies(items), request_timeout, max_tokens)
        t0 = time.monotonic()
        proc = _pdd(repo, env, "build", "--attempts", str(attempts), "--jobs", "1", "--json", timeout=6 * 3600)
        seconds = time.monotonic() - t0
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError:
            raise SystemExit(f"pdd build gave no JSON (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        modules = {}
        for name, entry in report["modules"].items():
            short = name.split("/", 1)[1]
            path = repo / entry["output"]
            entry["code"] = path.read_text(encoding="utf-8") if entry["status"] == "built" else None
            modules[short] = entry
        return {"exit_code": proc.returncode, "seconds": seconds, "modules": modules,
                "stderr_tail": proc.stderr[-2000:]}


def summarise(runs: List[Dict[str, Any]], items: List[str], attempts: int) -> Dict[str, Any]:
    rows = []
    first = runs[0]["modules"]
    for name in items:
        e = first.get(name, {})
        built = e.get("status") == "built"
        outcomes = [(r["modules"].get(name, {}).get("status"), r["modules"].get(name, {}).get("code")) for r in runs]
        rows.append({
            "module": name, "level": LEVELS.get(name), "status": e.get("status"),
            "pass@1": built and e.get("attempts") == 1, f"pass@{attempts}": built,
            "attempts": e.get("attempts"), "requests": e.get("requests") or 0,
            "tokens_in": e.get("tokens_in") or 0, "tokens_out": e.get("tokens_out") or 0,
            "seconds": round(e.get("seconds") or 0.0, 1), "test_runs": e.get("test_runs"),
            "repeated": e.get("repeated_answers"), "identical": len(set(outcomes)) == 1 if len(runs) > 1 else None,
            "error": (e.get("error") or "")[:160],
        })
    n = len(rows)
    total = {
        "modules": n,
        "pass@1": sum(r["pass@1"] for r in rows), f"pass@{attempts}": sum(r[f"pass@{attempts}"] for r in rows),
        "requests": sum(r["requests"] for r in rows), "tokens_in": sum(r["tokens_in"] for r in rows),
        "tokens_out": sum(r["tokens_out"] for r in rows),
        "seconds_per_module": round(sum(r["seconds"] for r in rows) / n, 1) if n else 0.0,
        "identical": sum(bool(r["identical"]) for r in rows) if len(runs) > 1 else None,
        "repeated": sum(r["repeated"] or 0 for r in rows),
    }
    return {"rows": rows, "total": total}


def print_table(summary: Dict[str, Any], attempts: int, runs: int) -> None:
    k = f"pass@{attempts}"
    head = f"{'module':<12} {'lvl':>3} {'p@1':>4} {'p@' + str(attempts):>4} {'att':>3} {'req':>4} {'tok in':>7} " \
           f"{'tok out':>7} {'s':>7} {'tests':>5} {'rep':>3} {'same':>5}"
    print(head)
    for r in summary["rows"]:
        same = "-" if r["identical"] is None else ("yes" if r["identical"] else "no")
        print(f"{r['module']:<12} {r['level']:>3} {'yes' if r['pass@1'] else 'no':>4} {'yes' if r[k] else 'no':>4} "
              f"{r['attempts'] or 0:>3} {r['requests']:>4} {r['tokens_in']:>7} {r['tokens_out']:>7} {r['seconds']:>7} "
              f"{r['test_runs'] or 0:>5} {r['repeated'] or 0:>3} {same:>5}")
    t = summary["total"]
    same = "-" if t["identical"] is None else f"{t['identical']}/{t['modules']}"
    print(f"total: pass@1 {t['pass@1']}/{t['modules']}, {k} {t[k]}/{t['modules']}, requests {t['requests']}, "
          f"tokens in {t['tokens_in']}, out {t['tokens_out']}, {t['seconds_per_module']} s/module, "
          f"repeated answers {t['repeated']}, identical over {runs} run(s): {same}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    ap.add_argument("--model", required=True, help="model name the server answers to")
    ap.add_argument("--attempts", type=int, default=3)
    ap.add_argument("--runs", type=int, default=2, help="runs to compare for reproducibility")
    ap.add_argument("--items", default=",".join(LEVELS), help="comma-separated corpus items (default: all 12)")
    ap.add_argument("--timeout", type=float, default=300, help="openai.timeout: seconds between streamed chunks")
    ap.add_argument("--max-tokens", type=int, default=None,
                    help="max_tokens of every request (default: the project's, 8192); a small model that loops "
                         "runs to it, at a few tokens/s")
    ap.add_argument("--out", help="write the runs and the summary as JSON here (after every run)")
    args = ap.parse_args(argv)
    items = [i.strip() for i in args.items.split(",") if i.strip()]
    unknown = [i for i in items if i not in LEVELS]
    if unknown or args.attempts < 1 or args.runs < 1 or (args.max_tokens is not None and args.max_tokens < 1):
        print(f"error: unknown corpus item(s) {unknown}; known: {', '.join(LEVELS)}" if unknown
              else "error: --attempts, --runs and --max-tokens must be at least 1", file=sys.stderr)
        return 2
    runs = []
    for i in range(args.runs):
        print(f"[bench] run {i + 1}/{args.runs}: {len(items)} module(s) with {args.model}", file=sys.stderr, flush=True)
        runs.append(run_once(args.url, args.model, items, args.attempts, args.timeout, args.max_tokens))
        print(f"[bench] run {i + 1} took {runs[-1]['seconds']:.0f} s (pdd exit {runs[-1]['exit_code']})",
              file=sys.stderr, flush=True)
        summary = summarise(runs, items, args.attempts)  # after every run: a stopped bench keeps what it measured
        print_table(summary, args.attempts, len(runs))
        if args.out:
            Path(args.out).write_text(json.dumps({"model": args.model, "attempts": args.attempts,
                                                  "max_tokens": args.max_tokens, "runs": runs, "summary": summary},
                                                 indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
