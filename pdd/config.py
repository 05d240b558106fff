"""Project settings: ``.pdd/config.yaml``, read and written with ruamel.yaml.

The file is read in round-trip mode so that a rewrite keeps the user's comments.
Environment variables override it (product contract, "Model backends"):

=================  ======================================
variable           overrides
=================  ======================================
``PDD_BACKEND``    ``backend``
``PDD_MODEL``      ``model``
``PDD_JOBS``       ``build.jobs``
``OPENAI_BASE_URL``  ``openai.base_url`` (read by the SDK)
=================  ======================================

API keys are never read from, nor written to, this file.

Errors: :class:`pdd.errors.ConfigError` (exit 2) naming the file, the line and the
offending key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pdd.backends import DEFAULT as DEFAULT_BACKEND
from pdd.backends import RECORDINGS_SECTION, REGISTRY, lookup
from pdd.errors import ConfigError

if TYPE_CHECKING:
    from pdd.yamlcache import YamlCache

CONFIG_RELPATH = ".pdd/config.yaml"

DEFAULT_CONFIG_TEXT = """\
# pdd configuration. Docs: README.md, "Configuration".
# API keys are never stored here: they come from the environment
# (OPENAI_API_KEY, ANTHROPIC_API_KEY).

# Model backend: openai | anthropic | command | replay. Env: PDD_BACKEND.
backend: replay
# Model name passed to the backend. Env: PDD_MODEL.
model: recorded
temperature: 0.0
max_tokens: 8192

paths:
  prompts: prompts            # prompts/**/*.prompt, one per module
  tests: behavior_tests       # pytest behavior tests, written by people

build:
  jobs: 4                     # modules generated concurrently. Env: PDD_JOBS
  attempts: 2                 # generations per module when its tests fail

tests:
  # Command that runs the behavior tests; the test files are appended.
  # Empty means: this Python interpreter's pytest.
  command: []
  timeout: 300                # seconds per module's test run
  sandbox: auto               # auto | bwrap | none: confine model-written code (README, "Sandbox")
  pass_env: []                # variables the tests may see besides PATH, LANG, PYTHON*...; never credentials
  plugins: []                 # pytest plugins to load (autoload is off): e.g. [anyio]; or autoload (README, "Test plugins")

openai:
  base_url:                   # e.g. http://127.0.0.1:11434/v1 (Ollama). Env: OPENAI_BASE_URL
  timeout: 120                # seconds per request
  max_retries: 4

anthropic:
  base_url:                   # Env: ANTHROPIC_BASE_URL
  timeout: 120                # seconds per request
  max_retries: 4

command:                      # backend: command (docs/backends.md)
  preset:                     # claude | codex | gemini | llm | empty: stdout is the answer
  argv: []                    # program and arguments, no shell; empty: the preset's
  base_url:                   # optional endpoint the preset's client is pointed at
  timeout: 300                # seconds per run
  max_retries: 1              # further tries after a timeout

replay:
  dir: .pdd/recordings        # recorded responses, tracked in git

check:
  stale: error                # error | warn: what the pre-commit hook does on stale output

# Requirements (docs/spec-quality.md, "Requirements"): `required` makes `pdd check` and
# the pre-commit hook fail on an untested requirement or a test citing an unknown id.
# trace: optional

# pdd lint (see docs/spec-quality.md):
# lint:
#   max_prompt_chars: 20000   # warn when a prompt renders to more characters

# USD per million tokens, per model, with the date the prices were taken:
# prices:
#   gpt-4.1: {input: 2.00, output: 8.00, date: 2026-01-01}
prices: {}
"""

_SCHEMA: dict[str, Any] = {
    "backend": str,
    "model": (str, list),
    "temperature": (int, float),
    "max_tokens": int,
    "paths": {"prompts": str, "tests": str},
    "build": {"jobs": int, "attempts": int},
    "tests": {"command": list, "timeout": (int, float), "sandbox": str, "pass_env": list, "plugins": object},  # plugins: _test_plugins
    "check": {"stale": str},
    "lint": {"max_prompt_chars": int},
    "trace": str,
    "prices": dict,
    "review": {"model": str, "backend": (str, type(None)), "block": bool},
    "budget": {"max_usd_per_build": (int, float)},
}


def schema() -> dict[str, Any]:
    """The keys of ``.pdd/config.yaml`` and their types: pdd's own, and each registered
    backend's section (:data:`pdd.backends.REGISTRY`, ``settings_schema``)."""
    return {**_SCHEMA, **{name: info.settings_schema for name, info in REGISTRY.items()}}


@dataclass(frozen=True)
class Config:
    """Effective settings after defaults, the file and the environment.

    ``raw`` keeps backend-specific sections (``openai``, ``anthropic``, ...) as
    plain dicts for the backend that reads them.
    """

    backend: str = DEFAULT_BACKEND
    model: str = "recorded"
    temperature: float = 0.0
    max_tokens: int = 8192
    prompts_dir: str = "prompts"
    tests_dir: str = "behavior_tests"
    jobs: int = 4
    attempts: int = 2
    test_command: tuple[str, ...] = ()
    test_timeout: float = 300.0
    test_sandbox: str = "auto"  # auto | bwrap | none (pdd.sandbox)
    test_pass_env: tuple[str, ...] = ()  # extra variables the tests see (pdd.sandbox.clean_env)
    test_plugins: tuple[str, ...] = ()  # `tests.plugins`: pytest plugins loaded with -p (pdd.testrun)
    test_plugin_autoload: bool = False  # `tests.plugins: autoload`: pytest loads every installed plugin
    stale_policy: str = "error"
    trace_required: bool = False
    replay_dir: str = ".pdd/recordings"
    prices: dict[str, Any] = field(default_factory=dict)
    ladder: tuple[str, ...] = ()  # `model: [cheap, strong]` (pdd.policy); () for one model
    review_model: str | None = None  # `review.model` (pdd.policy)
    review_backend: str | None = None  # `review.backend`; None: the generator's
    review_block: bool = False  # `review.block`: a violated verdict fails the module
    max_usd_per_build: float | None = None  # `budget.max_usd_per_build` (pdd.spend)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """The plain-dict settings of backend section ``name`` (empty if absent)."""
        return dict(self.sections.get(name) or {})


def _plain(node: Any) -> Any:
    """ruamel round-trip containers to plain dicts and lists."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _line_of(mapping: Any, key: str) -> int | None:
    try:
        return mapping.lc.key(key)[0] + 1
    except Exception:
        return None


def _validate(path: str, data: Any, schema: dict[str, Any], prefix: str = "") -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {prefix or 'top level'} must be a mapping")
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        line = _line_of(data, key)
        where = f"{path}:{line}" if line else path
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"{where}: unknown key '{dotted}'", hint=f"known keys here: {known}")
        expected = schema[key]
        if isinstance(expected, dict):
            if value is None:
                continue
            _validate(path, value, expected, prefix=f"{dotted}.")
        elif value is not None and not isinstance(value, expected) or isinstance(value, bool) and expected in (int, (int, float)):
            names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
            raise ConfigError(f"{where}: '{dotted}' must be {names}, got {value!r}")


def _repo_folder(key: str, value: str) -> str:
    """A folder setting as a normalised repo-relative POSIX path; raises :class:`ConfigError`
    for an absolute path, one leaving the repository, the root itself, or ``generated/``."""
    import posixpath

    norm = posixpath.normpath(value.replace("\\", "/")).rstrip("/")
    if (value.startswith("/") or norm in (".", "") or norm == ".." or norm.startswith("../")
            or norm == "generated" or norm.startswith("generated/")):
        raise ConfigError(f"{CONFIG_RELPATH}: {key} must be a folder inside the repository, not {value!r}",
                          hint="e.g. prompts; it cannot be the repository root or under generated/")
    return norm


def _replay_dir(value: str) -> str:
    """``replay.dir`` as a normalised repo-relative path; raises :class:`ConfigError`
    (exit 2) for an absolute path or one leaving the repository (symlinks are
    checked where it is written, :func:`pdd.repopath.require_inside`)."""
    import posixpath

    norm = posixpath.normpath(value.replace("\\", "/")).rstrip("/")
    if value.startswith("/") or norm in (".", "", "..") or norm.startswith("../") or norm.startswith(".git/") \
            or norm == ".git":
        raise ConfigError(f"{CONFIG_RELPATH}: replay.dir must be a folder inside the repository, not {value!r}",
                          hint="e.g. .pdd/recordings")
    return norm


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    return yaml


def read_config_text(path: Path) -> str | None:
    """The text of the config file at ``path`` (``None`` if absent). Raises
    :class:`ConfigError` (exit 2) if it is a folder, unreadable or not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigError(f"{CONFIG_RELPATH} is a folder, not a file",
                          hint=f"remove it and run `pdd init` to write a fresh {CONFIG_RELPATH}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{CONFIG_RELPATH}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                          hint="save the file as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{CONFIG_RELPATH}: cannot be read: {exc.strerror or exc}",
                          hint="check the file's permissions") from None


def _check_seconds(data: Any, dotted: str, value: Any) -> None:
    """A timeout setting must be a finite number of seconds above 0."""
    import math

    if value is not None and not (math.isfinite(value) and value > 0):
        section, _, key = dotted.partition(".")
        line = _line_of(data.get(section) if isinstance(data, dict) else None, key)
        raise ConfigError(f"{CONFIG_RELPATH}{f':{line}' if line else ''}: {dotted} must be a number of seconds above 0, got {value!r}",
                          hint=f"e.g. {dotted.partition('.')[2]}: 300")


def _test_plugins(data: Any, value: Any) -> tuple[tuple[str, ...], bool]:
    """``tests.plugins`` as ``(names, autoload)``: a list of pytest plugin names (each
    passed as ``-p NAME``: an entry-point name such as ``anyio`` or a module such as
    ``pytest_asyncio.plugin``), or the word ``autoload`` (pytest loads every installed
    plugin itself). Raises :class:`ConfigError` (exit 2) at the file and line."""
    import re

    if value == "autoload":
        return (), True
    if isinstance(value, list) and all(isinstance(n, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", n)
                                       for n in value):
        return tuple(value), False
    line = _line_of(data.get("tests") if isinstance(data, dict) else None, "plugins")
    raise ConfigError(f"{CONFIG_RELPATH}{f':{line}' if line else ''}: tests.plugins must be a list of pytest plugin "
                      f"names or the word autoload, got {value!r}",
                      hint="e.g. plugins: [anyio, pytest_asyncio.plugin] (entry-point or module names; "
                           "`python -m pytest --trace-config` lists them), or plugins: autoload")


def check_test_command(config: "Config", root: Path, environ: dict[str, str] | None = None) -> None:
    """Raise :class:`ConfigError` (exit 2) naming ``tests.command`` if its program
    cannot be found: a name is looked up on ``PATH``, a path (with ``/``) is taken
    relative to ``root``. An empty command (this Python's pytest) always passes."""
    import shutil

    if not config.test_command:
        return
    program = config.test_command[0]
    env = os.environ if environ is None else environ
    found = (os.access(root / program, os.X_OK) and (root / program).is_file() if "/" in program
             else shutil.which(program, path=env.get("PATH")) is not None)
    if not found:
        raise ConfigError(f"{CONFIG_RELPATH}: tests.command: program {program!r} not found"
                          + ("" if "/" in program else " on PATH"),
                          hint="install it, fix tests.command, or set tests.command: [] to use this Python's pytest")


def load_config(root: Path, environ: dict[str, str] | None = None) -> Config:
    """Read ``ROOT/.pdd/config.yaml`` (absent: defaults) and apply environment overrides.

    Raises :class:`ConfigError` for malformed YAML, unknown keys, wrong types or
    values out of range.
    """
    path = root / CONFIG_RELPATH
    text = read_config_text(path)
    if text is None:
        return parse_config(None, environ)
    from pdd.yamlcache import YamlCache

    cache = YamlCache(root)
    try:
        return parse_config(text, environ, cache)
    finally:
        cache.close()


def parse_config(text: str | None, environ: dict[str, str] | None = None, cache: "YamlCache | None" = None) -> Config:
    """Settings from config file ``text`` (``None``: defaults) plus environment overrides.
    ``cache`` (optional) keeps the validated parse by content, so ruamel.yaml is not
    even imported when the file is unchanged.

    Raises :class:`ConfigError` (exit 2) naming ``.pdd/config.yaml`` and the line.
    """
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    cached: Any = None
    key = None
    if text is not None and cache is not None:
        from pdd.yamlcache import MISS, text_key

        key = text_key("config", text)
        cached = cache.get(key)
        if cached is MISS:
            cached = None
    if cached is not None:
        data = cached
    elif text is not None:
        from ruamel.yaml.error import YAMLError

        try:
            loaded = _yaml().load(text)
        except RecursionError:
            raise ConfigError(f"{CONFIG_RELPATH}: malformed YAML: nested too deeply",
                              hint="flatten the nesting; pdd's settings are at most two levels deep") from None
        except YAMLError as exc:
            from pdd.yamlcache import yaml_error_line

            offset = yaml_error_line(exc, text)
            line = f":{offset + 1}" if offset is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(
                f"{CONFIG_RELPATH}{line}: malformed YAML: {problem}",
                hint="fix the YAML syntax, or delete the file and run `pdd init` to write a fresh one",
            ) from None
        if loaded is not None:
            _validate(CONFIG_RELPATH, loaded, schema())
            data = loaded
    try:
        plain = _plain(data)
    except RecursionError:
        raise ConfigError(f"{CONFIG_RELPATH}: nested too deeply", hint="pdd's settings are at most two levels deep") from None

    def get(section: str, key: str, default: Any) -> Any:
        value = (plain.get(section) or {}).get(key)
        return default if value is None else value

    backend = env.get("PDD_BACKEND") or plain.get("backend") or DEFAULT_BACKEND
    lookup(backend, "PDD_BACKEND" if env.get("PDD_BACKEND")
           else f"{CONFIG_RELPATH}:{_line_of(data, 'backend') or ''}".rstrip(":"))  # unknown: did-you-mean, exit 2
    jobs = int(env["PDD_JOBS"]) if env.get("PDD_JOBS", "").isdigit() else get("build", "jobs", 4)
    attempts = get("build", "attempts", 2)
    if jobs < 1 or attempts < 1:
        raise ConfigError(f"{CONFIG_RELPATH}: build.jobs and build.attempts must be at least 1")
    temperature = plain.get("temperature")
    if temperature is not None and not 0 <= temperature <= 2:
        raise ConfigError(f"{CONFIG_RELPATH}:{_line_of(data, 'temperature') or ''}: temperature must be from 0 to 2, got {temperature!r}")
    max_tokens = plain.get("max_tokens")
    if max_tokens is not None and max_tokens < 1:
        raise ConfigError(f"{CONFIG_RELPATH}:{_line_of(data, 'max_tokens') or ''}: max_tokens must be at least 1, got {max_tokens!r}")
    stale = get("check", "stale", "error")
    if stale not in ("error", "warn"):
        raise ConfigError(f"{CONFIG_RELPATH}: check.stale must be 'error' or 'warn', got {stale!r}")
    trace = plain.get("trace") or "optional"
    if trace not in ("required", "optional"):
        raise ConfigError(f"{CONFIG_RELPATH}:{_line_of(data, 'trace') or ''}: trace must be 'required' or 'optional', got {trace!r}",
                          hint="trace: required makes `pdd check` and the hook fail on untested or dangling requirements")
    command = get("tests", "command", [])
    if not all(isinstance(a, str) for a in command):
        raise ConfigError(f"{CONFIG_RELPATH}: tests.command must be a list of strings")
    pass_env = get("tests", "pass_env", [])
    if not all(isinstance(n, str) and n and n.replace("_", "A").rstrip("*").isalnum() for n in pass_env):
        raise ConfigError(f"{CONFIG_RELPATH}: tests.pass_env must be a list of variable names (a trailing * "
                          f"matches a prefix), got {pass_env!r}", hint="e.g. pass_env: [DJANGO_SETTINGS_MODULE, MYAPP_*]")
    plugins, autoload = _test_plugins(data, get("tests", "plugins", []))
    sandbox = get("tests", "sandbox", "auto")
    if sandbox not in ("auto", "bwrap", "none"):
        raise ConfigError(f"{CONFIG_RELPATH}: tests.sandbox must be auto, bwrap or none, got {sandbox!r}",
                          hint="auto confines tests with bubblewrap where it is installed; none opts out")
    for dotted, value in (("tests.timeout", get("tests", "timeout", None)),
                          *((f"{b}.timeout", get(b, "timeout", None)) for b, info in REGISTRY.items()
                            if "timeout" in info.settings_schema)):
        _check_seconds(data, dotted, value)
    from pdd.policy import parse_policy

    policy = parse_policy(plain, data, env, backend)
    sections = {k: v for k, v in plain.items() if isinstance(v, dict)}
    if cache is not None and key is not None and cached is None:
        cache.put(key, plain)  # only a configuration that passed every check
    return Config(
        backend=backend,
        model=policy["model"],
        temperature=float(plain.get("temperature") if plain.get("temperature") is not None else 0.0),
        max_tokens=int(max_tokens if max_tokens is not None else 8192),
        prompts_dir=_repo_folder("paths.prompts", get("paths", "prompts", "prompts")),
        tests_dir=_repo_folder("paths.tests", get("paths", "tests", "behavior_tests")),
        jobs=jobs,
        attempts=attempts,
        test_command=tuple(command),
        test_timeout=float(get("tests", "timeout", 300)),
        test_sandbox=sandbox,
        test_pass_env=tuple(pass_env),
        test_plugins=plugins,
        test_plugin_autoload=autoload,
        stale_policy=stale,
        trace_required=trace == "required",
        replay_dir=_replay_dir(get(RECORDINGS_SECTION, "dir", ".pdd/recordings")),
        prices=dict(plain.get("prices") or {}),
        sections=sections,
        **{k: v for k, v in policy.items() if k != "model"},
    )
