"""Unit tests for pdd.graph: cycles, build order, graph checks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pdd.errors import InputError
from pdd.graph import check_graph, closure, find_cycle, topological_order
from pdd.prompt import PromptSpec, parse_prompt


def make_spec(name: str, depends: list[str], extra_lines: int = 0):
    front = "\n" * extra_lines
    if depends:
        front += "depends: [" + ", ".join(depends) + "]\n"
    text = f"---\n{front}---\nbody\n" if front else "body\n"
    return parse_prompt(text, path=f"prompts/{name}.prompt", name=name)


def make_specs(edges: dict[str, list[str]]):
    """Specs built directly (fast; any node name), ``depends`` on line 2."""
    return {
        n: PromptSpec(name=n, path=f"prompts/{n}.prompt", depends=tuple(deps), tests=(), tests_declared=False,
                      output=f"generated/{n}.py", model=None, temperature=None, body="",
                      keys_line={"depends": 2} if deps else {})
        for n, deps in edges.items()
    }


def assert_valid_cycle(cycle: list[str], edges: dict[str, list[str]]) -> None:
    assert len(cycle) >= 2
    assert cycle[0] == cycle[-1]
    assert len(set(cycle[:-1])) == len(cycle) - 1, "a cycle visits each node once"
    for a, b in zip(cycle, cycle[1:]):
        assert b in edges[a], f"{a} -> {b} is not an edge"


# --- find_cycle ------------------------------------------------------------------


def test_no_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({}) is None


def test_self_loop():
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_whole_cycle_returned():
    edges = {"a": ["b"], "b": ["c"], "c": ["a"]}
    assert find_cycle(edges) == ["a", "b", "c", "a"]


def test_cycle_not_including_the_start_node():
    edges = {"a": ["b"], "b": ["c"], "c": ["d"], "d": ["b"], "e": []}
    cycle = find_cycle(edges)
    assert cycle == ["b", "c", "d", "b"]


def test_cycle_reached_after_a_finished_branch():
    edges = {"a": ["b", "x"], "b": [], "x": ["y"], "y": ["z"], "z": ["x"]}
    cycle = find_cycle(edges)
    assert cycle == ["x", "y", "z", "x"]


def test_unknown_targets_ignored():
    assert find_cycle({"a": ["zzz"], "b": ["a"]}) is None


# --- topological_order -----------------------------------------------------------


def test_order_dependencies_first_ties_by_name():
    specs = make_specs({"app": ["billing/invoice", "util"], "billing/invoice": ["billing/money"],
                        "billing/money": [], "util": []})
    assert topological_order(specs) == ["billing/money", "billing/invoice", "util", "app"]


def test_order_subset_ignores_outside_deps():
    specs = make_specs({"a": ["b"], "b": ["c"], "c": [], "d": []})
    assert topological_order(specs, ["a", "c"]) == ["a", "c"]
    assert topological_order(specs, ["a", "b"]) == ["b", "a"]
    assert topological_order(specs, []) == []


def test_closure():
    specs = make_specs({"a": ["b"], "b": ["c"], "c": [], "d": ["a"]})
    assert closure(specs, ["a"]) == {"a", "b", "c"}
    assert closure(specs, ["d"]) == {"a", "b", "c", "d"}
    assert closure(specs, []) == set()


# --- check_graph -----------------------------------------------------------------


def test_check_graph_ok():
    check_graph(make_specs({"a": ["b"], "b": []}))


def test_unknown_dependency_names_file_and_line():
    specs = {"a": make_spec("a", [], 0), "b": make_spec("b", ["a", "nope/mod"], extra_lines=2)}
    with pytest.raises(InputError) as info:
        check_graph(specs)
    err = info.value
    assert err.path == "prompts/b.prompt"
    assert err.line == 4
    assert "nope/mod" in err.message
    assert err.hint and "a, b" in err.hint
    assert err.exit_code == 2


def test_cycle_error_names_file_and_whole_cycle():
    specs = {"a": make_spec("a", ["b"], extra_lines=1), "b": make_spec("b", ["c"]), "c": make_spec("c", ["a"])}
    with pytest.raises(InputError) as info:
        check_graph(specs)
    err = info.value
    assert err.path == "prompts/a.prompt"
    assert err.line == 3
    assert "a -> b -> c -> a" in err.message
    assert "cycle" in err.message


def test_two_module_cycle():
    specs = {"x/one": make_spec("x/one", ["x/two"]), "x/two": make_spec("x/two", ["x/one"])}
    with pytest.raises(InputError) as info:
        check_graph(specs)
    assert "x/one -> x/two -> x/one" in info.value.message
    assert info.value.path == "prompts/x/one.prompt"


# --- properties ------------------------------------------------------------------

_names = st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=3), min_size=1, max_size=10, unique=True)


@st.composite
def dags(draw):
    """A random DAG: node i may only depend on nodes earlier in a random order."""
    names = draw(_names)
    order = draw(st.permutations(names))
    edges = {}
    for i, n in enumerate(order):
        edges[n] = draw(st.lists(st.sampled_from(order[:i]), unique=True)) if i else []
    return edges


@st.composite
def graphs(draw):
    names = draw(_names)
    return {n: draw(st.lists(st.sampled_from(names), unique=True, max_size=3)) for n in names}


def reference_order(edges: dict[str, list[str]]) -> list[str]:
    """Smallest-name-first topological order (what Kahn's with sorted ties gives)."""
    done: list[str] = []
    left = set(edges)
    while left:
        ready = sorted(n for n in left if all(d in done for d in edges[n]))
        done.append(ready[0])
        left.remove(ready[0])
    return done


def is_acyclic(edges: dict[str, list[str]]) -> bool:
    left = dict(edges)
    while True:
        free = [n for n, ds in left.items() if not any(d in left for d in ds)]
        if not free:
            return not left
        for n in free:
            del left[n]


@settings(max_examples=100, deadline=None)
@given(dags(), st.randoms(use_true_random=False))
def test_topological_order_respects_deps_and_is_deterministic(edges, rnd):
    specs = make_specs(edges)
    order = topological_order(specs)
    assert sorted(order) == sorted(edges)
    pos = {n: i for i, n in enumerate(order)}
    for n, deps in edges.items():
        for d in deps:
            assert pos[d] < pos[n]
    assert order == reference_order(edges)
    items = list(specs.items())
    rnd.shuffle(items)
    assert topological_order(dict(items)) == order
    assert find_cycle(edges) is None
    check_graph(specs)


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_find_cycle_iff_cyclic_and_cycle_is_real(edges):
    cycle = find_cycle(edges)
    if is_acyclic(edges):
        assert cycle is None
    else:
        assert cycle is not None
        assert_valid_cycle(cycle, edges)


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_subset_order_is_restriction_of_full_order(edges, data):
    specs = make_specs(edges)
    subset = data.draw(st.lists(st.sampled_from(sorted(edges)), unique=True))
    full = topological_order(specs)
    sub = topological_order(specs, subset)
    assert sorted(sub) == sorted(subset)
    pos = {n: i for i, n in enumerate(sub)}
    for n in subset:
        for d in edges[n]:
            if d in pos:
                assert pos[d] < pos[n]
    # the closure of a subset is closed under dependencies
    cl = closure(specs, subset)
    assert all(d in cl for n in cl for d in edges[n])
    assert set(subset) <= cl <= set(full)
