"""Unit tests for pdd.cache (generation cache) and pdd.backends.replay."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdd.backends import Completion, Request, make_backend
from pdd.backends.replay import LABEL, ReplayBackend, record, replay_key
from pdd.cache import CACHE_DIR, GenerationCache, cache_key
from pdd.config import Config
from pdd.errors import EXIT_BACKEND, BackendError, ReplayMissError

HEX64 = re.compile(r"^[0-9a-f]{64}$")

REQ = Request(
    messages=({"role": "system", "content": "You write code."}, {"role": "user", "content": "Write f()."}),
    model="m1",
    temperature=0.0,
    max_tokens=1000,
    module="billing/invoice",
)
COMP = Completion(text="```python\ndef f():\n    return 1\n```\n", tokens_in=10, tokens_out=20, cost_usd=0.001, model="m1-2026")


# --- cache ---------------------------------------------------------------------


def test_cache_key_is_64_hex_and_deterministic():
    k = cache_key("openai", REQ)
    assert HEX64.match(k)
    assert k == cache_key("openai", Request(messages=tuple(dict(m) for m in REQ.messages), model="m1",
                                            temperature=0.0, max_tokens=1000, module="billing/invoice"))


def test_cache_key_changes_with_backend_model_params_messages():
    base = cache_key("openai", REQ)
    variants = [
        cache_key("anthropic", REQ),
        cache_key("openai", replace(REQ, model="m2")),
        cache_key("openai", replace(REQ, temperature=0.5)),
        cache_key("openai", replace(REQ, max_tokens=999)),
        cache_key("openai", replace(REQ, messages=REQ.messages[:1])),
        cache_key("openai", replace(REQ, messages=(REQ.messages[0], {"role": "user", "content": "Write g()."}))),
        cache_key("openai", replace(REQ, messages=(REQ.messages[1], REQ.messages[0]))),
    ]
    assert base not in variants
    assert len(set(variants)) == len(variants)


def test_cache_key_ignores_module_label_and_key_order():
    assert cache_key("openai", replace(REQ, module="other")) == cache_key("openai", REQ)
    reordered = tuple({"content": m["content"], "role": m["role"]} for m in REQ.messages)
    assert cache_key("openai", replace(REQ, messages=reordered)) == cache_key("openai", REQ)


def test_cache_miss_put_get(tmp_path):
    cache = GenerationCache(tmp_path)
    key = cache_key("openai", REQ)
    assert cache.get(key) is None
    cache.put(key, COMP)
    path = tmp_path / CACHE_DIR / key[:2] / f"{key}.json"
    assert path.is_file()
    assert json.loads(path.read_text())["text"] == COMP.text
    got = cache.get(key)
    assert got == COMP
    # a fresh instance on the same root sees it
    assert GenerationCache(tmp_path).get(key) == COMP
    # other keys still miss
    assert cache.get(cache_key("openai", replace(REQ, model="m2"))) is None


def test_cache_unknown_fields_none(tmp_path):
    cache = GenerationCache(tmp_path)
    c = Completion(text="x = 1\n")
    cache.put("ab" * 32, c)
    got = cache.get("ab" * 32)
    assert got == c
    assert got.tokens_in is None and got.cost_usd is None and got.model is None


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]", '{"no_text": 1}', "null", '"text"', "\x00\x01",
                                     '{"text": null}', '{"text": "x = 1", "tokens_in": "lots"}'])
def test_corrupt_entry_is_a_miss_and_is_overwritten(tmp_path, content):
    cache = GenerationCache(tmp_path)
    key = cache_key("openai", REQ)
    path = tmp_path / CACHE_DIR / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    assert cache.get(key) is None
    cache.put(key, COMP)
    assert cache.get(key) == COMP


def test_cache_put_overwrites(tmp_path):
    cache = GenerationCache(tmp_path)
    cache.put("cd" * 32, Completion(text="one"))
    cache.put("cd" * 32, Completion(text="two"))
    assert cache.get("cd" * 32).text == "two"
    leftovers = [p.name for p in (tmp_path / CACHE_DIR / "cd").iterdir()]
    assert leftovers == ["cd" * 32 + ".json"]  # atomic write leaves no temp files


_messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=30)}),
    min_size=1, max_size=4,
).map(tuple)
_requests = st.builds(
    Request, messages=_messages, model=st.text(min_size=1, max_size=10),
    temperature=st.floats(0, 2, allow_nan=False), max_tokens=st.integers(1, 10**6), module=st.text(max_size=10),
)


@settings(max_examples=100, deadline=None)
@given(_requests, _requests, st.sampled_from(["openai", "replay"]))
def test_cache_key_equal_iff_inputs_equal(a, b, backend):
    same = (a.messages, a.model, a.params()) == (b.messages, b.model, b.params())
    assert (cache_key(backend, a) == cache_key(backend, b)) == same


@settings(max_examples=50, deadline=None)
@given(_requests, st.text(max_size=200), st.one_of(st.none(), st.integers(0, 10**6)))
def test_cache_round_trip_property(tmp_path_factory, req, text, tokens):
    cache = GenerationCache(tmp_path_factory.mktemp("c"))
    key = cache_key("openai", req)
    comp = Completion(text=text, tokens_in=tokens, tokens_out=tokens, model=req.model)
    cache.put(key, comp)
    assert cache.get(key) == comp


# --- replay --------------------------------------------------------------------


def test_replay_key_depends_only_on_messages():
    k = replay_key(REQ)
    assert HEX64.match(k)
    assert replay_key(replace(REQ, model="other", temperature=1.0, max_tokens=5, module="x")) == k
    assert replay_key(replace(REQ, messages=REQ.messages[:1])) != k


def test_record_then_replay_round_trip(tmp_path):
    directory = tmp_path / ".pdd" / "recordings"
    path = record(directory, REQ, COMP, backend="openai")
    assert path == directory / f"{replay_key(REQ)}.json"
    data = json.loads(path.read_text())
    assert data["label"] == LABEL
    assert data["replay_key"] == replay_key(REQ)
    assert data["module"] == "billing/invoice"
    assert data["recorded_from"] == {"backend": "openai", "model": "m1-2026"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", data["recorded_at"])
    assert data["completion"] == COMP.to_json()

    backend = ReplayBackend(directory)
    assert backend.name == "replay"
    assert backend.complete(REQ) == COMP
    # replays under any model name / parameters
    assert backend.complete(replace(REQ, model="something-else", temperature=0.9)) == COMP


def test_record_model_falls_back_to_request_model(tmp_path):
    path = record(tmp_path, REQ, Completion(text="x"), backend="command")
    assert json.loads(path.read_text())["recorded_from"] == {"backend": "command", "model": "m1"}


def test_replay_miss_raises_with_module_and_how_to_configure(tmp_path):
    backend = ReplayBackend(tmp_path / "empty")
    with pytest.raises(ReplayMissError) as info:
        backend.complete(REQ)
    err = info.value
    assert isinstance(err, BackendError)
    assert err.exit_code == EXIT_BACKEND == 3
    assert "billing/invoice" in err.message
    assert replay_key(REQ)[:12] in err.message
    assert err.hint is not None
    assert "PDD_BACKEND" in err.hint and "PDD_MODEL" in err.hint and "--record" in err.hint
    assert "PDD_BACKEND" in str(err)


def test_replay_miss_without_module(tmp_path):
    with pytest.raises(ReplayMissError) as info:
        ReplayBackend(tmp_path).complete(replace(REQ, module=""))
    assert "this request" in info.value.message


def test_replay_different_messages_miss(tmp_path):
    record(tmp_path, REQ, COMP, backend="openai")
    other = replace(REQ, messages=(REQ.messages[0], {"role": "user", "content": "Write g()."}))
    with pytest.raises(ReplayMissError):
        ReplayBackend(tmp_path).complete(other)


@pytest.mark.parametrize("content", ["{broken", '{"completion": {}}', '{"nothing": 1}', "[]"])
def test_replay_corrupt_recording(tmp_path, content):
    (tmp_path / f"{replay_key(REQ)}.json").write_text(content)
    with pytest.raises(ReplayMissError) as info:
        ReplayBackend(tmp_path).complete(REQ)
    assert "corrupt" in info.value.message
    assert info.value.exit_code == 3


def test_make_backend_replay_uses_configured_dir(tmp_path):
    record(tmp_path / "rec", REQ, COMP, backend="openai")
    backend = make_backend(Config(backend="replay", replay_dir="rec"), tmp_path)
    assert backend.complete(REQ) == COMP


@settings(max_examples=50, deadline=None)
@given(_requests, st.text(max_size=200))
def test_record_replay_property(tmp_path_factory, req, text):
    d = tmp_path_factory.mktemp("rec")
    comp = Completion(text=text, tokens_in=1, tokens_out=2, cost_usd=None, model=None)
    record(d, req, comp, backend="openai")
    assert ReplayBackend(d).complete(req) == comp
