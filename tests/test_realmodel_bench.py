"""The real-model bench (bench/realmodel/bench.py) and its corpus, against the fake server.

The fake server answers each corpus module with its reference solution
(``bench/realmodel/corpus/reference/``), so this checks, through the real CLI, that
the corpus specs parse, their behavior tests pass on a correct module (and fail on
a wrong one), and the bench counts and compares what it should. No model is involved.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fakeserver import AnswersResponder, FakeModelServer

from conftest import fence

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "realmodel" / "bench.py"
REFERENCE = ROOT / "bench" / "realmodel" / "corpus" / "reference"


def run_bench(url: str, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--url", url, "--model", "fake-model", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text(encoding="utf-8"))


def test_corpus_has_twelve_six_section_specs_in_three_levels():
    sys.path.insert(0, str(BENCH.parent))
    from bench import LEVELS  # noqa: E402

    prompts = sorted((ROOT / "bench/realmodel/corpus/prompts/corpus").glob("*.prompt"))
    assert {p.stem for p in prompts} == set(LEVELS) and len(prompts) >= 12
    assert set(LEVELS.values()) == {1, 2, 3}
    for p in prompts:
        text = p.read_text(encoding="utf-8")
        for section in ("## Goal", "## Inputs / Outputs", "## Constraints", "## Failure modes", "## Out of scope",
                        "## Acceptance"):
            assert section in text, f"{p.name} lacks {section}"
        assert ("depends: []" in text) == (LEVELS[p.stem] < 3)


def test_bench_with_reference_answers_passes_everything_and_is_reproducible(tmp_path):
    with FakeModelServer(AnswersResponder(REFERENCE)) as srv:
        proc, data = run_bench(srv.openai_base_url, tmp_path, "--items", "money,invoice", "--runs", "2")
        assert srv.request_count == 4  # 2 modules x 2 runs, no cache shared between runs
    total = data["summary"]["total"]
    assert total["pass@1"] == total["pass@3"] == total["modules"] == 2
    assert total["requests"] == 2 and total["identical"] == 2
    assert {r["module"]: r["level"] for r in data["summary"]["rows"]} == {"money": 1, "invoice": 3}
    assert "pass@1 2/2, pass@3 2/2" in proc.stdout


def test_bench_reports_a_wrong_answer_as_failing(tmp_path):
    wrong = fence("def parse_cents(text):\n    return 0\n\ndef format_cents(c):\n    return '0.00'\n")
    with FakeModelServer(lambda req: wrong) as srv:
        proc, data = run_bench(srv.openai_base_url, tmp_path, "--items", "money", "--runs", "1", "--attempts", "2",
                               "--max-tokens", "2048")
        assert {r["body"]["max_tokens"] for r in srv.requests} == {2048}  # a looping model stops sooner
    assert data["max_tokens"] == 2048
    (row,) = data["summary"]["rows"]
    assert row["pass@1"] is False and row["pass@2"] is False and row["status"] == "failed"
    assert row["requests"] == 2 and row["test_runs"] == 1 and row["repeated"] == 1  # the same wrong answer twice
