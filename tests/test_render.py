"""Unit tests for pdd.render.render_prompt with a temporary prompts folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdd.errors import InputError
from pdd.prompt import parse_prompt
from pdd.render import Rendered, render_prompt

PROMPTS = "prompts"


def make_root(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / PROMPTS / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return tmp_path


def spec_for(text: str, name: str = "billing/invoice"):
    return parse_prompt(text, path=f"{PROMPTS}/{name}.prompt", name=name)


def render(tmp_path: Path, text: str, files: dict[str, str] | None = None, name: str = "billing/invoice") -> Rendered:
    root = make_root(tmp_path, files or {})
    return render_prompt(spec_for(text, name), root, PROMPTS)


def render_error(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> InputError:
    with pytest.raises(InputError) as info:
        render(tmp_path, text, files)
    return info.value


def test_plain_body_and_front_matter_removed(tmp_path):
    r = render(tmp_path, "---\nmodel: m\n---\n# Goal\n\nDo it.\n\n\n")
    assert r.text == "# Goal\n\nDo it.\n"
    assert r.includes == ()


def test_template_variables(tmp_path):
    r = render(tmp_path, "---\noutput: generated/billing/inv.py\n---\n{{ name }}|{{ module }}|{{ output }}\n")
    assert r.text == "billing/invoice|generated.billing.inv|generated/billing/inv.py\n"


def test_template_variables_default_output(tmp_path):
    r = render(tmp_path, "{{ name }} {{ module }} {{ output }}", name="a/b")
    assert r.text == "a/b generated.a.b generated/a/b.py\n"


def test_include_resolved_from_prompts_root(tmp_path):
    files = {"_shared/style.md": "Use type hints.\n"}
    r = render(tmp_path, "# Goal\n{% include '_shared/style.md' %}\nEnd\n", files)
    # keep_trailing_newline: the fragment's own final newline is kept
    assert r.text == "# Goal\nUse type hints.\n\nEnd\n"
    assert r.includes == ("prompts/_shared/style.md",)


def test_nested_includes_resolved_and_listed(tmp_path):
    files = {
        "_shared/a.md": "A-start\n{% include '_shared/deep/b.md' %}\nA-end\n",
        "_shared/deep/b.md": "B for {{ name }}\n{% include '_c.md' %}\n",
        "_c.md": "C\n",
        "_unused.md": "never\n",
    }
    r = render(tmp_path, "top\n{% include '_shared/a.md' %}\nbottom\n", files)
    assert "A-start" in r.text and "B for billing/invoice" in r.text and "C" in r.text and "A-end" in r.text
    assert r.text.index("A-start") < r.text.index("B for") < r.text.index("C\n") < r.text.index("A-end")
    assert "never" not in r.text
    assert r.includes == ("prompts/_c.md", "prompts/_shared/a.md", "prompts/_shared/deep/b.md")


def test_same_include_twice_listed_once(tmp_path):
    files = {"_x.md": "X\n"}
    r = render(tmp_path, "{% include '_x.md' %}\n{% include '_x.md' %}\n", files)
    assert r.text.count("X") == 2
    assert r.includes == ("prompts/_x.md",)


def test_import_macro_listed(tmp_path):
    files = {"_macros.md": "{% macro hi(who) %}Hello {{ who }}{% endmacro %}"}
    r = render(tmp_path, "{% from '_macros.md' import hi %}{{ hi('you') }}\n", files)
    assert r.text == "Hello you\n"
    assert r.includes == ("prompts/_macros.md",)


def test_missing_include_error_at_its_line(tmp_path):
    text = "---\nmodel: m\n---\n# Goal\n\n{% include '_shared/nope.md' %}\n"
    err = render_error(tmp_path, text)
    assert err.path == "prompts/billing/invoice.prompt"
    assert err.line == 6
    assert "_shared/nope.md" in err.message
    assert "not found" in err.message
    assert err.exit_code == 2


def test_missing_nested_include_names_the_fragment_and_its_line(tmp_path):
    files = {"_a.md": "one\ntwo\n{% include '_missing.md' %}\n"}
    err = render_error(tmp_path, "x\n{% include '_a.md' %}\n", files)
    assert err.path == "prompts/_a.md"
    assert err.line == 3
    assert "_missing.md" in err.message


def test_missing_include_is_reported_even_in_untaken_branch(tmp_path):
    # includes are checked statically, before rendering
    err = render_error(tmp_path, "a\n{% if false %}\n{% include '_gone.md' %}\n{% endif %}\n")
    assert err.line == 3


def test_undefined_variable_error_with_line(tmp_path):
    text = "---\ndepends: []\n---\n# Goal\nline five\nHello {{ customer }}\n"
    err = render_error(tmp_path, text)
    assert err.path == "prompts/billing/invoice.prompt"
    assert err.line == 6
    assert "customer" in err.message
    assert "undefined" in err.message
    assert err.hint and "name, module, output" in err.hint


def test_undefined_attribute_is_an_error_not_empty(tmp_path):
    err = render_error(tmp_path, "a\nb\n{{ name.nothing_here }}\n")
    assert err.line == 3


def test_undefined_in_filter_or_loop(tmp_path):
    err = render_error(tmp_path, "a\n{% for x in items %}{{ x }}{% endfor %}\n")
    assert err.line == 2


def test_syntax_error_with_line(tmp_path):
    err = render_error(tmp_path, "---\nmodel: m\n---\nok\n{% if x %}\nno end\n")
    assert err.path == "prompts/billing/invoice.prompt"
    assert "syntax error" in err.message
    assert err.line is not None and err.line >= 5


def test_literal_braces_via_expression(tmp_path):
    r = render(tmp_path, "{{ '{{' }} x }}\n")
    assert r.text == "{{ x }}\n"


def test_rendering_is_fresh_after_fragment_changes(tmp_path):
    files = {"_f.md": "first\n"}
    root = make_root(tmp_path, files)
    spec = spec_for("{% include '_f.md' %}\n")
    assert render_prompt(spec, root, PROMPTS).text == "first\n"
    p = root / PROMPTS / "_f.md"
    p.write_text("second, longer\n")
    import os

    st_ = p.stat()
    os.utime(p, (st_.st_atime + 5, st_.st_mtime + 5))
    assert render_prompt(spec, root, PROMPTS).text == "second, longer\n"


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="{}%#\r", blacklist_categories=("Cs",)), max_size=30),
        max_size=8,
    )
)
def test_text_without_jinja_syntax_renders_verbatim(tmp_path_factory, lines):
    tmp = tmp_path_factory.mktemp("r")
    text = "\n".join(lines)
    r = render_prompt(spec_for(text), tmp, PROMPTS)
    expected = text.strip("\n") + "\n"
    # Jinja normalises newlines ("\r\n", "\r" -> "\n"); the text has none but "\n"
    assert r.text == expected


def test_recursive_include_is_an_input_error(tmp_path):
    files = {"_loop.md": "again\n{% include '_loop.md' %}\n"}
    err = render_error(tmp_path, "x\n{% include '_loop.md' %}\n", files)
    assert err.exit_code == 2
