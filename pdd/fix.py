"""``pdd fix``: move a fix into the prompt, then regenerate.

Two ways in:

* **A failing behavior test** (``pdd fix NAME``): the model gets the prompt file,
  the generated code and the failing test output, and is asked for a *revised
  prompt*, never code.
* **A hand edit** (``pdd fix generated/PATH.py`` on a file that is not genuine):
  the edited file is saved under ``.pdd/fix/<time>-<pid>-<n>/`` first (a new
  folder per fix, never shared; :func:`pdd.recovery.new_fix_folder`); the model gets the
  prompt file and the unified diff from the last genuine version (the newest blob
  of that path in ``HEAD``'s history, or the index, that has a pdd note naming
  the path) to the edited file, and is asked to revise the prompt so that it asks
  for what the edit did.

Each attempt: validate the revision (it must parse as a prompt file, keep the
module's dependency graph acyclic with known modules, render, and keep section
headings if the original had them; otherwise it is rejected, not written, and the
reason is fed back), show it as a unified diff of the prompt file, apply it when
the user agrees (atomic write), regenerate the module through :mod:`pdd.build`
and run its tests. Up to ``attempts`` attempts. Behavior tests are never edited.

Before the first revision is applied, the original prompt is copied to
``.pdd/fix/<id>/original/`` with a ``pending.json`` that the end of the
fix removes; a killed fix is named by ``pdd status`` and ``pdd fix`` with the
command that restores it (:func:`pdd.recovery.interrupted_fixes`). The whole fix
holds the repository lock.

When the attempts run out, or on Ctrl-C, the prompt file is restored to what it
was (``keep`` keeps the last revision), and the generated file is left genuine
(in hand-edit mode the last genuine version is restored; the edit stays saved).
Every fix writes a run record (``.pdd/runs/*-fix-*.json``) with the attempts,
diffs, tokens and outcome.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pdd import __version__, targets
from pdd.atomicfile import write_atomic
from pdd.errors import EXIT_BACKEND, EXIT_OK, EXIT_PROBLEM, BackendError, InputError, PddError, UsageError
from pdd.extract import answer_opening, fenced_blocks
from pdd.fingerprint import generator_for
from pdd.freshness import worktree_blob_id
from pdd.generation import normalise_test_output
from pdd.graph import check_graph
from pdd.modelcall import ModelCaller, request_for
from pdd.project import Project
from pdd.prompt import PromptSpec, parse_prompt
from pdd.provenance.source import Notes
from pdd.recovery import FIX_RELPATH, finish_fix, interrupted_fixes, new_fix_folder, repo_lock, save_original, tmp_folder
from pdd.runs import Spend, now_iso, write_run
from pdd.testrun import run_tests, test_settings

if TYPE_CHECKING:
    from pdd.build import ModuleResult, Reporter

FIX_TEMPLATE_VERSION = "pdd-fix-1"

SYSTEM_PROMPT = f"""\
You maintain the prompt files of pdd, a prompt-driven development toolchain. A prompt file is the
specification from which a language model generates one {targets.get().MODULE_KIND}; generated code is never
edited by hand, so every fix must live in the prompt.

Answer with the complete revised prompt file in one code block fenced with FOUR backticks and tagged
`prompt` (````prompt ... ````), so that code blocks inside the prompt stay inside it, and nothing after it. Keep the YAML front matter (between the `---` lines) valid and keep its keys unless the fix
requires changing them; keep the Markdown sections and the Jinja2 includes. Change only what the fix
needs: state the missing or wrong requirement precisely, so that a regeneration from the prompt alone
produces the fixed behavior. Do not paste code into the prompt; describe behavior. The behavior tests
are the reviewer and are correct: never ask to change them.
"""


@dataclass
class FixAttempt:
    """One attempt: the proposed diff, whether it was valid/applied, the regeneration outcome."""

    number: int
    diff: str = ""
    valid: bool = False
    rejected_because: str | None = None
    applied: bool = False
    regenerated: str | None = None  # build status of the module
    tests: str | None = None
    requests: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FixReport:
    """Outcome of one ``pdd fix`` on one module. ``outcome``: fixed | nothing-to-fix |
    exhausted | declined | dry-run | backend-error | interrupted."""

    module: str
    mode: str
    outcome: str
    attempts: list[FixAttempt] = field(default_factory=list)
    saved_edit: str | None = None
    message: str = ""
    run_path: Path | None = None
    spend: Spend = field(default_factory=Spend)  # the prompt-revision requests (see pdd.runs)
    regeneration_spend: Spend = field(default_factory=Spend)  # the regenerations (their own fix-build runs)

    @property
    def exit_code(self) -> int:
        if self.outcome in ("fixed", "nothing-to-fix", "dry-run"):
            return EXIT_OK
        if self.outcome == "backend-error":
            return EXIT_BACKEND
        return EXIT_PROBLEM


def prompt_diff(path: str, old: str, new: str) -> str:
    """Unified diff (``a/PATH`` → ``b/PATH``) of a prompt file's texts; empty if equal."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{path}", tofile=f"b/{path}"))


CONTINUATION = "\u21aa "  # marks a wrapped line's continuation in a diff shown for approval


def wrap_diff(diff: str, width: int) -> str:
    """``diff`` with every line longer than ``width`` columns wrapped, so nothing the
    user is asked to approve runs past the screen edge. A continuation keeps the
    line's diff marker (``+``, ``-`` or space) followed by :data:`CONTINUATION`;
    lines are cut, not re-flowed, so joining the pieces gives the line back. Widths
    below 20 are treated as 20. Columns are counted as characters."""
    width = max(width, 20)
    out: list[str] = []
    for line in diff.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        marker = line[:1] if line[:1] in "+- " and not line.startswith(("+++", "---")) else ""
        out.append(line[:width])
        rest = line[width:]
        step = width - len(marker) - len(CONTINUATION)
        while rest:
            out.append(marker + CONTINUATION + rest[:step])
            rest = rest[step:]
    return "\n".join(out) + ("\n" if diff.endswith("\n") else "")


def validate_revision(project: Project, spec: PromptSpec, original: str, revised: str) -> PromptSpec:
    """Parse and check a revised prompt text. Raises :class:`InputError` saying why it is rejected."""
    from pdd.render import render_prompt

    new_spec = parse_prompt(revised, path=spec.path, name=spec.name, tests_dir=project.config.tests_dir)
    specs = dict(project.specs())
    specs[spec.name] = new_spec
    check_graph(specs)
    if new_spec.output != spec.output:
        raise InputError(spec.path, new_spec.keys_line.get("output"), "the revision changes the output path")
    for key in ("tests", "model", "temperature", "lint_disable"):
        if getattr(new_spec, key) != getattr(spec, key):
            raise InputError(spec.path, new_spec.keys_line.get(key),
                             f"the revision changes '{key.replace('_disable', '')}': the behavior tests, the generator and the lint rules "
                             "are not the fix's to change")
    from pdd.lint import sections_present

    had = sections_present(original)
    kept = had & sections_present(revised)
    if had and not kept:
        raise InputError(spec.path, None, "the revision removed all the specification's sections")
    if had - kept:
        raise InputError(spec.path, None, "the revision dropped section(s): " + ", ".join(sorted(had - kept)))
    if not revised.strip():
        raise InputError(spec.path, None, "the revision is empty")
    render_prompt(new_spec, project.root, project.config.prompts_dir)
    return new_spec


class NoPromptError(ValueError):
    """A fix answer holds no fenced prompt block."""


def extract_prompt(answer: str) -> str:
    """The prompt file text in a model answer: the longest fenced block (preferring
    ``prompt``/``markdown``/``md`` tags). Raises :class:`NoPromptError`, quoting the
    answer's first lines, when it has no fenced block."""
    blocks = fenced_blocks(answer)
    if not blocks:
        raise NoPromptError(f"the answer had no prompt block; it began: {answer_opening(answer)}")
    preferred = [b for b in blocks if b.lang in ("prompt", "markdown", "md", "yaml", "text", "")] or blocks
    return max(preferred, key=lambda b: len(b.text)).text.strip("\n") + "\n"


def fix_messages(spec: PromptSpec, prompt_text: str, code: str, evidence_title: str, evidence: str) -> list[dict[str, str]]:
    """The request for a prompt revision."""
    user = (
        f"Prompt file: {spec.path}\nModule: {spec.module} ({spec.output})\n\n"
        f"## Current prompt file\n````prompt\n{prompt_text.rstrip()}\n````\n\n"
        f"## Code generated from it\n```{targets.get().FENCE_TAG}\n{code.rstrip()}\n```\n\n"
        f"## {evidence_title}\n```\n{evidence.rstrip()}\n```\n\n"
        "Revise the prompt file so that the module regenerated from it alone is right. "
        "Answer with the complete revised prompt file in one ````prompt block (four backticks)."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def last_genuine(project: Project, path: str) -> tuple[str, bytes] | None:
    """(blob id, content) of the newest version of ``path`` that has a pdd note naming
    it: the index, then ``HEAD``'s history. ``None`` if there is none."""
    repo = project.repo
    candidates: list[str] = []
    try:
        entry = repo.index[path]
        candidates.append(str(entry.id))
    except KeyError:
        pass
    from pdd.git import run

    log = run(project.root, "log", "--format=%H", "-n", "200", "--", path, text=True)
    for commit in log.stdout.split():
        try:
            candidates.append(str(repo.revparse_single(f"{commit}:{path}").id))
        except (KeyError, ValueError):
            continue
    candidates = list(dict.fromkeys(candidates))
    notes = Notes(project.root)
    try:
        notes.prefetch(candidates)  # the notes of the whole walk in one listing and one batch read
        for blob in candidates:
            if notes.for_path(blob, path):
                return blob, repo[blob].data
    finally:
        notes.close()
    return None


class Fixer:
    """One ``pdd fix`` of one module."""

    def __init__(self, project: Project, reporter: "Reporter", *, attempts: int = 3, yes: bool = False,
                 dry_run: bool = False, keep: bool = False, confirm: Callable[[str], bool] | None = None,
                 show: Callable[[str], None] | None = None, budget: float | None = None) -> None:
        from pdd.config import check_test_command

        check_test_command(project.config, project.root)
        from pdd.repopath import require_inside
        from pdd.runs import RUNS_DIR

        require_inside(project.root, RUNS_DIR, "the run records folder")
        self.project = project
        self.reporter = reporter
        self.attempts = attempts
        self.yes = yes
        self.dry_run = dry_run
        self.keep = keep
        self.confirm = confirm or (lambda _q: False)
        self.show = show or (lambda text: reporter.message(text))
        self.caller = ModelCaller(project, record=False, budget=budget)
        self._folder: Path | None = None  # .pdd/fix/<id>/ of the fix in progress
        self.caller.require_prices([project.config.model] + [s.model for s in project.specs().values()])

    # -- entry points -------------------------------------------------------------
    def fix_module(self, spec: PromptSpec) -> FixReport:
        """Fix a module whose behavior tests fail."""
        root = self.project.root
        code_path = root / spec.output
        if not code_path.is_file():
            raise UsageError(f"{spec.output} does not exist", hint=f"run `pdd build {spec.name}` first")
        tests = spec.existing_tests(root)
        if not tests:
            raise UsageError(f"{spec.name} has no behavior tests to fix against", hint=f"write {spec.tests[0]}")
        # The current file as the candidate: an import error in it is the module's fault, to fix.
        outcome = run_tests(root, tests, output=spec.output, code=code_path.read_text(encoding="utf-8"),
                            **test_settings(self.project.config))
        if outcome.passed:
            return FixReport(spec.name, "tests", "nothing-to-fix", message=f"{spec.name}: behavior tests pass; nothing to fix")
        if outcome.not_started:  # the project's test set-up, not the prompt: nothing for the model to fix
            raise UsageError(f"{spec.name}: {outcome.start_problem()}",
                             hint="fix the test set-up (see `pdd doctor`), then run `pdd fix` again")
        evidence = normalise_test_output(outcome.output, {})
        return self._loop(spec, "tests", code_path.read_text(encoding="utf-8"), "Failing behavior test output", evidence,
                          restore_code=None, saved=None)

    def fix_edit(self, spec: PromptSpec) -> FixReport:
        """Fix a generated file edited by hand: move the edit into the prompt."""
        root = self.project.root
        path = root / spec.output
        edited = path.read_bytes()
        notes = Notes(root)
        try:
            genuine = bool(notes.for_path(worktree_blob_id(self.project, spec.output), spec.output))
        finally:
            notes.close()
        if genuine:
            return self.fix_module(spec)
        base = last_genuine(self.project, spec.output)
        if base is None:
            raise UsageError(f"no genuine version of {spec.output} was found in the index or history",
                             hint="describe the change in the prompt by hand, then `pdd build --force " + spec.name + "`")
        self._folder = None if self.dry_run else new_fix_folder(root)
        saved = (self._folder or root / FIX_RELPATH / "dry-run") / spec.output
        if not self.dry_run:
            write_atomic(saved, edited)
            self.reporter.message(f"saved your edited file to {saved.relative_to(root)}")
        genuine_text = base[1].decode("utf-8", "replace")
        edit_diff = "".join(difflib.unified_diff(genuine_text.splitlines(keepends=True),
                                                 edited.decode("utf-8", "replace").splitlines(keepends=True),
                                                 fromfile=f"a/{spec.output}", tofile=f"b/{spec.output}"))
        return self._loop(spec, "edit", genuine_text, "A developer edited the generated code by hand (diff below); "
                          "revise the prompt so that it asks for what this edit does", edit_diff,
                          restore_code=base[1], saved=str(saved.relative_to(root)) if not self.dry_run else None)

    # -- the loop -------------------------------------------------------------------
    def _loop(self, spec: PromptSpec, mode: str, code: str, evidence_title: str, evidence: str,
              restore_code: bytes | None, saved: str | None) -> FixReport:
        """The revision loop under the repository lock (no build runs meanwhile). An
        interrupted earlier fix of this module must be resolved first (exit 2)."""
        root = self.project.root
        with repo_lock(root, "fix", notify=self.reporter.message):
            for left in interrupted_fixes(root):
                if left.prompt == spec.path:
                    raise UsageError(left.advice().replace("an interrupted", "an earlier, interrupted", 1),
                                     hint="then run `pdd fix` again")
                self.reporter.message(f"warning: {left.advice()}")
            try:
                return self._loop_locked(spec, mode, code, evidence_title, evidence, restore_code, saved)
            finally:
                self._folder = None

    def _loop_locked(self, spec: PromptSpec, mode: str, code: str, evidence_title: str, evidence: str,
                     restore_code: bytes | None, saved: str | None) -> FixReport:
        root = self.project.root
        prompt_path = root / spec.path
        original_bytes = prompt_path.read_bytes()  # restored byte for byte, with its mode
        prompt_mode = prompt_path.stat().st_mode & 0o7777
        original = original_bytes.decode("utf-8")
        current = original
        report = FixReport(spec.name, mode, "exhausted", saved_edit=saved)
        code_path = root / spec.output
        code_before = restore_code if restore_code is not None else code_path.read_bytes()
        messages = fix_messages(spec, current, code, evidence_title, evidence)
        started = now_iso()
        success = False
        pending = None  # .pdd/fix/<id>/ once the original prompt is saved there
        spend = report.spend
        try:
            for n in range(1, self.attempts + 1):
                attempt = FixAttempt(n)
                report.attempts.append(attempt)
                gen = generator_for(spec, self.project.config)
                request = request_for(gen, messages, spec.name)
                try:
                    completion, hit = self.caller(request)
                except BackendError as exc:
                    report.outcome, report.message = "backend-error", str(exc)
                    return report
                spend.add(completion, hit)
                attempt.requests = 0 if hit else 1
                attempt.tokens_in, attempt.tokens_out, attempt.cost_usd = (
                    (None, None, 0.0) if hit else (completion.tokens_in, completion.tokens_out, completion.cost_usd))
                try:
                    try:
                        revised = extract_prompt(completion.text)
                    except NoPromptError as exc:
                        raise InputError(spec.path, None, str(exc)) from None
                    attempt.diff = prompt_diff(spec.path, current, revised)
                    if not attempt.diff:
                        raise InputError(spec.path, None, "the revision is identical to the current prompt")
                    validate_revision(self.project, spec, original, revised)
                except InputError as exc:
                    attempt.rejected_because = exc.message
                    self.reporter.message(f"attempt {n}: revision rejected, not written: {exc.message}")
                    messages = [*messages, {"role": "assistant", "content": completion.text},
                                {"role": "user", "content": f"That revision was rejected: {exc.message}. "
                                 "Answer with a complete, valid prompt file in one ````prompt block (four backticks)."}]
                    continue
                attempt.valid = True
                self.show(attempt.diff)
                if self.dry_run:
                    report.outcome, report.message = "dry-run", "dry run: nothing was changed"
                    return report
                if not (self.yes or self.confirm(f"Apply this change to {spec.path}?")):
                    report.outcome, report.message = "declined", "the revision was not applied; nothing changed"
                    return report
                if pending is None:  # the original prompt is kept before it is first changed
                    pending = self._folder or new_fix_folder(root)
                    save_original(pending, spec.name, spec.path, spec.output, original_bytes)
                write_atomic(prompt_path, revised, mode=prompt_mode, tmp_dir=tmp_folder(root))
                attempt.applied = True
                current = revised
                self.project.forget_specs()  # the prompt changed: re-read specs
                result = self._regenerate(spec)
                report.regeneration_spend.merge(result.to_json())
                attempt.regenerated, attempt.tests = result.status, result.tests
                if result.status == "built":
                    success = True
                    report.outcome = "fixed"
                    report.message = (f"{spec.name}: prompt revised in {spec.path}, module regenerated, "
                                      f"behavior tests {result.tests}")
                    return report
                if result.backend_failed:
                    report.outcome, report.message = "backend-error", result.error or "the backend failed"
                    return report
                failure = normalise_test_output(result.detail or result.error or "", {})
                new_code_path = root / spec.output
                messages = fix_messages(spec, current, new_code_path.read_text(encoding="utf-8") if mode == "tests" else code,
                                        "Failing behavior test output after regenerating from the revised prompt",
                                        (evidence + "\n\n" if mode == "edit" else "") + failure)
            applied = [a for a in report.attempts if a.applied]
            if applied:
                report.message = (f"{spec.name}: no revision made the behavior tests pass after {self.attempts} attempt(s) "
                                  f"({len(applied)} revision(s) applied and tested); "
                                  + ("the last revision was kept (--keep)" if self.keep else f"{spec.path} was restored"))
            else:
                reasons = "; ".join(dict.fromkeys(a.rejected_because or "" for a in report.attempts if a.rejected_because))
                report.message = (f"{spec.name}: no usable revision in {self.attempts} attempt(s), none was applied or "
                                  f"tested: {reasons}; {spec.path} is unchanged")
            return report
        except KeyboardInterrupt:
            report.outcome, report.message = "interrupted", "interrupted: the prompt was restored"
            raise
        finally:
            if not success and not self.dry_run:
                if not (self.keep and report.outcome == "exhausted"):
                    if prompt_path.read_bytes() != original_bytes:
                        write_atomic(prompt_path, original_bytes, mode=prompt_mode, tmp_dir=tmp_folder(root))
                # Never leave code changed without its prompt: put back the genuine file
                # (in edit mode the user's edit is saved under .pdd/fix/). A declined
                # revision changed nothing, so the user's file stays as it is.
                try:
                    current_code: bytes | None = code_path.read_bytes()
                except FileNotFoundError:
                    current_code = None
                if report.outcome != "declined" and current_code != code_before:
                    write_atomic(code_path, code_before, tmp_dir=tmp_folder(root))
            finish_fix(pending)  # fixed, restored or kept on purpose: nothing is pending
            report.run_path = write_run(root, "fix", {
                "started": started, "ended": now_iso(), "pdd": __version__, "template": FIX_TEMPLATE_VERSION,
                "backend": self.project.config.backend, "model": self.project.config.model,
                "exit_code": report.exit_code, "module": spec.name, "mode": mode, "outcome": report.outcome,
                "saved_edit": saved, "attempts": [a.to_json() for a in report.attempts],
                # The prompt-revision requests; each regeneration is its own `fix-build` run record.
                "modules": {spec.name: {"status": report.outcome, "attempts": len(report.attempts), **spend.entry()}},
            })

    def _regenerate(self, spec: PromptSpec) -> "ModuleResult":
        """Rebuild ``spec`` from the revised prompt (one attempt, through this fix's caller)."""
        from pdd.build import BuildOptions, Builder

        builder = Builder(self.project, BuildOptions(names=[spec.name], force=True, attempts=1, command="fix-build"),
                          self.reporter, caller=self.caller)
        report = builder.run()
        return next(r for r in report.results if r.name == spec.name)


def failing_modules(project: Project) -> list[PromptSpec]:
    """Modules whose generated file exists and whose behavior tests fail now."""
    out = []
    for name, spec in sorted(project.specs().items()):
        tests = spec.existing_tests(project.root)
        if not tests or not (project.root / spec.output).is_file():
            continue
        if not run_tests(project.root, tests, **test_settings(project.config)).passed:
            out.append(spec)
    return out


__all__ = ["Fixer", "FixReport", "FixAttempt", "failing_modules", "prompt_diff", "validate_revision",
           "extract_prompt", "last_genuine", "PddError"]
