"""Unit tests for pdd.prompt.parse_prompt (front matter, defaults, errors)."""

from __future__ import annotations

import json
import keyword

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pdd.errors import EXIT_USAGE, InputError
from pdd.prompt import FRONT_MATTER_KEYS, PromptSpec, parse_prompt

PATH = "prompts/billing/invoice.prompt"
NAME = "billing/invoice"


def parse(text: str, *, name: str = NAME, path: str = PATH, **kw) -> PromptSpec:
    return parse_prompt(text, path=path, name=name, **kw)


def parse_error(text: str, *, name: str = NAME, path: str = PATH) -> InputError:
    with pytest.raises(InputError) as info:
        parse_prompt(text, path=path, name=name)
    return info.value


# --- front matter keys and defaults -------------------------------------------------


def test_all_front_matter_keys_are_read():
    text = (
        "---\n"
        "depends: [billing/money, util/dates]\n"
        "tests: [behavior_tests/test_invoice.py, behavior_tests/test_more.py]\n"
        "output: generated/billing/invoice_impl.py\n"
        "model: some-model\n"
        "temperature: 0.2\n"
        "---\n"
        "# Goal\n"
    )
    spec = parse(text)
    assert spec.name == NAME
    assert spec.path == PATH
    assert spec.depends == ("billing/money", "util/dates")
    assert spec.tests == ("behavior_tests/test_invoice.py", "behavior_tests/test_more.py")
    assert spec.tests_declared is True
    assert spec.output == "generated/billing/invoice_impl.py"
    assert spec.module == "generated.billing.invoice_impl"
    assert spec.model == "some-model"
    assert spec.temperature == 0.2
    assert isinstance(spec.temperature, float)
    assert spec.keys_line == {"depends": 2, "tests": 3, "output": 4, "model": 5, "temperature": 6}


def test_defaults_without_front_matter():
    spec = parse("# Goal\nMake invoices.\n")
    assert spec.depends == ()
    assert spec.tests == ("behavior_tests/test_invoice.py",)
    assert spec.tests_declared is False
    assert spec.output == "generated/billing/invoice.py"
    assert spec.module == "generated.billing.invoice"
    assert spec.model is None
    assert spec.temperature is None
    assert spec.body == "# Goal\nMake invoices.\n"
    assert spec.keys_line == {}


def test_default_tests_use_stem_and_tests_dir():
    spec = parse("body\n", name="a/b/c", path="prompts/a/b/c.prompt", tests_dir="checks")
    assert spec.tests == ("checks/test_c.py",)
    assert spec.output == "generated/a/b/c.py"
    assert spec.module == "generated.a.b.c"


def test_empty_front_matter_gives_defaults():
    spec = parse("---\n---\nbody\n")
    assert spec.depends == ()
    assert spec.output == "generated/billing/invoice.py"
    assert spec.tests_declared is False


def test_null_values_mean_default():
    spec = parse("---\ndepends:\ntests:\noutput:\nmodel:\ntemperature:\n---\nbody\n")
    assert spec.depends == ()
    assert spec.tests == ("behavior_tests/test_invoice.py",)
    assert spec.tests_declared is False
    assert spec.output == "generated/billing/invoice.py"
    assert spec.model is None and spec.temperature is None


def test_single_string_depends_and_tests_become_tuples():
    spec = parse("---\ndepends: billing/money\ntests: behavior_tests/test_x.py\n---\n")
    assert spec.depends == ("billing/money",)
    assert spec.tests == ("behavior_tests/test_x.py",)


def test_empty_tests_list_is_declared_and_empty():
    spec = parse("---\ntests: []\nuntested_reason: constants only\n---\n")
    assert spec.tests == ()
    assert spec.tests_declared is True
    assert spec.untested_reason == "constants only"


def test_empty_tests_list_needs_a_reason_and_a_reason_needs_it():
    err = parse_error("---\ntests: []\n---\n")
    assert err.line == 2 and "untested_reason" in str(err)
    err = parse_error("---\nuntested_reason: because\n---\n")
    assert err.line == 2 and "only allowed with 'tests: []'" in err.message


def test_body_keeps_line_numbers_of_the_file():
    text = "---\nmodel: m\n---\nline four\nline five\n"
    spec = parse(text)
    body_lines = spec.body.splitlines()
    file_lines = text.splitlines()
    assert len(body_lines) == len(file_lines)
    assert body_lines[3] == "line four" and body_lines[4] == "line five"
    assert all(not ln for ln in body_lines[:3])


def test_crlf_front_matter():
    spec = parse("---\r\nmodel: m\r\n---\r\nbody\r\n")
    assert spec.model == "m"
    assert spec.keys_line["model"] == 2


def test_integer_temperature_becomes_float_and_bounds_accepted():
    assert parse("---\ntemperature: 1\n---\n").temperature == 1.0
    assert parse("---\ntemperature: 0\n---\n").temperature == 0.0
    assert parse("---\ntemperature: 2\n---\n").temperature == 2.0


def test_output_is_normalised():
    assert parse("---\noutput: generated/./x.py\n---\n").output == "generated/x.py"


def test_frozen_spec_equality_ignores_keys_line():
    a = parse("---\nmodel: m\n---\n")
    b = parse("---\n\nmodel: m\n---\n")
    assert a.keys_line != b.keys_line
    assert a.model == b.model


# --- errors ------------------------------------------------------------------------


def test_input_error_attributes_and_exit_code():
    err = parse_error("---\nmodel: m\nbogus: 1\n---\n")
    assert isinstance(err, InputError)
    assert err.path == PATH
    assert err.line == 3
    assert err.exit_code == EXIT_USAGE == 2
    assert str(err).startswith(f"{PATH}:3: ")
    assert "bogus" in str(err)
    assert err.hint and all(k in err.hint for k in FRONT_MATTER_KEYS)


@pytest.mark.parametrize("blank_lines", [0, 1, 4])
def test_unknown_key_line_is_1_based_file_line(blank_lines):
    text = "---\n" + "depends: []\n" + "\n" * blank_lines + "colour: red\n---\nbody\n"
    err = parse_error(text)
    assert err.line == 3 + blank_lines
    assert "colour" in err.message


def test_unknown_key_first_line():
    err = parse_error("---\nprompt: x\n---\n")
    assert err.line == 2


def test_malformed_yaml_reports_the_line():
    text = "---\ndepends: [a]\nmodel: m\ntests: x: y\n---\n"
    err = parse_error(text, name="z")
    assert err.line == 4
    assert "malformed YAML" in err.message
    assert err.path == PATH


def test_malformed_yaml_bad_indentation_line():
    text = "---\nmodel: m\n  temperature: 0.1\nbad\n---\n"
    err = parse_error(text)
    assert "malformed YAML" in err.message
    assert err.line in (3, 4)


def test_duplicate_yaml_key_is_an_input_error():
    err = parse_error("---\nmodel: a\nmodel: b\n---\n")
    assert err.line == 3


def test_front_matter_not_a_mapping():
    err = parse_error("---\n- a\n- b\n---\n")
    assert err.line == 2
    assert "mapping" in err.message


def test_unclosed_front_matter():
    err = parse_error("---\nmodel: m\n# Goal\nno closing fence\n")
    assert err.line == 1
    assert "never closed" in err.message
    assert err.hint


def test_front_matter_without_its_opening_fence_is_refused_not_read_as_prose():
    # Without the check, `depends` and `tests` would be ignored (body text), silently.
    err = parse_error("depends: [calc/add]\ntests:\n  - behavior_tests/test_x.py\n---\n# Goal\nx\n")
    assert err.line == 1 and "without its opening '---'" in err.message and "line 4" in err.message
    assert err.hint == "add a line '---' before line 1"
    # prose that happens to start like a key, then a thematic break later: a prompt
    spec = parse_prompt("model: the one we use is small.\n\nIt rounds down.\n\n---\n", path="prompts/m.prompt", name="m")
    assert spec.depends == () and spec.model is None
    # a key-like first line, then headings and a list (not a YAML mapping of front-matter keys): prose
    spec = parse_prompt("output: one slug per title, in the input order.\n\n# Requirements\n- [R1] Lowercase.\n"
                        "- [R2] Note: spaces become dashes.\n\n---\nMore.\n", path="prompts/m.prompt", name="m")
    assert spec.output == "generated/m.py"
    # ... but front matter with a mistake in it is still front matter (review: a typo is when the error matters)
    for text in ("model: small\ndepnds: [a]\n---\n# T\n", "depends: [a, b\noutput: generated/x.py\n---\n# T\n",
                 "model: a\nmodel: b\n---\n# T\n"):
        assert "without its opening '---'" in parse_error(text).message, text
    # a key-like first line, then a sentence with a colon that is no front-matter key: prose (final review)
    assert parse_prompt("model: the small one is fine.\nNote: it rounds down.\n---\n", path="prompts/m.prompt",
                        name="m").model is None


def test_front_matter_only_opening_line():
    err = parse_error("---\n")
    assert err.line == 1


def test_dashes_not_on_first_line_are_body():
    spec = parse("# Goal\n---\nmodel: m\n---\n")
    assert spec.model is None
    assert "model: m" in spec.body


@pytest.mark.parametrize(
    "output",
    [
        "../x.py",
        "generated/../x.py",
        "generated/../../etc/x.py",
        "/abs.py",
        "/generated/x.py",
        "other/x.py",
        "x.py",
        "generated",
        "generated/",
    ],
)
def test_output_outside_generated(output):
    err = parse_error(f"---\nmodel: m\noutput: '{output}'\n---\n")
    assert err.line == 3
    assert "outside generated/" in err.message or "must end in .py" in err.message
    assert output in err.message or output.rstrip("/") in err.message


@pytest.mark.parametrize("output", ["generated/x.txt", "generated/x", "generated/x.pyc", "generated/x.PY"])
def test_output_must_be_py(output):
    err = parse_error(f"---\noutput: {output}\n---\n")
    assert err.line == 2
    assert ".py" in err.message


@pytest.mark.parametrize(
    "output",
    [
        "generated/1abc.py",
        "generated/my-mod.py",
        "generated/a b.py",
        "generated/class.py",
        "generated/import/x.py",
        "generated/x.y.py",
        "generated/__init__.py",
        "generated/ok/__init__.py",
        "generated/9dir/x.py",
    ],
)
def test_output_invalid_identifiers(output):
    err = parse_error(f"---\noutput: '{output}'\n---\n")
    assert err.line == 2
    assert "not a valid Python module name" in err.message


def test_output_backslash_rejected():
    err = parse_error("---\noutput: 'generated\\\\x.py'\n---\n")
    assert err.line == 2


def test_output_not_a_string():
    err = parse_error("---\noutput: [a]\n---\n")
    assert err.line == 2


def test_invalid_module_name_gives_invalid_default_output():
    err = parse_error("body\n", name="billing/my-invoice")
    assert "not a valid Python module name" in err.message


@pytest.mark.parametrize("value", ["-0.1", "2.5", "hot", "true", "[1]", ".nan", ".inf", "'0.5'"])
def test_bad_temperature(value):
    err = parse_error(f"---\nmodel: m\ntemperature: {value}\n---\n")
    assert err.line == 3
    assert "temperature" in err.message


@pytest.mark.parametrize("value", ["''", "123", "[]", "[a, a]", "[a, 1]", "{a: 1}", "true"])  # [a, b]: a ladder
def test_bad_model(value):
    err = parse_error(f"---\nmodel: {value}\n---\n")
    assert err.line == 2
    assert "model" in err.message


def test_depends_on_itself():
    err = parse_error("---\ntests: [t.py]\ndepends: [billing/money, billing/invoice]\n---\n")
    assert err.line == 3
    assert "depends on itself" in err.message
    assert NAME in err.message


def test_depends_on_itself_as_single_string():
    err = parse_error("---\ndepends: billing/invoice\n---\n")
    assert "depends on itself" in err.message


def test_duplicate_depends():
    err = parse_error("---\nmodel: m\ndepends: [a, b, a]\n---\n")
    assert err.line == 3
    assert "twice" in err.message


@pytest.mark.parametrize("value", ["[1, 2]", "['']", "{a: b}", "[[a]]", "5", "['a', null]"])
def test_depends_and_tests_must_be_string_lists(value):
    for key in ("depends", "tests"):
        err = parse_error(f"---\nmodel: m\n{key}: {value}\n---\n")
        assert err.line == 3, key
        assert key in err.message


@pytest.mark.parametrize("test_path", ["/abs/test_x.py", "../test_x.py", "behavior_tests/../../x.py"])
def test_tests_paths_must_stay_in_repo(test_path):
    err = parse_error(f"---\ntests: ['{test_path}']\n---\n")
    assert err.line == 2
    assert test_path in err.message


# --- properties --------------------------------------------------------------------

_ident = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and s != "__init__"
)
_module = st.lists(_ident, min_size=1, max_size=3).map("/".join)
_test_path = st.lists(_ident, min_size=1, max_size=3).map(lambda parts: "/".join(parts) + ".py")
_model = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=20)


@st.composite
def front_matters(draw):
    name = draw(_module)
    values: dict = {}
    if draw(st.booleans()):
        values["depends"] = draw(st.lists(_module.filter(lambda m: m != name), unique=True, max_size=4))
    if draw(st.booleans()):
        values["tests"] = draw(st.lists(_test_path, min_size=1, max_size=3))  # `tests: []` needs untested_reason
    if draw(st.booleans()):
        values["output"] = "generated/" + draw(_module) + ".py"
    if draw(st.booleans()):
        values["model"] = draw(_model)
    if draw(st.booleans()):
        values["temperature"] = draw(
            st.one_of(st.integers(0, 2), st.floats(0, 2, allow_nan=False, allow_infinity=False))
        )
    order = draw(st.permutations(sorted(values)))
    return name, values, order


@settings(max_examples=100, deadline=None)
@given(front_matters(), st.text(max_size=80).filter(lambda b: "{" not in b))
def test_generated_front_matter_round_trips(fm, body):
    name, values, order = fm
    # JSON is valid YAML flow syntax: each value on its own line.
    lines = [f"{key}: {json.dumps(values[key])}" for key in order]
    text = "---\n" + "".join(ln + "\n" for ln in lines) + "---\n" + body
    spec = parse_prompt(text, path="prompts/x.prompt", name=name)
    assert spec.name == name
    assert spec.depends == tuple(values.get("depends") or ())
    if "tests" in values:
        assert spec.tests == tuple(values["tests"])
        assert spec.tests_declared
    else:
        assert spec.tests == (f"behavior_tests/test_{name.split('/')[-1]}.py",)
        assert not spec.tests_declared
    assert spec.output == values.get("output", f"generated/{name}.py")
    assert spec.module == spec.output[: -len(".py")].replace("/", ".")
    assert spec.model == values.get("model")
    if "temperature" in values:
        assert spec.temperature == pytest.approx(float(values["temperature"]))
    else:
        assert spec.temperature is None
    for i, key in enumerate(order):
        assert spec.keys_line[key] == i + 2
    assert spec.body.endswith(body)
    assert spec.body[: len(spec.body) - len(body)] == "\n" * (len(order) + 2)


_yamlish = st.text(
    alphabet=st.sampled_from(list("-:[]{}#&*!|>'\"%@`,? \n\tabcdeklmnoprstuz0123456789.\\")) | st.characters(),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(_yamlish, _yamlish.map(lambda s: "---\n" + s), _yamlish.map(lambda s: "---\n" + s + "\n---\nbody")))
def test_arbitrary_text_raises_only_input_error(text):
    try:
        spec = parse_prompt(text, path="prompts/x.prompt", name="x")
    except InputError as err:
        assert err.path == "prompts/x.prompt"
        assert err.line is None or err.line >= 1
        assert err.exit_code == 2
    else:
        assert isinstance(spec, PromptSpec)
        assert spec.output.startswith("generated/") and spec.output.endswith(".py")
        assert "x" not in spec.depends


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_unknown_keys_always_rejected(key):
    assume(key not in FRONT_MATTER_KEYS and key not in ("null", "true", "false"))
    err = parse_error(f"---\nmodel: m\n{key}: 1\n---\n")
    assert err.line == 3
    assert repr(key) in err.message
