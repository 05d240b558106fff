"""``pdd doctor``: what pdd will run for the behavior tests, and whether it works.

It makes the same test run as ``pdd build`` (:func:`pdd.testrun.run_tests`: the
project's pytest configuration, pdd's plugin, a scratch overlay), with a probe
candidate ``generated.pdd_doctor_probe`` in the overlay and ``--collect-only``
over the behavior-tests folder, so the project's conftest files and test modules
are imported but no test runs. From the plugin's report it shows the command, the
rootdir and inifile pytest picked, the import mode, the interpreter, the sandbox
setting, the pytest plugins loaded (``tests.plugins``) and ``sys.path`` in order,
and it verifies that ``generated.*`` resolves through pdd's import hook to the
overlay first.

Result (:class:`Diagnosis`): ``sound`` is true when the run started, the hook was
first on ``sys.meta_path`` and the probe resolved to the overlay. Exit code 0 when
sound, 1 when not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pdd.project import Project

PROBE_OUTPUT = "generated/pdd_doctor_probe.py"
PROBE_CODE = '"""pdd doctor\'s probe candidate (in the scratch overlay only)."""\nPROBE = True\n'
OVERLAY = "<overlay>"


@dataclass
class Diagnosis:
    """``facts``: what the run looked like (JSON-ready); ``problems``: what is wrong,
    each with what to do next; ``sound``: no problem."""

    facts: dict[str, Any]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"sound": self.sound, **self.facts, "problems": self.problems, "notes": self.notes}


def _sandbox_setting(project: Project) -> dict[str, Any]:
    """The ``tests.sandbox`` setting and whether the tests will run confined, with
    the reason when not. Raises :class:`pdd.errors.UsageError` (exit 2) if bwrap is
    required but missing."""
    from pdd.sandbox import select

    setting = project.config.test_sandbox
    chosen = select(setting)
    return {"setting": setting, "confined": chosen.confined,
            **({"detail": chosen.reason} if chosen.reason else {})}


def diagnose(project: Project) -> Diagnosis:
    """Run the probe (see the module doc) and judge it. Raises :class:`OSError` if
    the test command cannot be started, :class:`pdd.errors.UsageError` for a
    sandbox that is required but missing."""
    from pdd.testrun import AUTOLOAD_VAR, pytest_invocation, run_tests, test_settings

    root = project.root
    config = project.config
    tests_dir = config.tests_dir.rstrip("/")
    command, env_changes = pytest_invocation(root, [], command=config.test_command, plugins=config.test_plugins,
                                             autoload=config.test_plugin_autoload)
    facts: dict[str, Any] = {
        "command": [*command, "<the module's behavior-test files>"],
        "cwd": str(root),
        "sandbox": _sandbox_setting(project),
        "plugin_autoload": env_changes.get(AUTOLOAD_VAR) is None,
    }
    diagnosis = Diagnosis(facts)
    targets = [tests_dir] if (root / tests_dir).is_dir() else []
    if not targets:
        diagnosis.notes.append(f"{tests_dir}/ does not exist: nothing to collect (write behavior tests there)")
    outcome = run_tests(root, targets, output=PROBE_OUTPUT, code=PROBE_CODE, **test_settings(config),
                        pytest_args=("--collect-only",))
    report = outcome.report or {}
    env = report.get("environment") or {}
    overlay = (env.get("roots") or [None])[0]

    def shown(value: Any) -> Any:
        if isinstance(value, str) and overlay:
            return value.replace(overlay, OVERLAY)
        if isinstance(value, list):
            return [shown(v) for v in value]
        return value

    facts.update({k: shown(env.get(k)) for k in ("rootdir", "inifile", "import_mode", "python", "sys_path",
                                                  "generated", "candidate_file")})
    facts["import_order"] = [f"{OVERLAY}/generated (pdd's import hook, first on sys.meta_path)",
                             f"{root}/generated"] if env.get("hook") else []
    facts["plugins"] = report.get("plugins")
    facts["collected"] = report.get("collected")
    facts["test_run"] = outcome.status
    if outcome.status == "timeout":
        diagnosis.problems.append(f"the test run timed out after {config.test_timeout:g} s "
                                  "(raise tests.timeout, or find the slow import)")
    elif not env:  # the session never ended: a conftest, plugin or usage error
        diagnosis.problems.append(outcome.start_problem() + "\n  fix this, then run `pdd doctor` again")
    elif outcome.hint:  # e.g. an unknown marker a plugin not loaded would register
        diagnosis.problems.append(outcome.hint.removeprefix("[pdd] "))
    else:
        if not env.get("hook"):
            diagnosis.problems.append("pdd's import hook is not first on sys.meta_path: another plugin or conftest "
                                      "inserted a finder before it; generated.* may not resolve to the candidate")
        probe = f"{overlay}{os.sep}{PROBE_OUTPUT.replace('/', os.sep)}" if overlay else None
        if env.get("candidate_file") != probe:
            diagnosis.problems.append(f"generated.pdd_doctor_probe resolved to {shown(env.get('candidate_file'))!r}, "
                                      f"not to the overlay: the candidate would not be what the tests import")
        for err in report.get("collect_errors") or []:
            text = str(err.get("text", ""))
            last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip().startswith("E ")), "")
            if "No module named 'generated." in text:  # not built yet: a build makes it
                diagnosis.notes.append(f"{err.get('nodeid')}: {last.lstrip('E ').strip()} (not built yet? `pdd build`)")
            else:
                diagnosis.problems.append(f"{err.get('nodeid')} does not collect: {last.lstrip('E ').strip()} "
                                          f"(pdd build would stop with 'the test run could not start'; fix it first)")
        if outcome.returncode == 5:
            diagnosis.notes.append(f"no behavior tests were collected under {tests_dir}/")
    return diagnosis


def render(diagnosis: Diagnosis) -> str:
    """The diagnosis as text lines for a terminal."""
    f = diagnosis.facts
    sb = f["sandbox"]
    lines = [
        "command:     " + " ".join(f["command"]),
        "cwd:         " + f["cwd"],
        "rootdir:     " + str(f.get("rootdir")),
        "inifile:     " + str(f.get("inifile") or "(none)"),
        "import mode: " + str(f.get("import_mode")),
        "python:      " + str(f.get("python")),
        f"sandbox:     {sb['setting']} ({'confined' if sb['confined'] else 'unconfined'})"
        + (f": {sb['detail']}" if sb.get("detail") else ""),
        "plugins:     " + ("autoload (pytest loads every installed plugin)" if f.get("plugin_autoload")
                           else "autoload off (tests.plugins)") + ": " + (", ".join(f.get("plugins") or []) or "?"),
        "generated.*: " + (" -> ".join(f["import_order"]) if f.get("import_order") else "(pdd's import hook not active)"),
        "probe:       generated.pdd_doctor_probe -> " + str(f.get("candidate_file")),
        "collected:   " + str(f.get("collected")) + " behavior test(s)",
        "sys.path:",
        *[f"  {i}. {p or '(cwd)'}" for i, p in enumerate(f.get("sys_path") or [], start=1)],
    ]
    lines += [f"note: {n}" for n in diagnosis.notes]
    if diagnosis.sound:
        lines.append("ok: generated.* resolves to the candidate in pdd's overlay first")
    else:
        lines += [f"problem: {p}" for p in diagnosis.problems]
    return "\n".join(lines)
