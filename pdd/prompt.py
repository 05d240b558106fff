"""Prompt files: YAML front matter, then a Markdown body rendered with Jinja2.

Format (product contract, "The prompt file")::

    ---
    depends: [billing/money]
    uses: [src/billing/rates.py]         # project files: interfaces given like a dependency's
    tests: [behavior_tests/test_invoice.py]
    output: generated/billing/invoice.py
    model: some-model
    temperature: 0.2
    lint: {disable: [prompt-too-large]}   # rule ids: pdd.lint_rules.RULES
    untested_reason: ...                   # only with `tests: []` (see below)
    ---
    # Goal
    ...
    {% include "_shared/python_style.md" %}

* ``prompts/billing/invoice.prompt`` is the module ``billing/invoice``, written to
  ``generated/billing/invoice.py`` and importable as ``generated.billing.invoice``.
* Files and folders whose name starts with ``_`` are fragments, not modules.
* The front matter is optional; its keys are exactly those above. A UTF-8 byte
  order mark before the opening ``---`` is ignored (the file is read as if it
  were not there).
* A module whose behavior tests are missing is **untested** (a failure, not a
  pass; see :func:`untested_problem`). The one way round it is explicit and
  visible: ``tests: []`` together with ``untested_reason: <why>``, which ``pdd
  lint`` shows. ``tests: []`` without a reason, or a reason with tests, is an error.
* The body is rendered with a ``StrictUndefined`` Jinja2 environment whose loader
  root is the prompts folder, so ``{% include "_shared/x.md" %}`` reads
  ``prompts/_shared/x.md``. Template variables: ``name`` (``billing/invoice``),
  ``module`` (``generated.billing.invoice``) and ``output``.

Every error is an :class:`pdd.errors.InputError` naming the file and the 1-based
line, raised before anything is written.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Callable

from pdd import targets
from pdd.errors import InputError

if TYPE_CHECKING:
    from pdd.yamlcache import YamlCache

PROMPT_SUFFIX = ".prompt"
GENERATED_DIR = "generated"
INIT_TEXT = '"""Package made by pdd: build output, do not edit."""\n'
FRONT_MATTER_KEYS = ("depends", "uses", "tests", "output", "model", "temperature", "lint", "untested_reason")
_FENCE = "---"
#: The output language (:mod:`pdd.targets`): output paths, import names, module-name rules.
TARGET = targets.get()


@dataclass(frozen=True)
class PromptSpec:
    """A parsed (not yet rendered) prompt file.

    ``name`` is the module name (``billing/invoice``); ``path`` the prompt file
    relative to the repository root (POSIX); ``body`` the template source with the
    front matter replaced by blank lines, so template line numbers equal file line
    numbers; ``keys_line`` maps each front-matter key to its line.
    """

    name: str
    path: str
    depends: tuple[str, ...]
    tests: tuple[str, ...]
    tests_declared: bool
    output: str
    model: str | None
    temperature: float | None
    body: str
    keys_line: dict[str, int] = field(default_factory=dict, compare=False)
    lint_disable: tuple[str, ...] = ()
    untested_reason: str | None = None  # the opt-out: ``tests: []`` and why
    uses: tuple[str, ...] = ()  # project files (repo-relative) whose interfaces the model sees: pdd.uses
    ladder: tuple[str, ...] = ()  # front matter ``model: [cheap, strong]`` (``model`` is its first rung)

    @property
    def module(self) -> str:
        """Dotted import name of the generated module, e.g. ``generated.billing.invoice``."""
        return TARGET.import_name(self.output)

    def existing_tests(self, root: Path | str) -> list[str]:
        """The behavior-test files of this spec (repo-relative, in ``tests`` order) that
        exist as files under repository ``root`` in the working tree."""
        return [t for t in self.tests if os.path.isfile(os.path.join(root, t))]


def is_fragment(relpath: PurePosixPath) -> bool:
    """True if any component of ``relpath`` (relative to the prompts folder) starts with ``_``."""
    return any(part.startswith("_") for part in relpath.parts)


def module_name_for(relpath: PurePosixPath) -> str:
    """``billing/invoice.prompt`` (relative to the prompts folder) -> ``billing/invoice``."""
    return str(relpath.with_suffix(""))


def default_output(name: str) -> str:
    """The output file of module ``name`` without an ``output`` key:
    ``billing/invoice`` -> ``generated/billing/invoice.py`` (the target's layout)."""
    return TARGET.output_path(name, GENERATED_DIR)


def _check_module_path(path: str, line: int | None, output: str) -> str:
    """Normalise and validate an ``output`` path; it must be ``generated/**/<ident>.py``
    (the target's suffix and module-name rules, :mod:`pdd.targets`)."""
    if output in _VALID_OUTPUTS or _plainly_valid(output):
        return output
    if "\\" in output:
        raise InputError(path, line, f"output path {output!r} must use '/' separators")
    p = PurePosixPath(output)
    if p.is_absolute() or ".." in p.parts or p.parts[:1] != (GENERATED_DIR,) or len(p.parts) < 2:
        raise InputError(
            path, line, f"output path {output!r} is outside {GENERATED_DIR}/",
            hint=f"outputs must be files under {GENERATED_DIR}/, e.g. {GENERATED_DIR}/billing/invoice.py",
        )
    if p.suffix != TARGET.SUFFIX:
        raise InputError(path, line, f"output path {output!r} must end in {TARGET.SUFFIX}")
    package_stem = TARGET.PACKAGE_FILE.removesuffix(TARGET.SUFFIX)
    for part in (*p.parts[1:-1], p.stem):
        if not TARGET.is_module_part(part) or part == package_stem:
            raise InputError(
                path, line, f"output path {output!r}: {part!r} is not a valid {TARGET.MODULE_KIND} name",
                hint="use letters, digits and underscores, not starting with a digit",
            )
    _VALID_OUTPUTS.add(str(p))
    return str(p)


_VALID_OUTPUTS: set[str] = set()


def _plainly_valid(output: str) -> bool:
    """True if ``output`` is ``generated/<part>/.../<part><suffix>`` with every part a
    valid module name: then it is already normal (no empty, ``.`` or ``..`` part, no
    leading or trailing ``/``) and passes every check of :func:`_check_module_path`,
    decided on the string alone (no :class:`PurePosixPath`: thousands of prompts).
    ``False`` means "not decided here", never "invalid"."""
    parts = output.split("/")
    if len(parts) < 2 or parts[0] != GENERATED_DIR or not parts[-1].endswith(TARGET.SUFFIX):
        return False
    package_stem = TARGET.PACKAGE_FILE.removesuffix(TARGET.SUFFIX)
    parts[-1] = parts[-1][:-len(TARGET.SUFFIX)]
    return all(TARGET.is_module_part(part) and part != package_stem for part in parts[1:])


def _split_front_matter(path: str, text: str) -> tuple[str | None, int, str]:
    """Return (front matter YAML or None, its first line number, body with blanked front matter).
    Raises :class:`InputError` for a front matter left open, or one whose opening
    ``---`` is missing (its keys would silently be read as prose)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != _FENCE:
        if lines and _KEY_LINE.match(lines[0]):
            _refuse_unopened(path, lines)
        return None, 0, text
    for i in range(1, len(lines)):
        if lines[i].rstrip("\r\n") == _FENCE:
            yaml_text = "".join(lines[1:i])
            body = "\n" * (i + 1) + "".join(lines[i + 1:])
            return yaml_text, 2, body
    raise InputError(path, 1, "front matter opened with '---' is never closed", hint="add a line '---' after the front matter")


_KEY_LINE = re.compile(r"^(?:" + "|".join(FRONT_MATTER_KEYS) + r")\s*:")
# Compiled on first use (re's cache), not at import: only a prompt whose line 1 is a key needs it.
_KEYISH_LINE = r"^(?:[A-Za-z_][\w-]*\s*:.*|[ \t]+\S.*|\s*)$"  # key: value, indented, blank


def _refuse_unopened(path: str, lines: list[str]) -> None:
    """Raise :class:`InputError` if the lines before the first ``---`` line (within
    40), line 1 being a front-matter key (:data:`FRONT_MATTER_KEYS`), are a front
    matter whose opening ``---`` is missing: a YAML mapping whose keys are all
    front-matter keys or close to one (``difflib``, ratio 0.75: a typo such as
    ``depnds`` is reported once the ``---`` is added), or, when they are not valid YAML (a typo in a value, a duplicate key),
    ``key: value`` and indented lines only. Return otherwise: prose that starts like
    ``model: ...`` and goes on with headings, lists or sentences is a prompt."""
    end = next((i for i, ln in enumerate(lines[1:40], start=1) if ln.rstrip("\r\n") == _FENCE), None)
    if end is None:
        return
    try:
        data = _load_front_matter(path, "".join(lines[:end]), 1, None)
        from difflib import get_close_matches  # a typo of a key (`depnds`) is still a key; `Note:` is prose

        looks_like = isinstance(data, dict) and all(
            isinstance(k, str) and get_close_matches(k, FRONT_MATTER_KEYS, 1, 0.75)
            for k in data)
    except InputError:  # not YAML: front matter with a mistake, or prose
        looks_like = all(re.match(_KEYISH_LINE, ln.rstrip("\r\n")) for ln in lines[:end])
    if looks_like:
        raise InputError(path, 1, f"front matter without its opening '---' (it ends at line {end + 1}): "
                         "its keys would be read as prose",
                         hint="add a line '---' before line 1")


def _as_str_list(path: str, line: int, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(path, line, f"'{key}' must be a list of strings, got {value!r}")
    return tuple(value)


def _lint_disable(path: str, line: int | None, value: Any) -> tuple[str, ...]:
    """Front matter ``lint: {disable: [rule-id, ...]}`` -> the disabled rule ids
    (see :mod:`pdd.lint`; the ids are :data:`pdd.lint_rules.RULES`, so parsing a
    prompt does not import the linter); an unknown id is an error at the key's line."""
    if value is None:
        return ()
    if not isinstance(value, dict) or any(str(k) != "disable" for k in value):
        raise InputError(path, line, "'lint' must be a mapping with the one key 'disable', "
                         "e.g. lint: {disable: [prompt-too-large]}")
    ids = _as_str_list(path, line or 1, "lint.disable", value["disable"]) if value.get("disable") is not None else ()
    from pdd.lint_rules import RULES

    unknown = [i for i in ids if i not in RULES]
    if unknown:
        raise InputError(path, line, f"unknown lint rule id(s) in 'lint: disable': {', '.join(unknown)}",
                         hint=f"rule ids: {', '.join(RULES)}")
    return tuple(ids)


_TOP_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:", re.MULTILINE)
_yaml_local = threading.local()


def _top_level_key_lines(yaml_text: str) -> dict[str, int]:
    """0-based line of each top-level ``key:`` of a block-mapping YAML text."""
    lines: dict[str, int] = {}
    for m in _TOP_KEY.finditer(yaml_text):
        lines.setdefault(m.group(1), yaml_text.count("\n", 0, m.start()))
    return lines


def _load_front_matter(path: str, yaml_text: str, first_line: int, cache: "YamlCache | None") -> Any:
    """The front matter's data (ruamel.yaml, safe loader), through ``cache`` if given.
    Raises :class:`InputError` at the line of a YAML syntax error."""
    key = None
    if cache is not None:
        from pdd.yamlcache import MISS, text_key

        key = text_key("front-matter", yaml_text)
        hit = cache.get(key)
        if hit is not MISS:
            return hit
    yaml = getattr(_yaml_local, "yaml", None)
    if yaml is None:
        from ruamel.yaml import YAML

        yaml = _yaml_local.yaml = YAML(typ="safe", pure=True)
    from ruamel.yaml.error import YAMLError

    try:
        loaded = yaml.load(yaml_text)
    except YAMLError as exc:
        from pdd.yamlcache import yaml_error_line

        offset = yaml_error_line(exc, yaml_text)
        line = first_line + offset if offset is not None else first_line
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(path, line, f"malformed YAML front matter: {problem}") from None
    except RecursionError:
        raise InputError(path, first_line, "malformed YAML front matter: nested too deeply") from None
    if cache is not None and key is not None:
        cache.put(key, loaded)
    return loaded


def parse_prompt(text: str, *, path: str, name: str, tests_dir: str = "behavior_tests",
                 cache: "YamlCache | None" = None) -> PromptSpec:
    """Parse prompt file ``text`` (stored at repo-relative ``path``) for module ``name``.
    ``cache`` (optional) memoises front-matter parsing.

    Raises :class:`InputError` with file and line for malformed YAML, a front matter
    that is not a mapping, unknown keys, wrongly typed values, or an output path
    outside ``generated/``.
    """
    text = text.replace("\r\n", "\n")  # as Jinja2 reads includes: the same text from a CRLF checkout
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark (some Windows editors) is not content
    yaml_text, first_line, body = _split_front_matter(path, text)
    data: dict[str, Any] = {}
    keys_line: dict[str, int] = {}
    if yaml_text is not None and yaml_text.strip():
        loaded = _load_front_matter(path, yaml_text, first_line, cache)
        if loaded is not None and not isinstance(loaded, dict):
            raise InputError(path, first_line, "front matter must be a mapping of keys to values")
        key_lines = _top_level_key_lines(yaml_text)
        for key in loaded or {}:
            keys_line[str(key)] = first_line + key_lines.get(str(key), 0)
            if key not in FRONT_MATTER_KEYS:
                raise InputError(
                    path, keys_line[str(key)], f"unknown front-matter key {key!r}",
                    hint=f"allowed keys: {', '.join(FRONT_MATTER_KEYS)}",
                )
        data = {str(k): v for k, v in (loaded or {}).items()}

    depends = _as_str_list(path, keys_line.get("depends", 1), "depends", data["depends"]) if data.get("depends") is not None else ()
    if len(set(depends)) != len(depends):
        raise InputError(path, keys_line.get("depends"), "'depends' lists a module twice")
    if name in depends:
        raise InputError(path, keys_line.get("depends"), f"module {name!r} depends on itself", hint="remove it from 'depends'")
    uses = ()
    if data.get("uses") is not None:
        from pdd.uses import check_uses

        uses = check_uses(path, keys_line.get("uses"), _as_str_list(path, keys_line.get("uses", 1), "uses", data["uses"]),
                          GENERATED_DIR)
    stem = name.rsplit("/", 1)[-1]  # PurePosixPath(name).name, on the string (the hot loop of a check)
    tests_declared = data.get("tests") is not None
    tests = (
        _as_str_list(path, keys_line.get("tests", 1), "tests", data["tests"])
        if tests_declared
        else (TARGET.test_path(tests_dir, stem),)
    )
    for t in tests:  # PurePosixPath(t).is_absolute() or ".." in its parts, on the string
        if t.startswith("/") or ".." in t.split("/"):
            raise InputError(path, keys_line.get("tests"), f"test path {t!r} must be relative to the repository, without '..'")
    output = data.get("output")
    if output is None:
        output = default_output(name)
    elif not isinstance(output, str):
        raise InputError(path, keys_line.get("output"), f"'output' must be a path string, got {output!r}")
    output = _check_module_path(path, keys_line.get("output", 1) if "output" in data else 1, output)
    model = data.get("model")
    ladder: tuple[str, ...] = ()
    if isinstance(model, list):
        from pdd.policy import parse_ladder

        try:
            ladder = parse_ladder(model)
        except ValueError as exc:
            raise InputError(path, keys_line.get("model"), f"'model': {exc}",
                             hint="e.g. model: [small-model, large-model]") from None
        model = ladder[0]
        ladder = ladder if len(ladder) > 1 else ()
    if model is not None and (not isinstance(model, str) or not model):
        raise InputError(path, keys_line.get("model"), f"'model' must be a model name or a ladder [cheap, strong], got {model!r}")
    temperature = data.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise InputError(path, keys_line.get("temperature"), f"'temperature' must be a number from 0 to 2, got {temperature!r}")
        temperature = float(temperature)
    reason = data.get("untested_reason")
    if reason is not None and (not isinstance(reason, str) or not reason.strip()):
        raise InputError(path, keys_line.get("untested_reason"), "'untested_reason' must say why the module has no behavior tests")
    if tests_declared and not tests and reason is None:
        raise InputError(path, keys_line.get("tests"), "'tests: []' declares no behavior tests but gives no reason",
                         hint="add `untested_reason: <why this module needs no tests>`, or list its test files in `tests:`")
    if reason is not None and (not tests_declared or tests):
        raise InputError(path, keys_line.get("untested_reason"), "'untested_reason' is only allowed with 'tests: []'",
                         hint="remove it, or set `tests: []` to opt this module out of behavior tests")
    return PromptSpec(
        name=name,
        path=path,
        depends=depends,
        tests=tests,
        tests_declared=tests_declared,
        output=output,
        model=model,
        temperature=temperature,
        body=body,
        keys_line=keys_line,
        lint_disable=_lint_disable(path, keys_line.get("lint"), data.get("lint")),
        untested_reason=reason.strip() if isinstance(reason, str) else None,
        uses=uses,
        ladder=ladder,
    )


def untested_problem(spec: PromptSpec, is_file: "Callable[[str], bool]") -> str | None:
    """Why ``spec`` is **untested**, or ``None`` if it has its behavior test files (or
    opted out with ``tests: []`` and ``untested_reason``). ``is_file(path)`` says
    whether a repository-relative test file exists in the state being judged
    (working tree, index or commit). Tests that exist but collect nothing are found
    when they run (pytest exit 5), not here."""
    if not spec.tests:
        return None  # the explicit opt-out (parse_prompt requires its reason)
    absent = [t for t in spec.tests if not is_file(t)]
    if not absent:
        return None
    if not spec.tests_declared:
        return f"no behavior tests: write {absent[0]} or list them in `tests:`"
    return (f"no behavior tests: {', '.join(absent)} (listed in `tests:`) "
            f"{'does' if len(absent) == 1 else 'do'} not exist; write {'it' if len(absent) == 1 else 'them'} or fix `tests:`")


def load_prompt(root: Path, prompts_dir: str, relpath: PurePosixPath, tests_dir: str = "behavior_tests",
                cache: "YamlCache | None" = None) -> PromptSpec:
    """Read and parse ``ROOT/PROMPTS_DIR/RELPATH``. Raises :class:`InputError`."""
    path = f"{prompts_dir}/{relpath}"
    name = module_name_for(relpath)
    for part in name.split("/"):
        if not TARGET.is_module_part(part):
            raise InputError(
                path, None, f"prompt name {part!r} is not a valid {TARGET.MODULE_KIND} name",
                hint="rename the file or folder with letters, digits and underscores",
            )
    from pdd.repopath import require_file_inside

    require_file_inside(root, path)
    try:
        with open(os.path.join(root, path), "rb") as fh:
            data = fh.read()
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, data.count(b"\n", 0, exc.start) + 1, f"not UTF-8 text ({exc.reason})",
                         hint="save the file as UTF-8") from None
    return parse_prompt(text, path=path, name=name, tests_dir=tests_dir, cache=cache)
