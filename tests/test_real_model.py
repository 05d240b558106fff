"""Opt-in: pdd's pipeline against a real model server (llama.cpp, Ollama, vLLM...).

Skipped unless ``PDD_REAL_MODEL_URL`` (an OpenAI-compatible base URL, e.g.
``http://127.0.0.1:8080/v1``) and ``PDD_REAL_MODEL_NAME`` are set; see
docs/local-models.md (``python bench/realmodel/server.py start --model 0.5b``
prints both). It runs ``pdd build``, ``pdd critique`` and ``pdd probe`` on one
corpus item (``corpus/slugify``) through the real CLI and asserts on the pipeline
-- an answer was received and extracted, the tests ran, a note was written or the
failure was reported, every request counted -- not on the model's cleverness.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import init_git_repo, note_records, run_pdd_cli

URL = os.environ.get("PDD_REAL_MODEL_URL")
MODEL = os.environ.get("PDD_REAL_MODEL_NAME")
pytestmark = pytest.mark.skipif(
    not (URL and MODEL),
    reason="set PDD_REAL_MODEL_URL and PDD_REAL_MODEL_NAME to run against a real model (docs/local-models.md)")

CORPUS = Path(__file__).resolve().parent.parent / "bench" / "realmodel" / "corpus"
ITEM = "corpus/slugify"
TIMEOUT = 1800  # seconds per command: a small model on a loaded CPU is slow


def env() -> dict:
    return {"PDD_BACKEND": "openai", "PDD_MODEL": MODEL, "OPENAI_BASE_URL": URL, "OPENAI_API_KEY": None}


@pytest.fixture
def repo(tmp_path):
    repo = init_git_repo(tmp_path / "repo")
    assert run_pdd_cli(repo, "init", env=env()).returncode == 0
    for rel in ("prompts/corpus/slugify.prompt", "behavior_tests/corpus/test_slugify.py"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / rel, repo / rel)
    return repo


def test_build_critique_and_probe_run_the_pipeline_on_a_real_model(repo):
    proc = run_pdd_cli(repo, "build", "--attempts", "3", "--json", env=env(), timeout=TIMEOUT)
    assert proc.returncode in (0, 1), proc.stderr  # built, or failed its tests: never a crash or a backend error
    entry = json.loads(proc.stdout)["modules"][ITEM]
    assert entry["requests"] >= 1 and entry["tokens_out"], entry  # an answer arrived (streamed)
    assert all(e["outcome"] == "ok" for e in entry["request_log"]), entry["request_log"]
    assert entry["test_runs"] + entry["repeated_answers"] <= entry["attempts"]
    if entry["status"] == "built":
        assert entry["tests"] == "passed"
        (record,) = note_records(repo, "generated/corpus/slugify.py")
        assert record["model"] == MODEL and record["fingerprint"] == entry["fingerprint"]
        assert run_pdd_cli(repo, "check", env=env()).returncode == 0
    else:
        assert entry["status"] == "failed" and entry["test_runs"] >= 1 and "gave up after 3 attempt(s)" in entry["error"]
        assert not (repo / "generated/corpus/slugify.py").exists()

    crit = run_pdd_cli(repo, "critique", ITEM, "--json", env=env(), timeout=TIMEOUT)
    assert crit.returncode == 0, crit.stderr
    answer = json.loads(crit.stdout)
    assert answer["module"] == ITEM and isinstance(answer["questions"], list)

    probe = run_pdd_cli(repo, "probe", ITEM, "--n", "2", "--max-examples", "20", "--json", env=env(), timeout=TIMEOUT)
    assert probe.returncode in (0, 1), probe.stderr
    report = json.loads(probe.stdout)
    assert len(report["candidates"]) == 2
    assert all(c["status"] in ("passed", "failed", "no-code", "syntax-error", "timeout", "untested")
               for c in report["candidates"])
    assert any(c["tokens_out"] for c in report["candidates"])
