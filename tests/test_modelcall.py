"""In-process tests of the model call (pdd.modelcall) and the backend registry (pdd.backends).

The model calls go over real HTTP to the fake server on 127.0.0.1; the registry's
laziness is checked in a fresh interpreter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import DUMMY_API_KEY, FAKE_MODEL, Reply, fresh_python, init_git_repo
from pdd import backends
from pdd.backends import REGISTRY, BackendInfo, Completion, lookup, make_backend, names
from pdd.config import Config, parse_config
from pdd.errors import BackendError, ConfigError
from pdd.fingerprint import Generator
from pdd.modelcall import ModelCaller, request_for
from pdd.project import Project
from pdd.spend import BudgetExceeded

MESSAGES = ({"role": "system", "content": "You write Python."},
            {"role": "user", "content": "Target module: generated.demo\nWrite it."})


def _request(model: str = FAKE_MODEL, **kw):
    gen = Generator(backend="openai", model=model, temperature=0.0, max_tokens=256)
    return request_for(gen, MESSAGES, "demo", **kw)


@pytest.fixture
def openai_env(monkeypatch, fake_server):
    monkeypatch.setenv("OPENAI_API_KEY", DUMMY_API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.openai_base_url)
    fake_server.answers["demo"] = "def f():\n    return 1\n"
    return fake_server


def _project(root: Path, backend: str = "openai", **config) -> Project:
    init_git_repo(root)
    return Project(root=root, config=Config(backend=backend, model=FAKE_MODEL, **config))


# -- the registry ----------------------------------------------------------------------------------------------------

def test_lookup_unknown_name_suggests_the_closest_and_lists_all():
    with pytest.raises(ConfigError) as info:
        lookup("opnai", "PDD_BACKEND")
    assert info.value.message == "PDD_BACKEND: unknown backend 'opnai': did you mean 'openai'?"
    assert all(n in info.value.hint for n in names())
    with pytest.raises(ConfigError) as info:
        lookup("zzzzzz")
    assert "did you mean" not in info.value.message and info.value.exit_code == 2
    with pytest.raises(ConfigError):
        lookup(["openai"])  # not a name at all (a YAML list): refused, never a crash


def test_config_names_the_file_and_line_of_an_unknown_backend():
    with pytest.raises(ConfigError) as info:
        parse_config("model: m\nbackend: replya\n", environ={})
    assert info.value.message == ".pdd/config.yaml:2: unknown backend 'replya': did you mean 'replay'?"


def test_review_backend_is_validated_against_the_registry_with_file_and_line():
    with pytest.raises(ConfigError) as info:
        parse_config("model: m\nreview:\n  model: r\n  backend: antropic\n", environ={})
    assert info.value.message == (".pdd/config.yaml:4: review.backend: unknown backend 'antropic': "
                                  "did you mean 'anthropic'?")
    assert info.value.hint.endswith("or leave it out")


@pytest.mark.parametrize("text, where", [
    ("openai:\n  stream: 'yes'\n", "openai.stream"),
    ("command:\n  argv: claude\n", "command.argv"),
    ("replay:\n  timeout: 3\n", "replay.timeout"),  # replay has no timeout setting
    ("anthropic:\n  stream: true\n", "anthropic.stream"),  # only openai streams
])
def test_each_backends_settings_are_validated_by_its_own_schema(text, where):
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ={})
    assert where.split(".")[1] in info.value.message and ".pdd/config.yaml" in info.value.message


def test_every_timeout_setting_of_the_registry_must_be_positive_seconds():
    timed = [name for name, info in REGISTRY.items() if "timeout" in info.settings_schema]
    assert timed  # the check below is not vacuous
    for name in timed:
        with pytest.raises(ConfigError, match=rf"{name}\.timeout must be a number of seconds above 0"):
            parse_config(f"{name}:\n  timeout: 0\n", environ={})


def test_every_registry_entry_has_an_importable_factory_and_a_schema_config_accepts():
    for name, info in REGISTRY.items():
        module, _, function = info.factory.partition(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function)), name
        assert parse_config(f"backend: {name}\n", environ={}).backend == name
    assert [n for n, i in REGISTRY.items() if i.deterministic] == [backends.RECORDINGS_SECTION]


def test_a_registered_backend_is_usable_by_name_without_editing_make_backend(monkeypatch, tmp_path):
    monkeypatch.setitem(REGISTRY, "echo", BackendInfo("echo", "test_modelcall:_echo_backend", "test only",
                                                      {"prefix": str}))
    config = parse_config("backend: echo\necho:\n  prefix: '> '\n", environ={})
    backend = make_backend(config, tmp_path)
    assert backend.complete(_request()).text == "> Write it."
    with pytest.raises(ConfigError):
        parse_config("backend: echo\necho:\n  prefix: 3\n", environ={})


class _Echo:
    name = "echo"

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def complete(self, request):
        return Completion(self.prefix + request.messages[-1]["content"].splitlines()[-1], 1, 1)


def _echo_backend(config, root):
    return _Echo(config.section("echo").get("prefix", ""))


def test_importing_the_registry_and_reading_config_imports_no_backend_or_sdk():
    code = ("import sys, pdd.config, pdd.backends, pdd.hook\n"
            "from pdd.config import DEFAULT_CONFIG_TEXT, parse_config\n"
            "parse_config(DEFAULT_CONFIG_TEXT, environ={})\n"
            "pdd.backends.lookup('openai')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'anthropic', 'httpx', 'pydantic')"
            " or m.startswith('pdd.backends.')))\n")
    assert fresh_python(code) == "[]"


# -- the request -------------------------------------------------------------------------------------------------------

def test_request_for_takes_the_generators_fields_and_the_overrides():
    gen = Generator(backend="openai", model="m1", temperature=0.3, max_tokens=99)
    r = request_for(gen, list(MESSAGES), "demo")
    assert (r.messages, r.model, r.temperature, r.max_tokens, r.module, r.seed) == (MESSAGES, "m1", 0.3, 99, "demo", None)
    r = request_for(gen, MESSAGES, "demo", model="m2", temperature=0.9, seed=7)
    assert (r.model, r.temperature, r.max_tokens, r.seed) == ("m2", 0.9, 99, 7)
    assert r.params() == {"temperature": 0.9, "max_tokens": 99, "seed": 7}


# -- ModelCaller against the fake server ----------------------------------------------------------------------------

def test_caller_sends_once_then_answers_from_the_cache(openai_env, tmp_path):
    caller = ModelCaller(_project(tmp_path / "repo"))
    assert not caller.deterministic
    first, hit = caller(_request())
    assert not hit and "return 1" in first.text and openai_env.request_count == 1
    again, hit = caller(_request())
    assert hit and again.text == first.text and openai_env.request_count == 1
    fresh, hit = caller(_request(), lookup=False)  # pdd probe: a new answer, still stored
    assert not hit and openai_env.request_count == 2
    assert caller.spend.entry()["requests"] == 2 and caller.spend.entry()["cache_hits"] == 1


def test_prepare_builds_the_backend_once_and_defers_its_failure_to_the_call(openai_env, monkeypatch, tmp_path):
    caller = ModelCaller(_project(tmp_path / "repo"))
    caller.prepare()
    built = caller.backend()
    caller(_request())
    assert caller.backend() is built
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL")
    broken = ModelCaller(_project(tmp_path / "other"))
    broken.prepare()  # no key: not raised here ...
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        broken(_request())  # ... but where the caller handles it, as before
    assert openai_env.request_count == 1


def test_budget_refuses_before_sending_and_prices_fill_the_cost(openai_env, tmp_path):
    prices = {FAKE_MODEL: {"input": 1000.0, "output": 1000.0, "date": "2026-01-01"}}
    project = _project(tmp_path / "repo", prices=prices)
    caller = ModelCaller(project, budget=0.000001)
    with pytest.raises(BudgetExceeded):
        caller(_request())
    assert openai_env.request_count == 0
    rich = ModelCaller(project, budget=1000.0)
    completion, _ = rich(_request())
    assert completion.cost_usd is not None and completion.cost_usd > 0
    assert rich.budget.spent == pytest.approx(completion.cost_usd)


def test_a_shared_caller_has_its_own_backend_and_spend_but_the_same_budget(openai_env, tmp_path):
    project = _project(tmp_path / "repo", prices={FAKE_MODEL: {"input": 1.0, "output": 1.0, "date": "2026-01-01"}})
    generator = ModelCaller(project, budget=5.0)
    reviewer = ModelCaller(project, backend=backends.RECORDINGS_SECTION, share=generator)
    assert reviewer.config.backend != generator.config.backend and reviewer.deterministic
    assert reviewer.budget is generator.budget and reviewer.prices is generator.prices
    assert reviewer.spend is not generator.spend
    with pytest.raises(ConfigError, match="unknown backend"):
        ModelCaller(project, backend="nope")


def test_record_writes_a_recording_the_deterministic_backend_replays_for_free(openai_env, tmp_path):
    project = _project(tmp_path / "repo")
    recorder = ModelCaller(project, record=True)
    answer, _ = recorder(_request())
    recordings = list((project.root / project.config.replay_dir).glob("*.json"))
    assert len(recordings) == 1
    assert json.loads(recordings[0].read_text())["completion"]["text"] == answer.text
    replay_project = Project(root=project.root, config=Config(backend=backends.RECORDINGS_SECTION, model="other"))
    replayer = ModelCaller(replay_project, record=True)
    replayed, hit = replayer(_request(model="other"))
    assert not hit and replayed.text == answer.text and replayed.cost_usd == 0.0
    assert len(list((project.root / project.config.replay_dir).glob("*.json"))) == 1  # a replay is not re-recorded
    assert openai_env.request_count == 1


def test_a_backend_failure_is_a_backend_error_and_releases_the_reservation(openai_env, tmp_path):
    openai_env.answers["demo"] = Reply(status=401, text="bad key")
    project = _project(tmp_path / "repo", prices={FAKE_MODEL: {"input": 1.0, "output": 1.0, "date": "2026-01-01"}})
    caller = ModelCaller(project, budget=5.0)
    with pytest.raises(BackendError, match="HTTP 401") as info:
        caller(_request())
    assert info.value.exit_code == 3 and "OPENAI_API_KEY" in (info.value.hint or "")
    assert caller.budget.reserved == 0 and caller.budget.spent == 0
