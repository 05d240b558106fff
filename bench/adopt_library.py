#!/usr/bin/env python
"""The hidden-style check of ``pdd adopt``: adopt a real library module with its own tests.

The library is ``roman`` 5.2 from the package index (a single module, MIT-style
ZPL licence, not used anywhere else in pdd's tests). Its sdist is not in this
repository and this script never downloads it: fetch it into a temporary folder
first, then point the script at the extracted folder::

    pip download --no-deps --no-binary :all: roman==5.2 -d /tmp/roman && tar xzf /tmp/roman/roman-5.2.tar.gz -C /tmp/roman
    python bench/adopt_library.py /tmp/roman/roman-5.2
    python bench/adopt_library.py /tmp/roman/roman-5.2 --mutant   # must NOT be adopted

It makes a temporary git repository holding ``roman.py`` (the sdist's
``src/roman/__init__.py``) and ``tests.py`` (the sdist's own tests, unchanged),
runs ``pdd init`` and ``pdd adopt roman.py --tests tests.py --yes`` through the
real CLI against the fake model server on 127.0.0.1 (``tests/fakeserver.py``),
scripted with answers written by the pdd team: :data:`PROMPT` (a prompt describing
roman's behavior) for the drafting request and :data:`REWRITE` (roman rewritten:
``divmod`` instead of repeated subtraction, a table-driven parser) for the
regeneration request. This exercises the pipeline (side-effect probe, drafting,
regeneration from the prompt alone, the library's tests in the sandbox through the
shim, the differential engine, the ordered writes, the note), not a model.

It prints the figures: tests passed (pytest's summary of the final ``pdd check
--tests``), examples agreed (from the note), seconds of the adoption, and exits 1
if the module was not adopted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from fakeserver import FakeModelServer, request_text  # noqa: E402

PROMPT = '''\
````prompt
---
depends: []
tests: ["tests.py"]
---
# Goal
Convert integers to and from Roman numerals, with a command-line entry point.

## Inputs / Outputs
- Exceptions: `RomanError(Exception)`, and its subclasses `OutOfRangeError`, `NotIntegerError`,
  `InvalidRomanNumeralError`.
- `romanNumeralMap`: a tuple of `(numeral, value)` pairs from `('M', 1000)` down to `('I', 1)`, including the
  subtractive pairs `CM, CD, XC, XL, IX, IV`, largest value first.
- `romanNumeralPattern`: a compiled verbose regular expression accepting exactly the valid numerals up to
  `MMMMCMXCIX` (at most four `M`; hundreds, tens and ones each as `CM|CD|D?C{0,3}`-style groups).
- `toRoman(n: int) -> str`: `0` gives `"N"`; otherwise the standard numeral, greedy over `romanNumeralMap`.
- `fromRoman(s: str, special_case: bool = True) -> int`: upper-cases `s` first; `"N"` gives 0 when
  `special_case`; otherwise the value of a numeral the pattern accepts.
- `parse_args() -> argparse.Namespace` (prog `roman`): a positional `number` (a string) and `-r/--reverse`
  (default False), parsed from `sys.argv`.
- `main() -> int`: converts `number` (to a numeral, or with `--reverse` from one), prints the result, returns 0.

## Constraints
Standard library only. Module constants `__author__` and `__copyright__` name Mark Pilgrim.

## Failure modes
- `toRoman` of a non-`int`: `NotIntegerError("decimals cannot be converted")`.
- `toRoman` outside 0..4999: `OutOfRangeError("number out of range (must be 0..4999)")`.
- `fromRoman("")`: `InvalidRomanNumeralError("Input cannot be blank")`; a string the pattern rejects:
  `InvalidRomanNumeralError("Invalid Roman numeral: " + s)` with `s` upper-cased.

## Out of scope
Numerals above 4999, Unicode numeral characters.

## Acceptance
- [A1] `toRoman(1994) == "MCMXCIV"` and `toRoman(0) == "N"`.
- [A2] `fromRoman("mcmxciv") == 1994`; `fromRoman("n", special_case=False)` raises `InvalidRomanNumeralError`.
- [A3] `main()` prints the conversion and returns 0.
````
'''

REWRITE = '''\
"""Convert to and from Roman numerals."""

__author__ = "Mark Pilgrim (f8dy@diveintopython.org)"
__copyright__ = """Copyright (c) 2001 Mark Pilgrim

This program is part of "Dive Into Python", a free Python tutorial for
experienced programmers.  Visit http://diveintopython.org/ for the
latest version.
"""

import argparse
import re
import sys


class RomanError(Exception):
    pass


class OutOfRangeError(RomanError):
    pass


class NotIntegerError(RomanError):
    pass


class InvalidRomanNumeralError(RomanError):
    pass


romanNumeralMap = tuple(zip(
    ("M", "CM", "D", "CD", "C", "XC", "L", "XL", "X", "IX", "V", "IV", "I"),
    (1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1),
))


def toRoman(n: int) -> str:
    """convert integer to Roman numeral"""
    if not isinstance(n, int):
        raise NotIntegerError("decimals cannot be converted")
    if n < 0 or n > 4999:
        raise OutOfRangeError("number out of range (must be 0..4999)")
    if n == 0:
        return "N"
    parts = []
    for numeral, value in romanNumeralMap:
        count, n = divmod(n, value)
        parts.append(numeral * count)
    return "".join(parts)


romanNumeralPattern = re.compile("""
    ^                   # beginning of string
    M{0,4}              # thousands - 0 to 4 M's
    (CM|CD|D?C{0,3})    # hundreds - 900 (CM), 400 (CD), 0-300 (0 to 3 C's),
                        #            or 500-800 (D, followed by 0 to 3 C's)
    (XC|XL|L?X{0,3})    # tens - 90 (XC), 40 (XL), 0-30 (0 to 3 X's),
                        #        or 50-80 (L, followed by 0 to 3 X's)
    (IX|IV|V?I{0,3})    # ones - 9 (IX), 4 (IV), 0-3 (0 to 3 I's),
                        #        or 5-8 (V, followed by 0 to 3 I's)
    $                   # end of string
    """, re.VERBOSE)


def fromRoman(s: str, special_case: bool = True) -> int:
    """Convert Roman numeral to integer."""
    if not s:
        raise InvalidRomanNumeralError("Input cannot be blank")
    s = s.upper()
    if special_case and s == "N":
        return 0
    if romanNumeralPattern.search(s) is None:
        raise InvalidRomanNumeralError("Invalid Roman numeral: %s" % s)
    total, pos = 0, 0
    for numeral, value in romanNumeralMap:
        width = len(numeral)
        while s.startswith(numeral, pos):
            total += value
            pos += width
    return total


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="roman", description="convert between roman and arabic numerals")
    parser.add_argument("number", help="the value to convert")
    parser.add_argument("-r", "--reverse", action="store_true", default=False,
                        help="convert roman to numeral (case insensitive) [default: False]")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    print(fromRoman(args.number) if args.reverse else toRoman(int(args.number)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
'''


#: ``--mutant``: the rewrite with one boundary off by one (4999 is refused), which the
#: library's tests do not catch; the differential engine must, so nothing is adopted.
MUTANT = REWRITE.replace("n < 0 or n > 4999", "n < 0 or n >= 4999")
assert MUTANT != REWRITE


def make_responder(code: str):
    def responder(request):
        text = request_text(request)
        if "Adopting the hand-written module:" in text:
            return PROMPT
        return f"```python\n{code}```\n"

    return responder


def run(repo: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pdd", *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=900)


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--mutant"]
    mutant = "--mutant" in sys.argv[1:]
    if len(args) != 1 or not (Path(args[0]) / "src/roman/__init__.py").is_file():
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    sdist = Path(args[0])
    tmp = Path(tempfile.mkdtemp(prefix="pdd-adopt-library-"))
    repo = tmp / "repo"
    try:
        repo.mkdir()
        shutil.copy(sdist / "src/roman/__init__.py", repo / "roman.py")
        shutil.copy(sdist / "src/tests.py", repo / "tests.py")
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        with FakeModelServer(make_responder(MUTANT if mutant else REWRITE)) as server:
            env = {k: v for k, v in os.environ.items() if not k.startswith("PDD_") and not k.endswith("_API_KEY")}
            env.update({"PDD_BACKEND": "openai", "PDD_MODEL": "hand-written-reference", "OPENAI_API_KEY": "unused",
                        "OPENAI_BASE_URL": server.openai_base_url, "GIT_CONFIG_GLOBAL": os.devnull,
                        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.invalid",
                        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "b@example.invalid"})
            assert run(repo, "init", env=env).returncode == 0
            subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
            subprocess.run([*git, "commit", "-qm", "roman 5.2"], cwd=repo, check=True)
            t0 = time.monotonic()
            attempts = ["--attempts", "1"] if mutant else []
            proc = run(repo, "adopt", "roman.py", "--tests", "tests.py", "--yes", "--json", *attempts, env=env)
            seconds = time.monotonic() - t0
            sys.stderr.write(proc.stderr)
            if proc.returncode != 0:
                for attempt in (json.loads(proc.stdout)[0]["attempts"] if proc.stdout.strip() else []):
                    for d in attempt["disagreements"]:
                        print(f"disagreement: {d}")
                print(f"NOT ADOPTED (exit {proc.returncode}, {seconds:.1f} s)")
                return 0 if mutant and proc.returncode == 1 else 1
            if mutant:
                print("the mutant was ADOPTED: the differential engine missed the off-by-one")
                return 1
            (report,) = json.loads(proc.stdout)
            check = run(repo, "check", "--tests", env=env)
            direct = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests.py"],
                                    cwd=repo, capture_output=True, text=True)
            note = subprocess.run(["git", "notes", "--ref", "pdd", "show",
                                   subprocess.run(["git", "hash-object", "generated/roman.py"], cwd=repo,
                                                  capture_output=True, text=True).stdout.strip()],
                                  cwd=repo, capture_output=True, text=True).stdout
            adopted = json.loads(note.splitlines()[0])["adopted"]
            summary = re.findall(r"\d+ passed[^\n]*", direct.stdout)
            print(f"roman 5.2 adopted: exit {proc.returncode}, {report['seconds']:.1f} s inside pdd adopt "
                  f"({seconds:.1f} s wall), attempts {len(report['attempts'])}")
            print(f"examples agreed (note): {adopted['examples_agreed']}; original blob {adopted['original_blob']}")
            print(f"the library's own tests through the shim: {summary[-1] if summary else direct.stdout[-200:]}")
            print(f"pdd check --tests: exit {check.returncode}")
            return 0 if check.returncode == 0 and direct.returncode == 0 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
