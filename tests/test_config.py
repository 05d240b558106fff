"""Unit tests for pdd.config.load_config."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdd.backends import names as backend_names
from pdd.config import CONFIG_RELPATH, DEFAULT_CONFIG_TEXT, Config, load_config
from pdd.errors import EXIT_USAGE, ConfigError

NO_ENV: dict[str, str] = {}


def write_config(root: Path, text: str) -> Path:
    p = root / CONFIG_RELPATH
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return root


def config_error(root: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    write_config(root, text)
    with pytest.raises(ConfigError) as info:
        load_config(root, env if env is not None else NO_ENV)
    assert info.value.exit_code == EXIT_USAGE == 2
    return info.value


def test_defaults_without_file(tmp_path):
    c = load_config(tmp_path, NO_ENV)
    assert c == Config()
    assert c.backend == "replay" and c.model == "recorded"
    assert c.temperature == 0.0 and c.max_tokens == 8192
    assert c.prompts_dir == "prompts" and c.tests_dir == "behavior_tests"
    assert c.jobs == 4 and c.attempts == 2
    assert c.test_command == () and c.test_timeout == 300.0
    assert c.stale_policy == "error"
    assert c.replay_dir == ".pdd/recordings"
    assert c.section("openai") == {}


def test_default_config_text_parses_to_defaults(tmp_path):
    write_config(tmp_path, DEFAULT_CONFIG_TEXT)
    c = load_config(tmp_path, NO_ENV)
    defaults = Config()
    for field in ("backend", "model", "temperature", "max_tokens", "prompts_dir", "tests_dir", "jobs",
                  "attempts", "test_command", "test_timeout", "stale_policy", "replay_dir", "prices"):
        assert getattr(c, field) == getattr(defaults, field), field
    assert c.section("openai") == {"base_url": None, "timeout": 120, "max_retries": 4}
    assert c.section("replay") == {"dir": ".pdd/recordings"}


def test_empty_file_gives_defaults(tmp_path):
    write_config(tmp_path, "# only a comment\n")
    assert load_config(tmp_path, NO_ENV) == Config()


def test_values_from_file(tmp_path):
    write_config(tmp_path, (
        "backend: openai\nmodel: gpt-x\ntemperature: 0.7\nmax_tokens: 100\n"
        "paths: {prompts: specs, tests: checks}\n"
        "build: {jobs: 8, attempts: 3}\n"
        "tests: {command: [pytest, -x], timeout: 12.5}\n"
        "openai: {base_url: 'http://127.0.0.1:1/v1', timeout: 5, max_retries: 0}\n"
        "replay: {dir: rec}\ncheck: {stale: warn}\n"
        "prices: {gpt-x: {input: 1.0, output: 2.0, date: '2026-01-01'}}\n"
    ))
    c = load_config(tmp_path, NO_ENV)
    assert (c.backend, c.model, c.temperature, c.max_tokens) == ("openai", "gpt-x", 0.7, 100)
    assert (c.prompts_dir, c.tests_dir, c.jobs, c.attempts) == ("specs", "checks", 8, 3)
    assert c.test_command == ("pytest", "-x") and c.test_timeout == 12.5
    assert c.section("openai") == {"base_url": "http://127.0.0.1:1/v1", "timeout": 5, "max_retries": 0}
    assert c.replay_dir == "rec" and c.stale_policy == "warn"
    assert c.prices == {"gpt-x": {"input": 1.0, "output": 2.0, "date": "2026-01-01"}}
    assert type(c.prices["gpt-x"]) is dict  # plain, not ruamel containers


def test_env_overrides_backend_and_model(tmp_path):
    write_config(tmp_path, "backend: replay\nmodel: file-model\n")
    c = load_config(tmp_path, {"PDD_BACKEND": "openai", "PDD_MODEL": "env-model"})
    assert c.backend == "openai" and c.model == "env-model"
    c = load_config(tmp_path, {"PDD_MODEL": "env-model"})
    assert c.backend == "replay" and c.model == "env-model"


def test_env_overrides_without_file(tmp_path):
    c = load_config(tmp_path, {"PDD_BACKEND": "openai", "PDD_MODEL": "m", "PDD_JOBS": "7"})
    assert (c.backend, c.model, c.jobs) == ("openai", "m", 7)


def test_empty_env_values_do_not_override(tmp_path):
    write_config(tmp_path, "backend: openai\nmodel: file-model\n")
    c = load_config(tmp_path, {"PDD_BACKEND": "", "PDD_MODEL": "", "PDD_JOBS": ""})
    assert (c.backend, c.model, c.jobs) == ("openai", "file-model", 4)


def test_env_defaults_to_os_environ(tmp_path, monkeypatch):
    monkeypatch.setenv("PDD_MODEL", "from-os-env")
    monkeypatch.delenv("PDD_BACKEND", raising=False)
    assert load_config(tmp_path).model == "from-os-env"


def test_unknown_key_error_with_line(tmp_path):
    err = config_error(tmp_path, "backend: replay\nmodel: m\nmodle: typo\n")
    assert f"{CONFIG_RELPATH}:3:" in err.message
    assert "modle" in err.message
    assert err.hint and "model" in err.hint


def test_unknown_nested_key_error_with_line(tmp_path):
    err = config_error(tmp_path, "backend: replay\nbuild:\n  jobs: 2\n  job: 3\n")
    assert f"{CONFIG_RELPATH}:4:" in err.message
    assert "build.job" in err.message
    assert err.hint and "attempts" in err.hint and "jobs" in err.hint


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("model: 5\n", 1, "model"),
        ("backend: replay\ntemperature: hot\n", 2, "temperature"),
        ("max_tokens: 1.5\n", 1, "max_tokens"),
        ("max_tokens: true\n", 1, "max_tokens"),
        ("temperature: false\n", 1, "temperature"),
        ("build:\n  jobs: many\n", 2, "build.jobs"),
        ("build:\n  jobs: true\n", 2, "build.jobs"),
        ("tests:\n  command: pytest -x\n", 2, "tests.command"),
        ("openai:\n  base_url: 5\n", 2, "openai.base_url"),
        ("prices: []\n", 1, "prices"),
        ("replay:\n  dir: [a]\n", 2, "replay.dir"),
    ],
)
def test_wrong_type(tmp_path, text, line, key):
    err = config_error(tmp_path, text)
    assert f"{CONFIG_RELPATH}:{line}:" in err.message
    assert f"'{key}'" in err.message
    assert "must be" in err.message


def test_section_not_a_mapping(tmp_path):
    err = config_error(tmp_path, "build: 4\n")
    assert "build" in err.message and "mapping" in err.message


def test_top_level_not_a_mapping(tmp_path):
    err = config_error(tmp_path, "- a\n- b\n")
    assert "mapping" in err.message


def test_unknown_backend_from_file(tmp_path):
    err = config_error(tmp_path, "backend: gpt\n")
    assert "gpt" in err.message and CONFIG_RELPATH in err.message
    assert err.hint and all(b in err.hint for b in backend_names())


def test_unknown_backend_from_env(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {"PDD_BACKEND": "nonesuch"})
    assert "nonesuch" in info.value.message and "PDD_BACKEND" in info.value.message


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("backend: replay\nmodel: [unclosed\n", 3),
        ("backend: replay\nmodel: m\n  x: y: z\n", 3),
        ("backend: replay\nbuild:\n  jobs: 1\n bad: 2\n", 4),
        ("backend: replay\nmodel: m\nmodel: n\n", 3),
    ],
)
def test_malformed_yaml_line(tmp_path, text, line):
    err = config_error(tmp_path, text)
    assert err.message.startswith(f"{CONFIG_RELPATH}:{line}: malformed YAML")
    assert err.hint and "pdd init" in err.hint


@pytest.mark.parametrize("text", ["build:\n  jobs: 0\n", "build:\n  attempts: 0\n", "build:\n  jobs: -3\n"])
def test_jobs_and_attempts_at_least_one(tmp_path, text):
    err = config_error(tmp_path, text)
    assert "at least 1" in err.message


def test_pdd_jobs_zero_rejected(tmp_path):
    with pytest.raises(ConfigError):
        load_config(tmp_path, {"PDD_JOBS": "0"})


def test_non_numeric_pdd_jobs_ignored(tmp_path):
    assert load_config(tmp_path, {"PDD_JOBS": "lots"}).jobs == 4


def test_stale_policy_values(tmp_path):
    err = config_error(tmp_path, "check:\n  stale: ignore\n")
    assert "stale" in err.message


def test_test_command_must_be_strings(tmp_path):
    err = config_error(tmp_path, "tests:\n  command: [pytest, 3]\n")
    assert "tests.command" in err.message


def test_null_sections_mean_defaults(tmp_path):
    write_config(tmp_path, "paths:\nbuild:\ntests:\nopenai:\n")
    assert load_config(tmp_path, NO_ENV) == Config()


@settings(max_examples=60, deadline=None)
@given(
    backend=st.sampled_from(backend_names()),
    model=st.from_regex(r"[A-Za-z][A-Za-z0-9._:-]{0,20}", fullmatch=True),
    temperature=st.floats(0, 2, allow_nan=False),
    jobs=st.integers(1, 64),
    attempts=st.integers(1, 9),
    env_model=st.one_of(st.none(), st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)),
)
def test_generated_config_round_trips(tmp_path_factory, backend, model, temperature, jobs, attempts, env_model):
    root = tmp_path_factory.mktemp("cfg")
    write_config(root, f"backend: {backend}\nmodel: '{model}'\ntemperature: {temperature!r}\n"
                       f"build:\n  jobs: {jobs}\n  attempts: {attempts}\n")
    env = {"PDD_MODEL": env_model} if env_model else {}
    c = load_config(root, env)
    assert c.backend == backend
    assert c.model == (env_model or model)
    assert c.temperature == temperature
    assert (c.jobs, c.attempts) == (jobs, attempts)


@pytest.mark.parametrize("value", ["5", "-1"])
def test_temperature_out_of_range_rejected(tmp_path, value):
    config_error(tmp_path, f"temperature: {value}\n")
