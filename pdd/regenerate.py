"""``pdd check --regenerate``: prove the prompts alone reproduce a working system.

Every module is rebuilt from its prompt into a scratch ``git worktree`` of
``HEAD`` whose ``generated/`` is emptied first (the committed generated code is
never used as context, and the worktree starts with no generation cache), with the
configured backend; the behavior tests must pass there. Nothing is written to the
user's working tree or notes; the run record goes to the user's ``.pdd/runs/``.
This is the check that catches forged notes.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pdd.build import BuildOptions, BuildReport, Builder, Reporter
from pdd.config import load_config
from pdd.errors import UsageError
from pdd.git import rev_exists, run
from pdd.project import Project
from pdd.prompt import GENERATED_DIR, TARGET


@dataclass
class RegenerateReport:
    """The scratch build's report plus, per module, whether the regenerated file
    equals the committed one (``same``; differing is normal for sampling models).
    ``deterministic``: the backend answers with recordings (the registry's flag), so
    committed code that differs from its regeneration was not generated from its prompt."""

    build: BuildReport
    same_as_committed: dict[str, bool]
    deterministic: bool = False


def regenerate(project: Project, reporter: Reporter, jobs: int | None = None, attempts: int | None = None) -> RegenerateReport:
    """Rebuild everything from prompts in a scratch worktree of HEAD. Raises
    :class:`UsageError` without a commit."""
    root = project.root
    if not rev_exists(root, "HEAD"):
        raise UsageError("--regenerate needs a commit to check out", hint="commit first")
    scratch = Path(tempfile.mkdtemp(prefix="pdd-regenerate-"))
    tree = scratch / "tree"
    try:
        run(root, "worktree", "add", "--detach", "--quiet", str(tree), "HEAD", check=True)
        gen = tree / GENERATED_DIR
        committed = {p.relative_to(tree).as_posix(): p.read_bytes() for p in gen.rglob("*" + TARGET.SUFFIX)} if gen.exists() else {}
        if gen.exists():
            shutil.rmtree(gen)
        scratch_project = Project(root=tree, config=load_config(tree))
        builder = Builder(scratch_project, BuildOptions(force=True, jobs=jobs, attempts=attempts, write_notes=False,
                                                         command="check-regenerate"), reporter, run_root=root)
        report = builder.run()
        same = {}
        for r in report.results:
            new = tree / r.output
            same[r.name] = new.is_file() and committed.get(r.output) == new.read_bytes()
        return RegenerateReport(report, same, builder.caller.deterministic)
    finally:
        run(root, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(scratch, ignore_errors=True)
        run(root, "worktree", "prune")
