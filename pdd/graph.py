"""The module dependency graph: validation, cycles and build order.

Nodes are module names (``billing/money``); an edge ``a -> b`` means ``a``
depends on ``b`` (``depends: [b]`` in ``a``'s prompt). Order is Kahn's algorithm
with ties broken by name, so it is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pdd.errors import InputError
from pdd.prompt import PromptSpec


def check_graph(specs: Mapping[str, PromptSpec]) -> None:
    """Raise :class:`InputError` for an unknown dependency (at its ``depends`` line)
    or a cycle (naming the whole cycle, e.g. ``a -> b -> c -> a``)."""
    for spec in specs.values():
        for dep in spec.depends:
            if dep not in specs:
                raise InputError(
                    spec.path, spec.keys_line.get("depends"), f"depends on unknown module {dep!r}",
                    hint=f"known modules: {', '.join(sorted(specs)) or '(none)'}",
                )
    cycle = find_cycle({n: s.depends for n, s in specs.items()})
    if cycle:
        first = specs[cycle[0]]
        raise InputError(
            first.path, first.keys_line.get("depends"), "dependency cycle: " + " -> ".join(cycle),
            hint="a module cannot (indirectly) depend on itself; remove one of these dependencies",
        )


def find_cycle(edges: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle as ``[a, b, ..., a]`` if ``edges`` has one, else ``None`` (iterative DFS)."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {n: WHITE for n in edges}
    for start in sorted(edges):
        if colour[start] != WHITE:
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(edges[start]))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, todo = stack[-1]
            if todo:
                nxt = todo.pop(0)
                if nxt not in colour:
                    continue
                if colour[nxt] == GREY:
                    return path[path.index(nxt):] + [nxt]
                if colour[nxt] == WHITE:
                    colour[nxt] = GREY
                    stack.append((nxt, sorted(edges[nxt])))
                    path.append(nxt)
            else:
                colour[node] = BLACK
                stack.pop()
                path.pop()
    return None


def closure(specs: Mapping[str, PromptSpec], names: Iterable[str]) -> set[str]:
    """``names`` and everything they depend on, transitively."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo.extend(specs[n].depends)
    return seen


def edges_within(specs: Mapping[str, PromptSpec], nodes: Iterable[str]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """For the subgraph on ``nodes``: ``(indegree, dependents)`` — how many of its
    dependencies each module has in ``nodes``, and who depends on each."""
    node_set = set(nodes)
    indegree = {n: sum(1 for d in specs[n].depends if d in node_set) for n in node_set}
    dependents: dict[str, list[str]] = {n: [] for n in node_set}
    for n in node_set:
        for d in specs[n].depends:
            if d in node_set:
                dependents[d].append(n)
    return indegree, dependents


def topological_order(specs: Mapping[str, PromptSpec], subset: Iterable[str] | None = None) -> list[str]:
    """Modules of ``subset`` (default all), dependencies before dependents; modules
    on a cycle are left out (:func:`check_graph` reports cycles)."""
    indegree, dependents = edges_within(specs, specs if subset is None else subset)
    import heapq

    # Always the smallest ready name next (a heap: a sorted list re-sorted per step is quadratic).
    ready = sorted(n for n, k in indegree.items() if k == 0)
    order: list[str] = []
    while ready:
        n = heapq.heappop(ready)
        order.append(n)
        for m in dependents[n]:
            indegree[m] -= 1
            if indegree[m] == 0:
                heapq.heappush(ready, m)
    return order
