"""Model policy through the real CLI (issue 16): escalation ladder, reviewer, served model
identity, ``--estimate`` and the build budget, against the fake model server with
several model names answering differently."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Dict

import pytest

from conftest import (FakeModelServer, Reply, commit_all, fence, find_target_module, init_git_repo,
                      module_key, note_records, request_text, run_pdd_cli, write_prompt, write_test)

REPO_ROOT = Path(__file__).resolve().parent.parent
SMALL, LARGE, REVIEWER = "small-model", "large-model", "reviewer-model"
PRICES = {SMALL: (1.0, 2.0), LARGE: (10.0, 20.0), REVIEWER: (5.0, 5.0)}
GOOD_ADD = "def add(a, b):\n    return a + b\n"
BAD_ADD = "def add(a, b):\n    return a - b\n"
GOOD_NEG = "def neg(a):\n    return -a\n"
BAD_NEG = "def neg(a):\n    return a\n"

ADD_PROMPT = """\
# Goal
add(a, b) adds two numbers.

# Acceptance
- [R1] add(2, 3) returns 5.
- [R2] add never raises for two ints.
"""
NEG_PROMPT = """\
# Goal
neg(a) negates a number.

# Acceptance
- neg(2) returns -2.
"""


class Routed:
    """Responder: ``routes[(model, module)]`` is a list of replies (the last repeats) or a
    callable ``f(request) -> str | Reply``; the reviewer is routed by ``(REVIEWER, module)``."""

    def __init__(self) -> None:
        self.routes: Dict[tuple, Any] = {}
        self.served: Dict[tuple, int] = {}

    def __call__(self, request: Dict[str, Any]) -> Any:
        model = request["body"].get("model")
        text = request_text(request)
        target = find_target_module(request)
        if target is None and "Module under review: " in text:
            target = text.split("Module under review: ", 1)[1].split("\n", 1)[0]
        key = (model, module_key(target) if target else None)
        value = self.routes.get(key)
        if value is None:
            return Reply(status=404, text=f"no route for {key}")
        if callable(value):
            return value(request)
        i = self.served.get(key, 0)
        self.served[key] = i + 1
        return value[min(i, len(value) - 1)]


@pytest.fixture
def routed():
    responder = Routed()
    server = FakeModelServer(responder)
    server.start()
    try:
        yield responder, server
    finally:
        server.stop()


def cli(repo: Path, server: FakeModelServer, *args: str, env: Dict[str, Any] | None = None):
    return run_pdd_cli(repo, *args, server=server, env={"PDD_MODEL": None, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                                                        **(env or {})})


MARK = "# -- set by test_policy_e2e --"


def set_config(repo: Path, extra: str) -> None:
    """Replace what an earlier call appended to .pdd/config.yaml (its own `model:` and
    `prices:` lines dropped) by the prices table and ``extra`` YAML."""
    path = repo / ".pdd/config.yaml"
    base = path.read_text().split(MARK)[0]
    lines = [ln for ln in base.splitlines() if not ln.startswith(("model:", "prices:"))]
    table = ["prices:"] + [f"  {m}: {{input: {i}, output: {o}, date: 2026-01-01}}" for m, (i, o) in PRICES.items()]
    path.write_text("\n".join(lines + [MARK] + table + [extra]) + "\n")


def project(tmp_path: Path, server: FakeModelServer, config: str) -> Path:
    repo = init_git_repo(tmp_path / "repo")
    assert cli(repo, server, "init").returncode == 0
    set_config(repo, extra=config)
    write_prompt(repo, "calc/add", ADD_PROMPT)
    write_test(repo, "add", "from generated.calc.add import add\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    write_prompt(repo, "calc/neg", NEG_PROMPT)
    write_test(repo, "neg", "from generated.calc.neg import neg\n\ndef test_neg():\n    assert neg(2) == -2\n")
    commit_all(repo, "project")
    return repo


def gen_requests(server: FakeModelServer, model: str, module: str) -> list:
    return [r for r in server.requests if r["body"].get("model") == model and find_target_module(r)
            and module_key(find_target_module(r)) == module]


def last_run(repo: Path) -> Dict[str, Any]:
    runs = sorted((repo / ".pdd/runs").glob("*-build-*.json"))
    return json.loads(runs[-1].read_text())


def verdicts(**by_id: str) -> str:
    return "```json\n" + json.dumps({"verdicts": [{"id": i, "verdict": v.split(":")[0], "reason": v.split(":", 1)[-1]}
                                                  for i, v in by_id.items()]}) + "\n```\n"


# -- ladder ---------------------------------------------------------------------------------------------------------

def test_ladder_escalates_only_on_failure_and_rung_2_gets_rung_1s_failure(tmp_path, routed):
    responder, server = routed
    repo = project(tmp_path, server, f"model: [{SMALL}, {LARGE}]")
    responder.routes[(SMALL, "calc/add")] = [fence(GOOD_ADD)]
    responder.routes[(SMALL, "calc/neg")] = [fence(BAD_NEG)]
    responder.routes[(LARGE, "calc/neg")] = [fence(GOOD_NEG)]
    proc = cli(repo, server, "build", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # add passed on rung 1: no rung-2 request at all
    assert len(gen_requests(server, SMALL, "calc/add")) == 1 and gen_requests(server, LARGE, "calc/add") == []
    # neg failed both rung-1 attempts (build.attempts: 2 per rung), then passed on rung 2
    assert len(gen_requests(server, SMALL, "calc/neg")) == 2
    rung2 = gen_requests(server, LARGE, "calc/neg")
    assert len(rung2) == 1
    rung2_text = request_text(rung2[0])
    assert "return a\n" in rung2_text and "failed its behavior tests" in rung2_text and "assert" in rung2_text
    neg_note = note_records(repo, "generated/calc/neg.py")[-1]
    assert (neg_note["model"], neg_note["rung"], neg_note["ladder"]) == (LARGE, 2, [SMALL, LARGE])
    assert note_records(repo, "generated/calc/add.py")[-1]["rung"] == 1
    record = last_run(repo)["modules"]
    assert record["calc/neg"]["rung"] == 2 and record["calc/neg"]["attempts"] == 3
    assert [(r["rung"], r["model"], r["requests"]) for r in record["calc/neg"]["by_rung"]] == [(1, SMALL, 2), (2, LARGE, 1)]
    # the fingerprint holds the ladder, not the rung: both fresh, nothing rebuilt
    commit_all(repo, "built")
    before = len(server.requests)
    status = cli(repo, server, "status", "--json")
    assert {m["path"]: m["state"] for m in json.loads(status.stdout)["modules"]} == {
        "generated/calc/add.py": "fresh", "generated/calc/neg.py": "fresh"}
    assert cli(repo, server, "check").returncode == 0
    assert cli(repo, server, "build").returncode == 0 and len(server.requests) == before
    # cost by model shows the saving against everything on the last rung, labelled an estimate
    cost = cli(repo, server, "cost", "--by", "model", "--json")
    saving = json.loads(cost.stdout)["ladder_saving"]
    small_tokens = sum(r["tokens_in"] + 2 * r["tokens_out"] for m in record.values() for r in m["by_rung"]
                       if r["model"] == SMALL)  # the last rung's prices are 10x: the difference is 9x these
    assert saving["estimate"] is True and saving["saving_usd"] > 0
    assert saving["all_last_rung_usd"] - saving["actual_usd"] == pytest.approx(small_tokens * 9 / 1e6, rel=1e-6)
    text = cli(repo, server, "cost").stdout
    assert "ladder (estimate)" in text and "saving" in text
    by_rung = {r["key"]: r for r in json.loads(cli(repo, server, "cost", "--by", "rung", "--json").stdout)["rows"]}
    assert by_rung["rung 1"]["requests"] == 3 and by_rung["rung 2"]["requests"] == 1


def test_ladder_in_front_matter_and_a_malformed_ladder_is_exit_2(tmp_path, routed):
    responder, server = routed
    repo = project(tmp_path, server, f"model: {SMALL}")
    responder.routes[(SMALL, "calc/neg")] = [fence(GOOD_NEG)]
    write_prompt(repo, "calc/add", ADD_PROMPT, front=f"model: [{SMALL}, {SMALL}]")
    proc = cli(repo, server, "build")  # the broken prompt is exit 2; the other module is still built
    assert proc.returncode == 2 and "prompts/calc/add.prompt:2" in proc.stderr and "twice" in proc.stderr
    assert "Traceback" not in proc.stderr and gen_requests(server, SMALL, "calc/add") == []
    write_prompt(repo, "calc/add", ADD_PROMPT, front=f"model: [{LARGE}, {SMALL}]")
    responder.routes[(LARGE, "calc/add")] = [fence(BAD_ADD)]
    responder.routes[(SMALL, "calc/add")] = [fence(GOOD_ADD)]
    proc = cli(repo, server, "build", "calc/add")  # the front matter's ladder, in its order
    assert proc.returncode == 0, proc.stderr
    assert note_records(repo, "generated/calc/add.py")[-1]["ladder"] == [LARGE, SMALL]
    assert len(gen_requests(server, LARGE, "calc/add")) == 2 and len(gen_requests(server, SMALL, "calc/add")) == 1
    set_config(repo, extra="model: [small-model, 3]")
    proc = cli(repo, server, "build")
    assert proc.returncode == 2 and ".pdd/config.yaml" in proc.stderr and "model name" in proc.stderr


# -- reviewer -------------------------------------------------------------------------------------------------------

def test_reviewer_records_verdicts_without_block_and_blocks_with_it(tmp_path, routed):
    responder, server = routed
    repo = project(tmp_path, server, f"model: {SMALL}\nreview: {{model: {REVIEWER}}}")
    responder.routes[(SMALL, "calc/add")] = [fence(GOOD_ADD)]
    responder.routes[(SMALL, "calc/neg")] = [fence(GOOD_NEG)]
    responder.routes[(REVIEWER, "calc/add")] = [verdicts(R1="kept:returns a + b", R2="violated:overflows on huge ints")]
    responder.routes[(REVIEWER, "calc/neg")] = ["I think it is fine."]  # not the contract: an unclear review
    proc = cli(repo, server, "build")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    review_reqs = [r for r in server.requests if r["body"]["model"] == REVIEWER]
    assert len(review_reqs) == 2
    add_review = next(request_text(r) for r in review_reqs if "generated.calc.add" in request_text(r))
    # prompt and code, not the generator's conversation
    assert "return a + b" in add_review and "[R1]" in add_review and "Here is the module." not in add_review
    assert "- R1: add(2, 3) returns 5." in add_review
    note = note_records(repo, "generated/calc/add.py")[-1]
    assert [(v["id"], v["verdict"]) for v in note["review"]["verdicts"]] == [("R1", "kept"), ("R2", "violated")]
    assert note["review"]["blocked"] is False
    neg_review = note_records(repo, "generated/calc/neg.py")[-1]["review"]
    assert neg_review["status"] == "unclear" and neg_review["verdicts"][0]["id"] == "Acceptance 1"
    explain = cli(repo, server, "explain", "generated/calc/add.py")
    assert "review:" in explain.stdout and "1 kept, 1 violated" in explain.stdout and "overflows" in explain.stdout
    by_reviewer = json.loads(cli(repo, server, "cost", "--by", "reviewer", "--json").stdout)
    assert [r["key"] for r in by_reviewer["rows"]] == [REVIEWER] and by_reviewer["rows"][0]["requests"] == 2

    # block: true -- the violated verdict fails the candidate; its reason goes back to the generator
    set_config(repo, extra=f"model: {SMALL}\nreview: {{model: {REVIEWER}, block: true}}")
    write_prompt(repo, "calc/add", ADD_PROMPT + "- [R3] add is documented.\n")
    responder.routes[(SMALL, "calc/add")] = [fence(GOOD_ADD), fence('def add(a, b):\n    "Sum."\n    return a + b\n')]
    responder.served.pop((SMALL, "calc/add"), None)
    responder.routes[(REVIEWER, "calc/add")] = [verdicts(R1="kept:ok", R2="kept:ok", R3="violated:no docstring"),
                                                verdicts(R1="kept:ok", R2="kept:ok", R3="kept:has one")]
    responder.served.pop((REVIEWER, "calc/add"), None)
    n = len(server.requests)
    proc = cli(repo, server, "build", "calc/add")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second = [r for r in server.requests[n:] if r["body"]["model"] == SMALL]
    assert len(second) == 2 and "R3: no docstring" in request_text(second[1])
    note = note_records(repo, "generated/calc/add.py")[-1]
    assert note["review"]["counts"] == {"kept": 3, "violated": 0, "unclear": 0} and note["attempts"] == 2
    assert '"Sum."' in (repo / "generated/calc/add.py").read_text()

    # a reviewer that always finds a violation, with block: the module fails within the attempts
    # (a --force rebuild would answer from the cache, reviews included: change the prompt)
    write_prompt(repo, "calc/add", ADD_PROMPT + "- [R3] add is documented.\n- [R4] add is pure.\n")
    responder.routes[(REVIEWER, "calc/add")] = [verdicts(R1="violated:wrong sign", R2="kept:ok", R3="kept:ok")]
    responder.served.pop((REVIEWER, "calc/add"), None)
    before = (repo / "generated/calc/add.py").read_text()
    proc = cli(repo, server, "build", "calc/add")
    assert proc.returncode == 1 and "wrong sign" in proc.stderr
    assert (repo / "generated/calc/add.py").read_text() == before


def test_reviewer_equal_to_the_generator_is_refused(tmp_path, routed):
    responder, server = routed
    repo = project(tmp_path, server, f"model: [{SMALL}, {LARGE}]\nreview: {{model: {LARGE}, backend: anthropic}}")
    proc = cli(repo, server, "build")
    assert proc.returncode == 2 and "review.model" in proc.stderr and "own work" in proc.stderr
    assert server.requests == [] and "Traceback" not in proc.stderr
    set_config(repo, extra=f"model: {SMALL}\nreview: {{model: {REVIEWER}}}")
    write_prompt(repo, "calc/add", ADD_PROMPT, front=f"model: {REVIEWER}")
    proc = cli(repo, server, "build")
    assert proc.returncode == 2 and "own work" in proc.stderr and server.requests == []
    assert not (repo / "generated/calc/neg.py").exists()


# -- served model -----------------------------------------------------------------------------------------------------

def test_served_model_is_recorded_and_a_change_is_reported_as_information(tmp_path, routed):
    responder, server = routed
    repo = project(tmp_path, server, f"model: {SMALL}")
    responder.routes[(SMALL, "calc/add")] = [Reply(text=fence(GOOD_ADD), model="small-model-2026-01",
                                                   system_fingerprint="fp_one")]
    assert cli(repo, server, "build", "calc/add").returncode == 0
    note = note_records(repo, "generated/calc/add.py")[-1]
    assert (note["model"], note["served_model"], note["system_fingerprint"]) == (SMALL, "small-model-2026-01", "fp_one")
    assert last_run(repo)["modules"]["calc/add"]["served_model"] == "small-model-2026-01"
    commit_all(repo, "add")
    status = cli(repo, server, "status")
    assert "info:" not in status.stdout  # nothing changed yet
    responder.routes[(SMALL, "calc/neg")] = [Reply(text=fence(GOOD_NEG), model="small-model-2026-06")]
    assert cli(repo, server, "build", "calc/neg").returncode == 0
    commit_all(repo, "neg")
    status = cli(repo, server, "status")
    assert status.returncode == 0
    assert "info: generated/calc/add.py was generated by small-model-2026-01" in status.stdout
    assert "small-model-2026-06" in status.stdout and "not a deterministic compiler" in status.stdout
    check = cli(repo, server, "check")
    assert check.returncode == 0 and "info: generated/calc/add.py" in check.stdout
    explain = cli(repo, server, "explain", "generated/calc/add.py")
    assert "served:" in explain.stdout and "fp_one" in explain.stdout


# -- budget -----------------------------------------------------------------------------------------------------------

def test_budget_policy_stops_before_the_request(tmp_path, routed):
    responder, server = routed
    repo = project(tmp_path, server, f"model: {LARGE}\nbudget: {{max_usd_per_build: 0.05}}")
    responder.routes[(LARGE, "calc/add")] = [fence(GOOD_ADD)]
    responder.routes[(LARGE, "calc/neg")] = [fence(GOOD_NEG)]
    # max_tokens 8192 at $20/1M out is ~$0.16 per request: over the policy before anything is sent
    proc = cli(repo, server, "build")
    assert proc.returncode == 3 and "not sent" in proc.stderr
    assert "stopped at the budget.max_usd_per_build (.pdd/config.yaml) of $0.05" in proc.stderr
    assert server.requests == []
    assert last_run(repo)["budget_usd"] == 0.05
    # the policy applies with a larger --budget too (the smaller limit wins); with room, it builds
    assert cli(repo, server, "build", "--budget", "5").returncode == 3 and server.requests == []
    set_config(repo, extra=f"model: {LARGE}\nbudget: {{max_usd_per_build: 1.0}}")
    assert cli(repo, server, "build").returncode == 0 and len(server.requests) == 2
    set_config(repo, extra=f"model: {LARGE}\nbudget: {{max_usd_per_build: -1}}")
    proc = cli(repo, server, "build")
    assert proc.returncode == 2 and "max_usd_per_build" in proc.stderr


# -- estimate -----------------------------------------------------------------------------------------------------------

EXAMPLE = ["prompts", "behavior_tests", "generated"]


@pytest.mark.skipif(not (REPO_ROOT / "prompts").is_dir(), reason="the example project is not there")
def test_estimate_predicts_a_real_builds_spend_on_the_example_project(tmp_path, routed):
    from pdd.estimate import TOLERANCE

    responder, server = routed
    repo = init_git_repo(tmp_path / "example")
    for d in EXAMPLE:
        shutil.copytree(REPO_ROOT / d, repo / d)
    assert cli(repo, server, "init").returncode == 0
    set_config(repo, extra=f"model: {SMALL}")
    modules = sorted(str(p.relative_to(repo / "prompts").with_suffix("")) for p in (repo / "prompts").rglob("*.prompt")
                     if not p.name.startswith("_") and "/_" not in str(p))
    for m in modules:
        code = fence((repo / "generated" / f"{m}.py").read_text())
        responder.routes[(SMALL, m)] = [code]
        responder.routes[(LARGE, m)] = [code]
    shutil.rmtree(repo / "generated")
    commit_all(repo, "example")
    # no history, no files: the estimate is an upper-bound-ish guess, but it calls nothing
    proc = cli(repo, server, "build", "--estimate", "--json")
    assert proc.returncode == 0, proc.stderr
    assert server.requests == []
    first = json.loads(proc.stdout)
    assert set(first["modules"]) == set(modules), first
    assert all(m["output_from"] == "max_tokens" for m in first["modules"].values()), first
    assert cli(repo, server, "build").returncode == 0
    first_run = last_run(repo)
    # everything fresh: the estimate is 0
    fresh = json.loads(cli(repo, server, "build", "--estimate", "--json").stdout)
    assert fresh["total"]["cost_usd"] == 0 and {m["status"] for m in fresh["modules"].values()} == {"fresh"}
    # another model and a prompt change make everything stale (a model change alone is only
    # generator-changed, which `pdd build` keeps); history predicts the answers
    set_config(repo, extra=f"model: {LARGE}")
    for m in modules:
        prompt = repo / "prompts" / f"{m}.prompt"
        prompt.write_text(prompt.read_text() + "\nWrite clear code.\n")
    n = len(server.requests)
    proc = cli(repo, server, "build", "--estimate")
    assert proc.returncode == 0 and len(server.requests) == n and "worst case" in proc.stdout
    est = json.loads(cli(repo, server, "build", "--estimate", "--json").stdout)
    assert all(m["output_from"] == "history" and m["method"] == "chars/4" for m in est["modules"].values())
    assert cli(repo, server, "build").returncode == 0
    actual = last_run(repo)["totals"]["cost_usd"]
    assert actual > 0 and last_run(repo) != first_run
    print(f"estimate: expected {est['total']['cost_usd']}, worst {est['total']['worst_cost_usd']}; actual {actual}")
    assert abs(est["total"]["cost_usd"] - actual) <= TOLERANCE * actual, (est["total"], actual)
    assert est["total"]["worst_cost_usd"] >= actual
    # pdd check can report the spend of the build that produced HEAD, from the notes alone
    commit_all(repo, "built on the large model")
    shutil.rmtree(repo / ".pdd/runs")
    check = cli(repo, server, "check", "--spend", "--format", "json")
    assert check.returncode == 0, check.stdout
    spend = json.loads(check.stdout)["spend"]
    assert spend["modules"] == len(modules) and spend["cost_usd"] == pytest.approx(actual, rel=1e-6)
    assert "spend of the builds that produced HEAD" in cli(repo, server, "check", "--spend").stdout
