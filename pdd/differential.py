"""The differential engine: compare N implementations of one module on generated inputs.

Used by ``pdd probe`` (candidates of one prompt), ``pdd diff`` (base vs head of one
module) and, next, adoption (hand-written vs regenerated). The implementations are
given as **source texts**, never as files in ``generated/``: :func:`compare` writes
them to a scratch folder and runs :mod:`pdd.differential_runner` on them in a
subprocess with a timeout, launched by :func:`launch` (the one place a sandbox
wraps the model-written code).

What the runner does (details in :mod:`pdd.differential_runner`): hypothesis draws
arguments from the type annotations (``st.from_type``) and from the literals of
the code, of the behavior tests and of the prompt's examples plus their mutations
(digits only, separators doubled, surrounding whitespace, empty, case changes,
boundary numbers), with a fixed seed and a budget of ``max_examples`` per target;
it compares the returned value, the exception type and the mutation of builtin
container arguments; every side is called twice per input, and a side that gives
two different results is reported ``nondeterministic`` (not compared); the first
difference found is shrunk and re-run on every side to confirm it before it is
reported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pdd
from pdd import targets


def differences_of(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets of a comparison on which the implementations differ (confirmed)."""
    return [t for t in targets if t.get("status") == "disagree"]


@dataclass(frozen=True)
class Implementation:
    """One side of a comparison: a ``label`` shown in reports (``base``, ``head``,
    ``candidate 2``), an ``index`` (1-based, stable) and the module's ``source`` text."""

    index: int
    label: str
    source: str


@dataclass
class EngineOptions:
    """``max_examples``: hypothesis examples per target; ``seed``: the hypothesis seed
    (fixed, so a run is reproducible); ``call_timeout``: seconds per call;
    ``timeout``: seconds for the whole comparison; ``target_budget``: seconds per
    target before it stops early; ``common_only``: skip targets some implementation
    lacks (else a missing target is an outcome, ``raises (missing)``)."""

    max_examples: int = 100
    seed: int = 0
    call_timeout: float = 2.0
    timeout: float = 300.0
    target_budget: float = 60.0
    common_only: bool = False
    sandbox: str = "auto"  # tests.sandbox: auto | bwrap | none (see pdd.sandbox)


@dataclass
class Comparison:
    """The runner's results: ``targets`` (one dict per public target, see
    :mod:`pdd.differential_runner`), ``notes`` (an implementation that lacks a
    target, or cannot be imported: ``kind`` ``interface`` / ``import``), ``problem``
    (the run failed or timed out, else ``None``) and the options used."""

    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    max_examples: int = 100
    seed: int = 0

    @property
    def differences(self) -> list[dict[str, Any]]:
        return differences_of(self.targets)

    @property
    def import_failures(self) -> int:
        return sum(1 for n in self.notes if n.get("kind") == "import")


def launch(argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float, root: Path, writable: list[Path],
           sandbox: str = "auto") -> tuple[int | None, str]:
    """Run the engine's subprocess ``argv`` (model-written code runs in it) through
    :func:`pdd.sandbox.launch`: confined per ``sandbox`` (``root`` read-only, only
    ``writable`` writable), stdout discarded. Returns ``(exit code or None on
    timeout, stderr)``; on timeout the process group is killed. Raises
    :class:`pdd.errors.UsageError` if ``sandbox`` is ``bwrap`` and bwrap is unusable."""
    from pdd.sandbox import launch as confined_launch, select
    from pdd.testrun import kill_group

    proc = confined_launch(argv, root=root, writable=writable, sandbox=select(sandbox), cwd=cwd, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        return None, ""
    except BaseException:
        kill_group(proc)
        proc.wait()
        raise
    return proc.returncode, err or ""


def compare(impls: list[Implementation], *, module: str, deps_root: Path, options: EngineOptions | None = None,
            tests: list[str] = (), texts: list[str] = ()) -> Comparison:  # type: ignore[assignment]
    """Compare ``impls`` (at least two) as versions of module ``module``
    (``generated.billing.money``: relative imports resolve in its package).
    ``deps_root``: the folder whose ``generated/`` provides the dependencies;
    ``tests``: behavior-test source texts and ``texts``: prompt texts, for literals.
    Credential-like environment variables are not passed on. Never raises for bad
    implementations: they are reported in :attr:`Comparison.notes`."""
    options = options or EngineOptions()
    from pdd.sandbox import scratch_dir

    tmp = scratch_dir("pdd-differential-")
    try:
        entries = []
        for impl in impls:
            path = tmp / "implementations" / f"impl_{impl.index}{targets.get().SUFFIX}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(impl.source, encoding="utf-8")
            entries.append({"index": impl.index, "label": impl.label, "path": str(path)})
        results = tmp / "results.jsonl"
        cfg = {"candidates": entries, "module": module, "results": str(results), "tests": list(tests),
               "texts": list(texts), "max_examples": options.max_examples, "seed": options.seed,
               "call_timeout": options.call_timeout, "target_budget": options.target_budget,
               "common_only": options.common_only}
        cfg_path = tmp / "config.json"
        cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
        env = dict(os.environ)  # pdd.sandbox.launch passes on only its allow-list
        pdd_parent = str(Path(pdd.__file__).resolve().parent.parent)
        # deps_root first: its generated/ must win over one next to pdd itself (a source checkout of pdd has one)
        env["PYTHONPATH"] = os.pathsep.join([str(deps_root), pdd_parent] +
                                            ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        workdir = tmp / "work"
        workdir.mkdir()
        code, err = launch(targets.get().differential_command(str(cfg_path)), cwd=workdir, env=env,
                           timeout=options.timeout, root=deps_root, writable=[tmp], sandbox=options.sandbox)
        out = Comparison(max_examples=options.max_examples, seed=options.seed)
        if code is None:
            out.problem = (f"the comparison timed out after {options.timeout:g} s "
                           f"(raise the timeout or lower --max-examples)")
        elif code != 0:
            tail = [ln for ln in err.strip().splitlines() if ln.strip()][-5:]
            out.problem = f"the comparison failed (exit {code}): " + " | ".join(tail)
        if results.exists():
            for line in results.read_text(encoding="utf-8").splitlines():
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("kind") in ("interface", "import") and r.get("status") in ("note", "error"):
                    out.notes.append(r)
                else:
                    out.targets.append(r)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def difference_text(target: dict[str, Any]) -> str:
    """A difference as a concrete call: ``parse('1,5'): base returns Decimal('1.5'),
    head raises ValueError``."""
    parts = [f"{' and '.join(o.get('labels') or map(str, o['candidates']))} {o['text']}"
             for o in target.get("outcomes", [])]
    return f"{target.get('call')}: " + ", ".join(parts)
