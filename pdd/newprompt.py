"""``pdd new NAME``: scaffold a prompt with the six sections, and its behavior tests.

Two Jinja2 templates, looked up first in the project (``prompts/_templates/``, a
fragment folder, so never a module) and then in the package (``pdd/templates/``):

* ``prompt.prompt.j2`` -> ``prompts/NAME.prompt``: front matter (``depends``, and
  ``tests`` when the test path is not the default) and the sections Goal, Inputs /
  Outputs, Constraints, Failure modes, Out of scope and Acceptance, each with a
  one-line ``<!-- hint: ... -->``;
* the target's test template (:mod:`pdd.targets`; ``test.py.j2``) -> the behavior-test file, holding one test that fails (marked
  ``pdd-placeholder``) until someone writes the acceptance tests, so a new module
  can never pass vacuously.

Template variables: ``name`` (``billing/invoice``), ``stem`` (``invoice``),
``module`` (``generated.billing.invoice``), ``output``, ``prompt_path``,
``test_path``, ``depends`` (list), ``tests`` (list), ``tests_declared`` (bool) and
``style_fragment`` (the target's style fragment, ``_shared/<language>_style.md``,
when it exists, else empty).

Nothing is overwritten: an existing prompt or test file is an error (exit 2), and
both results are checked (the prompt parses and renders, the test file compiles)
before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pdd import targets
from pdd.errors import InputError, UsageError

PROMPT_TEMPLATE = "prompt.prompt.j2"
#: The output language (:mod:`pdd.targets`): test template and path, style fragment, name rules.
TARGET = targets.get()
TEMPLATES_FRAGMENT_DIR = "_templates"
PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class NewModule:
    """What ``pdd new`` wrote."""

    name: str
    prompt_path: str
    test_path: str
    prompt_template: str
    test_template: str


def normalise_name(raw: str, prompts_dir: str) -> str:
    """``billing/invoice`` (a trailing ``.prompt`` and a leading ``prompts/`` are
    accepted). Raises :class:`UsageError` for an invalid module path."""
    name = raw.strip().removeprefix("./")
    if "\\" in name:
        raise UsageError(f"module name {raw!r} must use '/' separators, e.g. billing/invoice")
    name = name.removeprefix(prompts_dir + "/").removesuffix(".prompt")
    if not name:
        raise UsageError("the module name is empty", hint="e.g. pdd new billing/invoice")
    for part in PurePosixPath(name).parts if not name.startswith("/") else ["/"]:
        if part.startswith("_"):
            raise UsageError(f"module name {raw!r}: {part!r} starts with '_'",
                             hint="names starting with '_' are shared fragments, not modules")
        if not TARGET.is_module_part(part):
            raise UsageError(f"module name {raw!r}: {part!r} is not a valid {TARGET.MODULE_KIND} name",
                             hint="use letters, digits and underscores, starting with a letter, separated by '/'")
    if name.endswith("/") or "//" in name:
        raise UsageError(f"module name {raw!r} is not a valid module path")
    return str(PurePosixPath(name))


def _environment(project_templates: Path):
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(project_templates), str(PACKAGE_TEMPLATES)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _render(env, template: str) -> tuple[object, str]:
    import jinja2

    try:
        tpl = env.get_template(template)
    except jinja2.TemplateSyntaxError as exc:
        raise InputError(exc.filename or template, exc.lineno, f"template syntax error: {exc.message}") from None
    except jinja2.TemplateNotFound:
        raise UsageError(f"template {template} not found (pdd is installed without its templates?)") from None
    return tpl, tpl.filename or template


def scaffold(project, raw_name: str, depends: list[str]) -> NewModule:
    """Write the prompt and behavior-test file of a new module. Raises
    :class:`UsageError` (exit 2) for a bad name, an unknown dependency, an existing
    file or a template that produces a broken prompt; nothing is written then."""
    import jinja2

    from pdd.atomicfile import write_atomic
    from pdd.prompt import PROMPT_SUFFIX, default_output, is_fragment, load_prompt, module_name_for, parse_prompt
    from pdd.render import render_prompt

    root: Path = project.root
    prompts_dir = project.config.prompts_dir
    tests_dir = project.config.tests_dir
    name = normalise_name(raw_name, prompts_dir)
    prompt_rel = f"{prompts_dir}/{name}{PROMPT_SUFFIX}"
    if (root / prompt_rel).exists():
        raise UsageError(f"{prompt_rel} already exists; not overwriting it",
                         hint=f"edit it, or choose another name (pdd lint {name} checks it)")

    existing = {module_name_for(rel): rel for rel in project.prompt_files()}
    for other in existing:
        if other.startswith(name + "/"):
            raise UsageError(f"{name!r} is a package of existing module {other!r}; "
                             f"{default_output(name)} would clash with {default_output(name).removesuffix(TARGET.SUFFIX)}/")
        if name.startswith(other + "/"):
            raise UsageError(f"{name!r} would live inside module {other!r} ({default_output(other)} is a file)")
    deps: list[str] = []
    for raw in depends:
        dep = raw.strip().removeprefix(prompts_dir + "/").removesuffix(PROMPT_SUFFIX)
        if not dep:
            continue
        if dep == name:
            raise UsageError(f"module {name!r} cannot depend on itself")
        if dep in deps:
            raise UsageError(f"dependency {dep!r} is listed twice")
        if dep not in existing or is_fragment(PurePosixPath(dep)):
            raise UsageError(f"unknown dependency {dep!r}: there is no {prompts_dir}/{dep}{PROMPT_SUFFIX}",
                             hint=f"known modules: {', '.join(sorted(existing)) or '(none)'}")
        deps.append(dep)

    # The behavior-test file: the default path, unless another module already uses it.
    stem = PurePosixPath(name).name
    test_rel = TARGET.test_path(tests_dir, stem)
    tests_declared = False
    claimed: set[str] = set()
    for other, rel in existing.items():
        try:
            claimed.update(load_prompt(root, prompts_dir, rel, tests_dir).tests)
        except InputError:
            claimed.add(TARGET.test_path(tests_dir, PurePosixPath(other).name))
    if test_rel in claimed:
        test_rel = TARGET.test_path(tests_dir, name.replace("/", "_"))
        tests_declared = True
    if (root / test_rel).exists():
        raise UsageError(f"{test_rel} already exists; not overwriting it",
                         hint="move it away, or write the prompt by hand and list it under 'tests:'")

    output = default_output(name)
    module = TARGET.import_name(output)
    variables = {
        "name": name, "stem": stem, "module": module, "output": output, "prompt_path": prompt_rel,
        "test_path": test_rel, "depends": deps, "tests": [test_rel], "tests_declared": tests_declared,
        "style_fragment": TARGET.STYLE_FRAGMENT if (root / prompts_dir / TARGET.STYLE_FRAGMENT).is_file() else "",
    }
    env = _environment(root / prompts_dir / TEMPLATES_FRAGMENT_DIR)
    rendered: dict[str, str] = {}
    sources: dict[str, str] = {}
    for template in (PROMPT_TEMPLATE, TARGET.TEST_TEMPLATE):
        tpl, filename = _render(env, template)
        try:
            rendered[template] = tpl.render(**variables)  # type: ignore[attr-defined]
        except jinja2.TemplateError as exc:
            raise UsageError(f"{filename}: cannot render: {exc}",
                             hint="template variables: " + ", ".join(sorted(variables))) from None
        sources[template] = _display(filename, root)

    prompt_text = rendered[PROMPT_TEMPLATE].rstrip("\n") + "\n"
    test_text = rendered[TARGET.TEST_TEMPLATE].rstrip("\n") + "\n"
    try:
        spec = parse_prompt(prompt_text, path=prompt_rel, name=name, tests_dir=tests_dir)
        render_prompt(spec, root, prompts_dir)
    except InputError as exc:
        raise UsageError(f"the template {sources[PROMPT_TEMPLATE]} makes a broken prompt: {exc.message}",
                         hint="fix the template; nothing was written") from None
    if spec.tests != (test_rel,) or list(spec.depends) != deps:
        raise UsageError(f"the template {sources[PROMPT_TEMPLATE]} must write 'depends' (and 'tests' when "
                         f"tests_declared) into the front matter", hint="nothing was written")
    problem = TARGET.check_compiles(test_text, test_rel)
    if problem:
        raise UsageError(f"the template {sources[TARGET.TEST_TEMPLATE]} makes a test file that does not compile: {problem}",
                         hint="fix the template; nothing was written")

    write_atomic(root / prompt_rel, prompt_text)
    try:
        write_atomic(root / test_rel, test_text)
    except BaseException:
        (root / prompt_rel).unlink(missing_ok=True)
        raise
    return NewModule(name, prompt_rel, test_rel, sources[PROMPT_TEMPLATE], sources[TARGET.TEST_TEMPLATE])


def _display(filename: str, root: Path) -> str:
    path = Path(filename)
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        try:
            return "pdd/templates/" + path.resolve().relative_to(PACKAGE_TEMPLATES).as_posix()
        except ValueError:
            return filename
