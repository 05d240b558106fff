"""Unit tests for pdd.fingerprint: generator identity and fingerprint."""

from __future__ import annotations

import re
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from pdd.config import Config
from pdd.fingerprint import Generator, compute_fingerprint, generator_for
from pdd.generation import TEMPLATE_VERSION
from pdd.prompt import parse_prompt

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def spec(front: str = "", name: str = "billing/invoice"):
    text = f"---\n{front}---\nbody\n" if front else "body\n"
    return parse_prompt(text, path=f"prompts/{name}.prompt", name=name)


GEN = Generator(backend="openai", model="m1", temperature=0.0, max_tokens=1000)
DEPS = {"billing/money": "a" * 64, "util/dates": "b" * 64}


def fp(s=None, text="rendered prompt\n", gen=GEN, deps=DEPS):
    return compute_fingerprint(s or spec(), text, gen, deps)


def test_deterministic_64_hex():
    a = fp()
    assert HEX64.match(a)
    assert a == fp()
    assert a == compute_fingerprint(spec(), "rendered prompt\n", Generator("openai", "m1", 0.0, 1000), dict(DEPS))


def test_changes_with_prompt_text():
    assert fp(text="rendered prompt\n") != fp(text="rendered prompt.\n")
    assert fp(text="a") != fp(text="a\n")


def test_changes_with_each_generator_field():
    base = fp()
    assert fp(gen=replace(GEN, model="m2")) != base
    assert fp(gen=replace(GEN, backend="replay")) != base
    assert fp(gen=replace(GEN, temperature=0.5)) != base
    assert fp(gen=replace(GEN, max_tokens=2000)) != base
    assert fp(gen=replace(GEN, template="other-template")) != base


def test_default_template_is_current_version():
    assert GEN.template == TEMPLATE_VERSION
    assert GEN.to_json() == {"backend": "openai", "model": "m1", "temperature": 0.0,
                             "max_tokens": 1000, "template": TEMPLATE_VERSION}


def test_changes_with_dep_digests():
    base = fp()
    assert fp(deps={**DEPS, "billing/money": "c" * 64}) != base
    assert fp(deps={"billing/money": "a" * 64}) != base
    assert fp(deps={**DEPS, "extra/mod": "d" * 64}) != base
    assert fp(deps={}) != base
    # the digest is keyed by module name: swapping names and digests changes it
    assert fp(deps={"billing/money": "b" * 64, "util/dates": "a" * 64}) != base


def test_independent_of_dict_order():
    forward = dict(DEPS)
    backward = dict(reversed(list(DEPS.items())))
    assert list(forward) != list(backward)
    assert fp(deps=forward) == fp(deps=backward)


def test_changes_with_module_name_and_output():
    assert fp(s=spec(name="billing/invoice")) != fp(s=spec(name="billing/invoice2"))
    assert fp(s=spec()) != fp(s=spec("output: generated/billing/other.py\n"))


def test_tests_are_not_part_of_the_fingerprint():
    assert fp(s=spec()) == fp(s=spec("tests: [behavior_tests/test_other.py]\n"))


def test_generator_for_uses_config():
    config = Config(backend="openai", model="cfg-model", temperature=0.3, max_tokens=512)
    g = generator_for(spec(), config)
    assert g == Generator(backend="openai", model="cfg-model", temperature=0.3, max_tokens=512)


def test_front_matter_model_and_temperature_override():
    config = Config(backend="openai", model="cfg-model", temperature=0.3, max_tokens=512)
    g = generator_for(spec("model: fm-model\ntemperature: 1.5\n"), config)
    assert g.model == "fm-model"
    assert g.temperature == 1.5
    assert g.backend == "openai" and g.max_tokens == 512
    base = fp(gen=generator_for(spec(), config))
    assert fp(gen=g) != base


def test_front_matter_temperature_zero_overrides_nonzero_config():
    config = Config(temperature=0.7)
    assert generator_for(spec("temperature: 0\n"), config).temperature == 0.0


def test_front_matter_model_equal_to_config_gives_same_fingerprint():
    config = Config(backend="openai", model="same", temperature=0.0, max_tokens=10)
    a = generator_for(spec(), config)
    b = generator_for(spec("model: same\n"), config)
    assert a == b
    assert fp(gen=a) == fp(gen=b)


_digests = st.dictionaries(
    st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=5), min_size=1, max_size=2).map("/".join),
    st.binary(min_size=32, max_size=32).map(bytes.hex),
    max_size=6,
)


@settings(max_examples=100, deadline=None)
@given(_digests, st.randoms(use_true_random=False))
def test_dep_order_never_matters(deps, rnd):
    items = list(deps.items())
    rnd.shuffle(items)
    assert fp(deps=deps) == fp(deps=dict(items))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=50), st.text(max_size=50))
def test_distinct_prompts_distinct_fingerprints(a, b):
    fa, fb = fp(text=a), fp(text=b)
    assert HEX64.match(fa)
    assert (fa == fb) == (a == b)
