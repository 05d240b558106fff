#!/usr/bin/env python
"""Benchmark the differential engine behind ``pdd diff`` (and ``pdd probe``).

A case set of module pairs (base, head), each with the behavior test and the
prompt sentence a real module would have:

* PLANTED pairs: head differs from base in one behavior a prompt could leave
  open (digits-only input, separator, surrounding whitespace, case, empty input,
  boundary number, doubled separator, argument mutation, exception type, byte
  boundary, input longer than 30 characters, a method's boundary);
* EQUIVALENT pairs: a rewrite of base with different code and the same behavior.

Each pair is compared by :func:`pdd.differential.compare` (the real subprocess,
fixed seed, ``--max-examples`` per target). Printed: detection rate (planted pairs
with a confirmed difference), false alarms (equivalent pairs with any reported
difference), and seconds per pair. Targets: every planted difference found, zero
false alarms, under 10 s per pair on 2 cores. Exit 1 if a target is missed.

    python bench/bench_diff.py
    python bench/bench_diff.py --max-examples 200 --seed 7 -v
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pdd.differential import EngineOptions, Implementation, compare, difference_text  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    base: str
    head: str
    tests: str = ""
    prompt: str = ""


PHONE = '''
import re


def normalize(phone: str) -> str:
    """A US phone number as 555-123-4567."""
    digits = re.sub(r"[^0-9]", "", phone)
    if len(digits) != 10:
        raise ValueError("need ten digits")
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
'''
PHONE_TESTS = 'def test_dashes():\n    assert normalize("(555) 123-4567") == "555-123-4567"\n'

PARSE = '''
from decimal import Decimal, InvalidOperation


def parse(text: str) -> Decimal:
    """An amount written with a decimal comma."""
    cleaned = text.strip().replace(",", ".", 1)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value
'''

SLUG = '''
def slug(title: str) -> str:
    """Lower-case words joined by dashes."""
    return "-".join(title.strip().lower().split(" "))
'''

YES = '''
def is_yes(answer: str) -> bool:
    """Whether the answer means yes."""
    return answer.lower() in ("yes", "y")
'''

INITIALS = '''
def initials(name: str) -> str:
    """Initials of the words of a name, upper case."""
    return "".join(w[0].upper() for w in name.split())
'''

GRADE = '''
def grade(score: int) -> str:
    """A for 90 and above, B for 80 and above, else C."""
    if score >= 90:
        return "A"
    if score >= 80:
        return "B"
    return "C"
'''

TAGS = '''
def split_tags(text: str) -> list[str]:
    """Comma-separated tags, empty ones dropped."""
    return [t for t in text.split(",") if t]
'''

DEDUPE = '''
def dedupe(items: list[int]) -> list[int]:
    """The items without repeats, first occurrence kept."""
    seen = set()
    out = []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out
'''

PORT = '''
def parse_port(text: str) -> int:
    """A TCP port number."""
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"not a number: {text!r}")
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError(f"out of range: {port}")
    return port
'''

CLAMP = '''
def clamp_byte(n: int) -> int:
    """``n`` limited to 0..255."""
    return min(max(n, 0), 255)
'''

TRUNCATE = '''
def truncate(text: str) -> str:
    """At most 40 characters; a longer text ends with an ellipsis."""
    if len(text) <= 40:
        return text
    return text[:39] + "…"
'''
TRUNCATE_TESTS = ('def test_long():\n    assert truncate("a sentence that is longer than forty characters, surely")'
                  '.endswith("…")\n')

ACCOUNT = '''
class Account:
    """A balance that cannot go below zero."""

    def __init__(self, balance: int) -> None:
        self.balance = max(balance, 0)

    def withdraw(self, amount: int) -> int:
        """Take ``amount`` out if the balance covers it; the new balance."""
        if 0 < amount <= self.balance:
            self.balance -= amount
        return self.balance
'''

PLANTED = [
    Case("phone: a digits-only number kept as is", PHONE, PHONE.replace(
        '    digits = re.sub', '    if phone.isdigit() and len(phone) == 10:\n        return phone\n    digits = re.sub'),
        PHONE_TESTS, "Format phone numbers such as `(555) 123-4567`."),
    Case("parse: the decimal separator", PARSE, PARSE.replace('.replace(",", ".", 1)', ""), "",
         'Parse amounts such as `parse("1,5")`.'),
    Case("slug: surrounding whitespace", SLUG, SLUG.replace("title.strip().lower()", "title.lower()"),
         'def test_slug():\n    assert slug("Hello World") == "hello-world"\n'),
    Case("is_yes: case", YES, YES.replace("answer.lower() in", "answer in"),
         'def test_yes():\n    assert is_yes("yes")\n'),
    Case("initials: empty name", INITIALS, INITIALS.replace(
        '    return "".join', '    if not name.strip():\n        raise ValueError("empty name")\n    return "".join'),
        'def test_initials():\n    assert initials("ada lovelace") == "AL"\n'),
    Case("grade: the boundary score", GRADE, GRADE.replace("score >= 90", "score > 90"),
         'def test_a():\n    assert grade(95) == "A"\n'),
    Case("split_tags: a doubled separator", TAGS, TAGS.replace(" if t]", "]"),
         'def test_tags():\n    assert split_tags("a,b") == ["a", "b"]\n'),
    Case("dedupe: mutates its argument", DEDUPE, DEDUPE.replace(
        "    return out\n", "    items[:] = out\n    return items\n"),
        "def test_dedupe():\n    assert dedupe([1, 1, 2]) == [1, 2]\n"),
    Case("parse_port: the exception type", PORT, PORT.replace(
        'raise ValueError(f"out of range', 'raise OverflowError(f"out of range'),
        'def test_port():\n    assert parse_port("8080") == 8080\n'),
    Case("clamp_byte: wraps instead of clamping", CLAMP, CLAMP.replace("min(max(n, 0), 255)", "n & 0xFF"),
         "def test_clamp():\n    assert clamp_byte(300) == 255 or True\n", "Limit a value to a byte, 0 to 255."),
    Case("truncate: no ellipsis on a long text", TRUNCATE, TRUNCATE.replace('text[:39] + "…"', "text[:40]"),
         TRUNCATE_TESTS),
    Case("Account.withdraw: the whole balance", ACCOUNT, ACCOUNT.replace("0 < amount <= self.balance",
                                                                         "0 < amount < self.balance"),
         "def test_withdraw():\n    assert Account(10).withdraw(3) == 7\n"),
]

EQUIVALENT = [
    Case("phone", PHONE, '''
def normalize(phone: str) -> str:
    digits = "".join(c for c in phone if c in "0123456789")
    if len(digits) == 10:
        return digits[:3] + "-" + digits[3:6] + "-" + digits[6:]
    raise ValueError("ten digits needed")
''', PHONE_TESTS),
    Case("parse", PARSE, '''
from decimal import Decimal, InvalidOperation


def parse(text: str) -> Decimal:
    head, comma, tail = text.strip().partition(",")
    try:
        value = Decimal(head + ("." if comma else "") + tail)
    except InvalidOperation:
        raise ValueError(text)
    if value.is_nan() or value.is_infinite():
        raise ValueError(text)
    return value
''', "", 'Parse amounts such as `parse("1,5")`.'),
    Case("slug", SLUG, '''
def slug(title: str) -> str:
    words = title.strip().lower().split(" ")
    out = words[0]
    for w in words[1:]:
        out += "-" + w
    return out
''', 'def test_slug():\n    assert slug("Hello World") == "hello-world"\n'),
    Case("is_yes", YES, '''
_YES = frozenset({"yes", "y"})


def is_yes(answer: str) -> bool:
    lowered = answer.lower()
    return lowered in _YES
''', 'def test_yes():\n    assert is_yes("yes")\n'),
    Case("initials", INITIALS, '''
def initials(name: str) -> str:
    out = []
    for word in name.split():
        out.append(word[0].upper())
    return "".join(out)
''', 'def test_initials():\n    assert initials("ada lovelace") == "AL"\n'),
    Case("grade", GRADE, '''
import bisect


def grade(score: int) -> str:
    return "CBA"[bisect.bisect_right([80, 90], score)]
''', 'def test_a():\n    assert grade(95) == "A"\n'),
    Case("split_tags", TAGS, '''
def split_tags(text: str) -> list[str]:
    return list(filter(None, text.split(",")))
''', 'def test_tags():\n    assert split_tags("a,b") == ["a", "b"]\n'),
    Case("dedupe", DEDUPE, '''
def dedupe(items: list[int]) -> list[int]:
    return list(dict.fromkeys(items))
''', "def test_dedupe():\n    assert dedupe([1, 1, 2]) == [1, 2]\n"),
    Case("clamp_byte", CLAMP, '''
def clamp_byte(n: int) -> int:
    return sorted((0, n, 255))[1]
''', "def test_clamp():\n    assert clamp_byte(300) == 255\n"),
    Case("truncate", TRUNCATE, '''
def truncate(text: str) -> str:
    return text if len(text) < 41 else f"{text[:39]}…"
''', TRUNCATE_TESTS),
    Case("Account", ACCOUNT, '''
class Account:
    def __init__(self, balance: int) -> None:
        self.balance = balance if balance > 0 else 0

    def withdraw(self, amount: int) -> int:
        if amount > 0 and self.balance - amount >= 0:
            self.balance = self.balance - amount
        return self.balance
''', "def test_withdraw():\n    assert Account(10).withdraw(3) == 7\n"),
]


def run_case(case: Case, options: EngineOptions, deps: Path) -> tuple[list[str], float, str | None]:
    """``(difference texts, seconds, problem)`` of one pair."""
    started = time.monotonic()
    out = compare([Implementation(1, "base", case.base.lstrip()), Implementation(2, "head", case.head.lstrip())],
                  module="generated.bench.mod", deps_root=deps, options=options,
                  tests=[case.tests] if case.tests else [], texts=[case.prompt] if case.prompt else [])
    seconds = time.monotonic() - started
    problem = out.problem or ("; ".join(n.get("reason", "") for n in out.notes) or None)
    return [difference_text(t) for t in out.differences], seconds, problem


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-examples", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-v", "--verbose", action="store_true", help="print every difference found")
    args = ap.parse_args(argv)
    options = EngineOptions(max_examples=args.max_examples, seed=args.seed, common_only=True)
    times: list[float] = []
    found = alarms = 0
    with tempfile.TemporaryDirectory(prefix="pdd-bench-diff-") as tmp:
        deps = Path(tmp)
        print(f"{len(PLANTED)} planted differences, {len(EQUIVALENT)} equivalent rewrites "
              f"(seed {args.seed}, up to {args.max_examples} examples per target)")
        for kind, cases in (("planted", PLANTED), ("equivalent", EQUIVALENT)):
            for case in cases:
                diffs, seconds, problem = run_case(case, options, deps)
                times.append(seconds)
                ok = bool(diffs) if kind == "planted" else not diffs
                found += kind == "planted" and bool(diffs)
                alarms += kind == "equivalent" and bool(diffs)
                print(f"  {'ok  ' if ok and not problem else 'MISS'} {kind:10} {case.name:45} {seconds:5.2f} s"
                      + (f"  problem: {problem}" if problem else ""))
                if args.verbose or not ok:
                    for d in diffs:
                        print(f"         {d}")
    rate = found / len(PLANTED)
    print(f"detection rate: {found}/{len(PLANTED)} ({rate:.0%}); false alarms: {alarms}/{len(EQUIVALENT)}; "
          f"seconds per pair: mean {statistics.mean(times):.2f}, median {statistics.median(times):.2f}, "
          f"max {max(times):.2f}")
    met = found == len(PLANTED) and alarms == 0 and max(times) < 10
    print("targets met (every planted difference, zero false alarms, < 10 s per pair)" if met else "TARGETS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
