"""A pdd project: the git repository, its settings and its prompts.

:func:`open_project` finds the repository containing a folder (like ``git``
does), reads ``.pdd/config.yaml`` and is the entry point of every command.
Prompt discovery follows the contract: ``prompts/**/*.prompt``, skipping files and
folders whose name starts with ``_`` (fragments).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pdd.config import Config, load_config
from pdd.errors import InputError, NotARepositoryError, UsageError
from pdd.git import run
from pdd.graph import check_graph
from pdd.prompt import GENERATED_DIR, PROMPT_SUFFIX, PromptSpec, load_prompt
from pdd.yamlcache import YamlCache

if TYPE_CHECKING:
    import pygit2


def find_root(start: Path) -> Path:
    """The top of the git working tree containing ``start``.

    Raises :class:`NotARepositoryError` outside a repository or in a bare one.
    """
    try:
        out = run(start, "rev-parse", "--show-toplevel", text=True)
    except FileNotFoundError:
        raise NotARepositoryError("git is not installed or not on PATH") from None
    if out.returncode != 0 or not out.stdout.strip():
        raise NotARepositoryError(
            f"{start} is not inside a git working tree",
            hint="run `git init` first, or cd into your repository",
        )
    return Path(out.stdout.strip()).resolve()


@dataclass
class Project:
    """A repository root with its effective :class:`Config`."""

    root: Path
    config: Config
    _specs: dict[str, PromptSpec] | None = field(default=None, repr=False)
    _broken: dict[str, InputError] = field(default_factory=dict, repr=False)

    @cached_property
    def repo(self) -> "pygit2.Repository":
        """The pygit2 repository (imported lazily)."""
        import pygit2

        return pygit2.Repository(str(self.root))

    @property
    def prompts_path(self) -> Path:
        return self.root / self.config.prompts_dir

    @property
    def generated_path(self) -> Path:
        return self.root / GENERATED_DIR

    def prompt_files(self) -> list[PurePosixPath]:
        """Module prompt files relative to the prompts folder, sorted (fragments skipped)."""
        base = str(self.prompts_path)
        found = []
        for folder, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if not d.startswith("_")]
            rel_folder = os.path.relpath(folder, base).replace(os.sep, "/")
            for f in files:
                if f.endswith(PROMPT_SUFFIX) and not f.startswith("_"):
                    found.append(f if rel_folder == "." else f"{rel_folder}/{f}")
        return [PurePosixPath(p) for p in sorted(found)]

    def specs(self) -> dict[str, PromptSpec]:
        """All module specs by name, validated as a graph.

        Raises :class:`InputError` for any bad prompt file, an unknown dependency, a
        cycle, or two prompts writing the same output.
        """
        specs, broken = self.usable_specs()
        if broken:  # the first bad prompt file in path order (else an unknown dependency)
            raise next(iter(broken.values()))
        return specs

    def forget_specs(self) -> None:
        """Drop the specs read so far: the next :meth:`usable_specs` reads the prompts
        again (after a command rewrote one, e.g. ``pdd fix`` or ``pdd adopt``)."""
        self._specs, self._broken = None, {}

    def usable_specs(self) -> tuple[dict[str, PromptSpec], dict[str, InputError]]:
        """``(specs, broken)``: every module whose prompt parses and whose dependencies
        are usable, and for each other module (by name) the :class:`InputError` that
        stops it: its own prompt's error (file and line), or a dependency's. One
        malformed prompt thus does not hide the others (``pdd status``, ``pdd build``).
        A dependency cycle among the usable ones still raises :class:`InputError`."""
        if self._specs is not None:  # read once; forget_specs() to re-read
            return self._specs, self._broken
        specs: dict[str, PromptSpec] = {}
        broken: dict[str, InputError] = {}
        outputs: dict[str, str] = {}
        cache = YamlCache(self.root)
        try:
            cache.preload()
            for rel in self.prompt_files():
                try:
                    spec = load_prompt(self.root, self.config.prompts_dir, rel, self.config.tests_dir, cache)
                    if spec.output in outputs:
                        raise InputError(spec.path, spec.keys_line.get("output"),
                                         f"output {spec.output} is also written by {outputs[spec.output]}")
                except InputError as exc:
                    broken[str(rel.with_suffix(""))] = exc
                    continue
                outputs[spec.output] = spec.path
                specs[spec.name] = spec
        finally:
            cache.close()
        changed = True
        while changed:  # a module whose dependency is broken (or unknown) cannot be built either
            changed = False
            for name, spec in list(specs.items()):
                bad = next((d for d in spec.depends if d not in specs), None)
                if bad is not None:
                    why = f"depends on {bad}, whose prompt is broken" if bad in broken else None
                    if why is None:
                        try:
                            check_graph({name: spec, **{d: specs[d] for d in spec.depends if d in specs}})
                        except InputError as exc:
                            broken[name] = exc
                    else:
                        broken[name] = InputError(spec.path, spec.keys_line.get("depends"), why,
                                                  hint=f"fix {broken[bad].path} first")
                    del specs[name]
                    changed = True
        check_graph(specs)
        self._specs, self._broken = specs, broken
        return specs, broken

    def select(self, names: list[str]) -> list[str]:
        """Resolve user-given module names (``billing/money``, a prompt path, or a
        generated path) to module names. Raises :class:`pdd.errors.UsageError`."""
        from pdd.errors import UsageError

        specs, broken = self.usable_specs()
        for raw in names:
            key = raw.replace("\\", "/").removeprefix("./").removeprefix(self.config.prompts_dir + "/").removesuffix(PROMPT_SUFFIX)
            if key in broken:
                raise broken[key]
        by_output = {s.output: n for n, s in specs.items()}
        by_path = {s.path: n for n, s in specs.items()}
        chosen = []
        for raw in names:
            key = raw.replace("\\", "/").removeprefix("./")
            name = key if key in specs else by_output.get(key) or by_path.get(key)
            if name is None and key.endswith(PROMPT_SUFFIX):
                name = key.removeprefix(self.config.prompts_dir + "/").removesuffix(PROMPT_SUFFIX)
                name = name if name in specs else None
            if name is None:
                raise UsageError(f"no module named {raw!r}", hint=f"known modules: {', '.join(sorted(specs)) or '(none)'}")
            chosen.append(name)
        return chosen


def require_pdd_project(root: Path) -> None:
    """Raise :class:`UsageError` (exit 2) unless ``root`` has ``.pdd/config.yaml``
    (what ``pdd init`` writes), so no command writes caches or runs into a
    repository that is not a pdd project."""
    from pdd.config import CONFIG_RELPATH

    if not (root / CONFIG_RELPATH).exists():  # a folder there is reported by load_config ("is a folder")
        raise UsageError(f"not a pdd project: {root} has no {CONFIG_RELPATH}",
                         hint="run `pdd init` at the top of the repository to set it up (nothing was written)")


def open_project(start: Path | None = None) -> Project:
    """The project of the repository containing ``start`` (default: the current
    folder). Raises :class:`UsageError` (exit 2) outside a git repository or in
    one without ``.pdd/config.yaml`` (not a pdd project: run ``pdd init``)."""
    root = find_root(start or Path.cwd())
    require_pdd_project(root)
    return Project(root=root, config=load_config(root))
