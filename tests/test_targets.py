"""In-process tests of the target seam (pdd.targets): the registry, the Target
protocol as the python target implements it, and that the words moved behind it
render the generation request byte for byte as before (the example project's
recorded responses are keyed by that request)."""

from __future__ import annotations

import hashlib
import inspect
import json
import keyword
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import fresh_python
from pdd import interface, targets
from pdd.errors import InputError
from pdd.extract import NoCodeError
from pdd.prompt import GENERATED_DIR, default_output, parse_prompt

PY = targets.get()

# --- registry ----------------------------------------------------------------------


def test_default_target_is_python_and_lookups_are_cached():
    assert targets.DEFAULT == "python" and targets.names() == ("python",)
    assert targets.get() is targets.get("python") is sys.modules["pdd.targets.python"]
    assert PY.NAME == "python"


def test_unknown_target_names_the_known_ones_and_the_closest():
    with pytest.raises(KeyError) as info:
        targets.get("pyhton")
    message = str(info.value)
    assert "unknown target 'pyhton'" in message and "did you mean 'python'?" in message
    assert "known targets: python" in message
    with pytest.raises(KeyError) as info:
        targets.get("cobol")
    assert "did you mean" not in str(info.value)


def test_python_implements_every_member_of_the_protocol():
    protocol = targets.Target
    attributes = set(inspect.get_annotations(protocol))
    methods = {n for n, v in vars(protocol).items() if inspect.isfunction(v) and not n.startswith("_")}
    assert {"NAME", "SUFFIX", "FENCE_TAG", "MODULE_KIND", "TEST_RUNNER", "COLLECTION_STUB"} <= attributes
    assert {"output_path", "import_name", "extract_code", "check_compiles", "extract_interface", "imports",
            "test_command", "differential_command", "test_path", "is_module_part"} <= methods
    for name in attributes:
        assert isinstance(getattr(PY, name), str) and getattr(PY, name), name
    for name in methods:
        implementation = getattr(PY, name)
        assert callable(implementation), name
        wanted = [p for p in inspect.signature(getattr(protocol, name)).parameters if p != "self"]
        assert list(inspect.signature(implementation).parameters) == wanted, name


def test_registry_and_target_load_without_ast_typing_or_dataclasses():
    """The pre-commit hook's path stays light: looking up the target (output paths,
    import names) imports neither ast nor typing nor dataclasses."""
    code = ("import sys; import pdd.targets as t; p = t.get(); p.output_path('a/b', 'generated'); "
            "p.import_name('generated/a/b.py'); p.is_module_part('x'); "
            "print(sorted(m for m in ('ast', 'typing', 'dataclasses', 'pdd.targets.pyast', 'pdd.targets.protocol') "
            "if m in sys.modules))")
    assert fresh_python(code) == "[]"


def test_parsing_a_prompt_does_not_import_the_linter():
    """The import cycle prompt -> lint is gone: the rule ids live in pdd.lint_rules."""
    code = ("import sys; from pdd.prompt import parse_prompt; "
            "parse_prompt('---\\nlint: {disable: [prompt-too-large]}\\n---\\n# x\\n', path='prompts/a.prompt', name='a'); "
            "print('pdd.lint' in sys.modules)")
    assert fresh_python(code) == "False"


def test_an_unknown_lint_rule_is_still_an_error_at_its_line():
    with pytest.raises(InputError) as info:
        parse_prompt("---\ndepends: []\nlint: {disable: [no-such-rule]}\n---\n# x\n", path="prompts/a.prompt", name="a")
    assert info.value.line == 3 and "no-such-rule" in info.value.message and "prompt-too-large" in (info.value.hint or "")


# --- layout: output path and import name ---------------------------------------------

_part = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,11}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))
_names = st.lists(_part, min_size=1, max_size=4).map("/".join)


@settings(max_examples=150, deadline=None)
@given(_names)
def test_output_path_and_import_name_of_any_valid_prompt_path(name):
    output = PY.output_path(name, GENERATED_DIR)
    assert output == f"generated/{name}.py" == default_output(name)
    assert PY.import_name(output) == "generated." + name.replace("/", ".")
    assert PY.import_name(output).replace(".", "/") + PY.SUFFIX == output
    spec = parse_prompt("# x\n", path=f"prompts/{name}.prompt", name=name)
    assert spec.output == output and spec.module == PY.import_name(output)
    assert spec.tests == (PY.test_path("behavior_tests", name.rsplit("/", 1)[-1]),)
    assert spec.tests[0] == f"behavior_tests/test_{name.rsplit('/', 1)[-1]}.py"


@pytest.mark.parametrize("path, name", [
    ("generated/billing/money.py", "generated.billing.money"), ("src/shop/core.py", "shop.core"),
    ("src/shop/__init__.py", "shop"), ("tool.py", "tool"), ("src.py", "src"), ("generated/__init__.py", "generated"),
])
def test_import_name_follows_the_src_layout_and_packages(path, name):
    assert PY.import_name(path) == name


@pytest.mark.parametrize("part", ["class", "1abc", "a-b", "", "é"])
def test_invalid_module_parts_are_refused_at_the_output_line(part):
    assert not PY.is_module_part(part)
    if part:
        with pytest.raises(InputError) as info:
            parse_prompt(f"---\noutput: generated/{part}.py\n---\n# x\n", path="prompts/a.prompt", name="a")
        assert info.value.line == 2 and "is not a valid Python module name" in info.value.message


def test_output_must_have_the_target_suffix_and_not_be_a_package_file():
    with pytest.raises(InputError) as info:
        parse_prompt("---\noutput: generated/a.txt\n---\n", path="prompts/a.prompt", name="a")
    assert info.value.line == 2 and info.value.message.endswith("must end in .py")
    with pytest.raises(InputError) as info:
        parse_prompt("---\noutput: generated/a/__init__.py\n---\n", path="prompts/a.prompt", name="a")
    assert "'__init__' is not a valid Python module name" in info.value.message


# --- code extraction and the compile check -------------------------------------------

_code_line = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="`~"), max_size=40)
_code = st.lists(_code_line, min_size=1, max_size=8).map("\n".join).filter(lambda c: c.strip())
_prose = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="`~"), max_size=60)


@settings(max_examples=150, deadline=None)
@given(code=_code, tag=st.sampled_from(["python", "py", "Python3", "py3", ""]), before=_prose, after=_prose)
def test_extraction_takes_the_fenced_module_out_of_prose(code, tag, before, after):
    answer = f"{before}\n```{tag}\n{code}\n```\n{after}"
    got = PY.extract_code(answer)
    assert got == code.strip("\n").rstrip() + "\n"


@settings(max_examples=100, deadline=None)
@given(prose=_prose)
def test_an_answer_without_a_fence_has_no_code(prose):
    with pytest.raises(NoCodeError) as info:
        PY.extract_code(prose)
    assert "no code block" in str(info.value)


def test_a_python_tagged_block_wins_over_longer_untagged_and_other_blocks():
    answer = ("```text\n" + "long usage example\n" * 20 + "```\n"
              "```python\nx = 1\n```\n```\nuntagged = 'longer than the tagged one'\n```\n")
    assert PY.extract_code(answer) == "x = 1\n"
    assert PY.extract_code("```\na = 1\n```\n```js\nlonger = 'yes, longer'\n```") == "a = 1\n"
    with pytest.raises(NoCodeError, match="empty"):
        PY.extract_code("```python\n\n```")


def test_compile_check_reports_file_and_line():
    assert PY.check_compiles("x = 1\n", "generated/a.py") is None
    assert PY.check_compiles("x = (\n", "generated/a.py").startswith("generated/a.py:1: SyntaxError:")
    nul = PY.check_compiles("x = 1\0\n", "generated/a.py")  # no line to name: never "file:None"
    assert nul.startswith("generated/a.py: ") and "null bytes" in nul


# --- interfaces and imports -------------------------------------------------------------


def test_interface_through_the_target():
    source = '"""Doc."""\nimport os\n__all__ = ["f"]\ndef f(x: int) -> int:\n    """F."""\n    return x + 1\ndef _g(): pass\n'
    text = PY.extract_interface(source, "m.py")
    assert "def f(x: int) -> int:" in text and "_g" not in text and "import os" not in text and "return" not in text
    assert interface.interface_digest(text) == hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(SyntaxError):
        PY.extract_interface("def (:\n")


def test_imports_resolve_relative_imports_and_import_module_calls():
    source = ("import os, generated.a\nfrom . import b\nfrom ..c import d, e\nfrom .x.y import *\n"
              "import importlib\nimportlib.import_module('generated.f')\n__import__('g')\n")
    got = PY.imports(source, "generated.pkg.mod")
    assert got == [(1, "os", []), (1, "generated.a", []), (2, "generated.pkg", ["b"]), (3, "generated.c", ["d", "e"]),
                   (4, "generated.pkg.x.y", []), (5, "importlib", []), (6, "generated.f", []), (7, "g", [])]
    assert PY.imports("from .... import z\n", "generated.a") == []  # beyond the top package: ignored
    with pytest.raises(SyntaxError):
        PY.imports("import (\n", "generated.a")


# --- tests, differential runs, scaffold -------------------------------------------------


def test_test_command_and_differential_command_use_this_interpreter():
    assert PY.TEST_RUNNER == "pytest"
    assert PY.test_command() == [sys.executable, "-m", "pytest"]
    assert PY.test_command() is not PY.test_command()  # a fresh list: callers extend it
    assert PY.differential_command("/tmp/cfg.json") == [sys.executable, "-m", "pdd.differential_runner", "/tmp/cfg.json"]


def test_collection_stub_compiles_and_scaffold_words_are_the_targets():
    from pdd import newprompt

    assert PY.check_compiles(PY.COLLECTION_STUB, "pdd_lint_stub.py") is None
    assert (newprompt.PACKAGE_TEMPLATES / PY.TEST_TEMPLATE).is_file()
    assert PY.STYLE_FRAGMENT == "_shared/python_style.md"
    assert PY.STYLE_TEXT.startswith("## Python style\n")


# --- the generation request is byte-identical ------------------------------------------

#: SHA-256 of the rendered messages below, computed on main before the words moved
#: behind the target. A change here changes every recorded request (.pdd/recordings/).
#: Changed once since, on purpose: the retry after a repeated answer no longer sends
#: the failing code back (issue 18; only such retries' requests changed).
GENERATION_DIGEST = "1f81ccd835980ec5cb9c5ef49ae0525f2bdc29d8f3ebd16f5dcc8b3cba0992ef"
#: the same for the other model requests whose words name the language (adopt's draft,
#: critique, the reviewer, fix).
OTHER_REQUESTS_DIGEST = "6bfe4dd99d635fe9af0337a70bed2b4973c3820d8b642eb923a1dbe946f40868"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()


def test_generation_messages_render_exactly_as_before():
    from pdd.generation import SYSTEM_PROMPT, DependencyContext, bounded_retry_messages, initial_messages

    first = initial_messages("generated.a.b", "generated/a/b.py", "# Spec\nbody\n",
                             [DependencyContext("generated.c", "def f(): ...\n")])
    retry = bounded_retry_messages(first, "x = 1\n", "FAILED t::x", repeated=True)
    plain = bounded_retry_messages(first, "x = 1\n", "FAILED t::x")
    assert "one complete Python module" in SYSTEM_PROMPT and "tagged `python`" in SYSTEM_PROMPT
    assert _digest([SYSTEM_PROMPT, first, retry, plain]) == GENERATION_DIGEST


def test_other_model_requests_render_exactly_as_before():
    from pdd.adopt import SYSTEM_PROMPT as adopt_system
    from pdd.adopt import draft_messages
    from pdd.critique import SYSTEM_PROMPT as critique_system
    from pdd.critique import critique_messages
    from pdd.fix import SYSTEM_PROMPT as fix_system
    from pdd.fix import fix_messages
    from pdd.generation import DependencyContext
    from pdd.policy import REVIEW_SYSTEM, review_messages

    spec = parse_prompt("---\ndepends: []\n---\n# x\n", path="prompts/a/b.prompt", name="a/b")
    rendered = [
        adopt_system, critique_system, REVIEW_SYSTEM, fix_system,
        draft_messages("a/b.py", "a/b", "x=1\n", {"tests/test_b.py": "def test(): pass\n"}, ["c"],
                       [DependencyContext("generated.c", "def f(): ...\n")]),
        critique_messages("generated.a.b", "prompts/a/b.prompt", "# x\n",
                          [("generated.c", "def f(): ...\n"), ("generated.d", "")]),
        review_messages("generated.a.b", "# x\n", "x = 1\n", [("A1", "t")]), review_messages("m", "p", "c", []),
        fix_messages(spec, "---\n---\n# x\n", "x = 1\n", "Failing", "E assert"),
    ]
    assert _digest(rendered) == OTHER_REQUESTS_DIGEST


def test_a_module_part_with_a_trailing_newline_is_refused():
    """``$`` matches before a final newline; a part is matched whole (review finding)."""
    assert PY.is_module_part("calc") and not PY.is_module_part("calc\n") and not PY.is_module_part("calc\nx")
