"""The extension dependency graph: load order and cycles; pure functions over names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(graph: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return one cycle of *graph* as [a, b, ..., a], or None when it has none."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for successor in graph.get(node, ()):
            if state.get(successor) == 1:
                return stack[stack.index(successor) :] + [successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def dependency_order(graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Return the nodes of *graph* with every node after the nodes it depends on.

    Dependencies outside *graph* are ignored; nodes of a cycle keep name order
    among themselves. Ties are broken by name, so the order is stable.
    """
    ordered: list[str] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(node: str) -> None:
        if node in placed or node in visiting:
            return
        visiting.add(node)
        for dependency in sorted(graph.get(node, ())):
            if dependency in graph:
                place(dependency)
        visiting.discard(node)
        placed.add(node)
        ordered.append(node)

    for node in sorted(graph):
        place(node)
    return ordered


def dependents_of(name: str, graph: Mapping[str, Sequence[str]]) -> list[str]:
    """Return every node that depends on *name*, directly or not, dependents of dependents first."""
    reverse: dict[str, list[str]] = {}
    for node, dependencies in graph.items():
        for dependency in dependencies:
            reverse.setdefault(dependency, []).append(node)
    found: list[str] = []
    seen: set[str] = set()

    def collect(node: str) -> None:
        for dependent in sorted(reverse.get(node, ())):
            if dependent not in seen and dependent != name:
                seen.add(dependent)
                collect(dependent)
                found.append(dependent)

    collect(name)
    return found
