"""Unit tests for pdd.extract (code out of a model answer) and check_compiles."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdd.extract import NoCodeError, fenced_blocks
from pdd.targets.python import check_compiles, extract_code

FENCE = "`" * 3


def test_prose_around_a_block():
    answer = f"Sure! Here is the module:\n\n{FENCE}python\ndef f():\n    return 1\n{FENCE}\n\nIt returns 1.\n"
    assert extract_code(answer) == "def f():\n    return 1\n"


def test_python_tagged_block_preferred_over_longer_untagged():
    long_untagged = "\n".join(f"line{i} = {i}" for i in range(30))
    answer = f"{FENCE}\n{long_untagged}\n{FENCE}\n\n{FENCE}python\nx = 1\n{FENCE}\n"
    assert extract_code(answer) == "x = 1\n"


@pytest.mark.parametrize("tag", ["python", "py", "Python3", "PY3", "python title='m.py'"])
def test_python_tag_variants(tag):
    answer = f"{FENCE}bash\npip install a-very-long-package-name-here\n{FENCE}\n{FENCE}{tag}\nx = 2\n{FENCE}\n"
    assert extract_code(answer) == "x = 2\n"


def test_longest_python_block_chosen():
    answer = (
        f"Usage:\n{FENCE}python\nf()\n{FENCE}\n"
        f"Module:\n{FENCE}python\ndef f():\n    return 42\n{FENCE}\n"
        f"Another usage:\n{FENCE}py\nprint(f())\n{FENCE}\n"
    )
    assert extract_code(answer) == "def f():\n    return 42\n"


def test_untagged_preferred_over_other_languages():
    answer = f"{FENCE}json\n{{\"a\": [1, 2, 3, 4, 5, 6, 7, 8, 9]}}\n{FENCE}\n{FENCE}\nx = 1\n{FENCE}\n"
    assert extract_code(answer) == "x = 1\n"


def test_any_block_when_no_python_or_untagged():
    answer = f"{FENCE}text\nshort\n{FENCE}\n{FENCE}js\nlonger block here\n{FENCE}\n"
    assert extract_code(answer) == "longer block here\n"


def test_untagged_block():
    assert extract_code(f"{FENCE}\nimport os\n{FENCE}") == "import os\n"


def test_tildes_fence():
    answer = "Here:\n~~~python\nx = '```'\n~~~\nbye\n"
    assert extract_code(answer) == "x = '```'\n"


def test_longer_fence_contains_shorter_fence_lines():
    answer = "````python\ns = '''\n```\n'''\n````\n"
    assert extract_code(answer) == "s = '''\n```\n'''\n"


def test_closing_fence_longer_than_opening_closes():
    answer = f"{FENCE}python\nx = 1\n`````\nprose\n"
    assert extract_code(answer) == "x = 1\n"


def test_backtick_fence_not_closed_by_tildes():
    answer = f"{FENCE}python\nx = 1\n~~~\ny = 2\n{FENCE}\n"
    assert extract_code(answer) == "x = 1\n~~~\ny = 2\n"


def test_indented_opening_fence_up_to_three_spaces():
    assert extract_code(f"   {FENCE}python\nx = 1\n   {FENCE}\n") == "x = 1\n"
    # four spaces is an indented code block in CommonMark, not a fence
    blocks = fenced_blocks(f"    {FENCE}python\nx = 1\n")
    assert blocks == []


def test_unclosed_fence_runs_to_end():
    answer = f"Here it is:\n{FENCE}python\ndef f():\n    return 1\n\n"
    assert extract_code(answer) == "def f():\n    return 1\n"


def test_no_fence_is_no_code_block_quoting_the_answer():
    """The model is asked for a fenced block; prose (or bare text) is not a module."""
    with pytest.raises(NoCodeError, match=r"no code block; it began: 'I cannot do that.' / 'Sorry.'"):
        extract_code("\n\nI cannot do that.\n\nSorry.\n")


def test_indentation_of_first_line_kept():
    assert extract_code(f"{FENCE}\n    indented = 1\n{FENCE}") == "    indented = 1\n"


def test_crlf_answer():
    assert extract_code(f"Text\r\n{FENCE}python\r\nx = 1\r\ny = 2\r\n{FENCE}\r\n") == "x = 1\ny = 2\n"


@pytest.mark.parametrize("answer", ["", "\n\n", "   \n\t\n", f"{FENCE}python\n{FENCE}\n", f"{FENCE}\n\n  \n{FENCE}", f"{FENCE}"])
def test_empty_is_no_code(answer):
    with pytest.raises(NoCodeError):
        extract_code(answer)


def test_empty_python_block_falls_back_to_nothing_not_prose():
    # the only block is empty: no code, even though there is prose
    with pytest.raises(NoCodeError):
        extract_code(f"I could not do it.\n{FENCE}python\n{FENCE}\n")


def test_fenced_blocks_lang_and_order():
    blocks = fenced_blocks(f"{FENCE}Python extra\na\n{FENCE}\n~~~~\nb\n~~~~\n")
    assert [(b.lang, b.text) for b in blocks] == [("python", "a"), ("", "b")]


def test_check_compiles_ok():
    assert check_compiles("def f():\n    return 1\n", "generated/m.py") is None


def test_check_compiles_syntax_error_line():
    msg = check_compiles("x = 1\ny = (\n", "generated/m.py")
    assert msg is not None
    assert msg.startswith("generated/m.py:")
    assert "SyntaxError" in msg
    assert "\n" not in msg
    msg = check_compiles("a = 1\nb = 2\ndef f(:\n    pass\n", "m.py")
    assert msg.startswith("m.py:3: SyntaxError")


def test_check_compiles_nul_byte():
    msg = check_compiles("x = 1\x00\n", "m.py")
    assert msg is not None and msg.startswith("m.py")


def test_check_compiles_python2_print():
    msg = check_compiles("x = 1\nprint 'x'\n", "m.py")
    assert msg is not None and msg.startswith("m.py:2: SyntaxError")


@pytest.mark.parametrize("sep", ["\u2028", "\x0c", "\x1e", "\x85"])
def test_unicode_line_separators_inside_fenced_code_are_kept(sep):
    code = f"SEP = '{sep}'\n"
    assert check_compiles(code, "m.py") is None
    out = extract_code(f"{FENCE}python\n{code}{FENCE}\n")
    assert out == code


# --- property ------------------------------------------------------------------

_OPEN_LIKE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Characters that are not line breaks for str.splitlines (the module splits with it)
_line_chars = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
)
_line = st.text(alphabet=st.one_of(_line_chars, st.sampled_from("`~ \t#")), max_size=30)


def _not_fence_line(line: str) -> bool:
    stripped = line.strip()
    closing_like = len(stripped) >= 3 and set(stripped) in ({"`"}, {"~"})
    return not closing_like and not _OPEN_LIKE.match(line)


_code_lines = st.lists(_line.filter(_not_fence_line), max_size=12)
_prose_lines = st.lists(_line.filter(_not_fence_line), max_size=6)


@settings(max_examples=120, deadline=None)
@given(_prose_lines, st.sampled_from(["python", "py", "", "python3"]), _code_lines, _prose_lines,
       st.sampled_from(["```", "~~~", "````"]), st.booleans())
def test_fenced_code_round_trips(before, tag, code_lines, after, fence, closed):
    code = "\n".join(code_lines)
    expected = code.strip("\n").rstrip()
    parts = [*before, fence + tag, *code_lines]
    if closed:
        parts += [fence, *after]
    answer = "\n".join(parts) + "\n"
    if not expected.strip():
        with pytest.raises(NoCodeError):
            extract_code(answer)
        return
    assert extract_code(answer) == expected + "\n"


@settings(max_examples=60, deadline=None)
@given(_code_lines)
def test_result_always_ends_with_exactly_one_newline(code_lines):
    answer = "\n".join(code_lines)
    try:
        out = extract_code(f"```python\n{answer}\n```")
    except NoCodeError:
        assert not answer.strip()
    else:
        assert out.endswith("\n") and not out.endswith("\n\n")
        assert out.strip()
