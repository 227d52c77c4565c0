"""Relations between tasks: ids, dependencies, cycles, status order. Pure functions.

They work on `(index, task)` entries rather than on a whole `Backlog` so that a file with one
malformed task still gets every other problem reported in the same run: the loader passes the
tasks that did validate, with their positions in the file, plus the ids of every task that has
a readable id (a dependency on a task that is merely malformed is not "unknown").

Messages that mention another place in the file use `{ref0}`, `{ref1}`... placeholders with the
matching locations in `Finding.refs`; the loader, which knows positions, fills in "line N".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from multi_agent_coder.backlog.model import Task, TaskStatus
from multi_agent_coder.ids import id_key
from multi_agent_coder.problems import Finding, Loc

Entry = tuple[int, Task]


@dataclass(frozen=True, slots=True)
class Graph:
    """Dependency edges between the first occurrence of each id (duplicates are reported)."""

    first: dict[str, Entry]
    edges: dict[str, list[str]]  # id -> known dependency ids, in file order, no self edges


def _task_loc(index: int, *rest: str | int) -> Loc:
    return ("tasks", index, *rest)


def build_graph(entries: Sequence[Entry]) -> Graph:
    first: dict[str, Entry] = {}
    for entry in entries:
        first.setdefault(entry[1].id, entry)
    edges = {
        task_id: [d for d in task.depends_on if d in first and d != task_id]
        for task_id, (_, task) in first.items()
    }
    return Graph(first=first, edges=edges)


def check_ids(entries: Sequence[Entry]) -> list[Finding]:
    """`duplicate-id`: every occurrence after the first, pointing back at the first.
    `confusable-id`: an id that differs from an earlier one only in the leading zeros of its
    number (`T001`, `T0001`), naming both."""
    seen: dict[str, int] = {}
    by_key: dict[str, tuple[int, str]] = {}
    out: list[Finding] = []
    for index, task in entries:
        if task.id in seen:
            out.append(
                Finding(
                    _task_loc(index, "id"),
                    "duplicate-id",
                    f"id {task.id!r} is already used by tasks[{seen[task.id]}] ({{ref0}})",
                    refs=(_task_loc(seen[task.id], "id"),),
                )
            )
            continue
        seen[task.id] = index
        first_index, first_id = by_key.setdefault(id_key(task.id), (index, task.id))
        if first_index != index:
            out.append(
                Finding(
                    _task_loc(index, "id"),
                    "confusable-id",
                    f"id {task.id!r} differs from {first_id!r} (tasks[{first_index}], "
                    f"{{ref0}}) only in leading zeros; people and branch lists will take "
                    f"them for one task: renumber one of them",
                    refs=(_task_loc(first_index, "id"),),
                )
            )
    return out


def check_dependencies(entries: Sequence[Entry], known_ids: Collection[str]) -> list[Finding]:
    """`unknown-dependency`, `self-dependency`, and `completed-before-dependency`."""
    status_of: dict[str, tuple[int, TaskStatus]] = {}
    for index, task in entries:
        status_of.setdefault(task.id, (index, task.status))
    completed = TaskStatus.COMPLETED
    out: list[Finding] = []
    for index, task in entries:
        deps = task.depends_on
        if not deps:
            continue
        task_done = task.status is completed
        # Common case first: every dependency known, not self, nothing completed too early.
        clean = task.id not in deps and all(d in known_ids for d in deps)
        if clean and (
            not task_done or all(d not in status_of or status_of[d][1] is completed for d in deps)
        ):
            continue
        for position, dep in enumerate(deps):
            loc = _task_loc(index, "depends_on", position)
            if dep == task.id:
                out.append(Finding(loc, "self-dependency", f"task {dep!r} depends on itself"))
            elif dep not in known_ids:
                out.append(
                    Finding(loc, "unknown-dependency", f"unknown task {dep!r} in depends_on")
                )
            elif task_done and dep in status_of:
                dep_index, dep_status = status_of[dep]
                if dep_status is not completed:
                    out.append(
                        Finding(
                            loc,
                            "completed-before-dependency",
                            f"task {task.id!r} is completed but depends on {dep!r}, "
                            f"which is {dep_status.value} ({{ref0}})",
                            refs=(_task_loc(dep_index, "status"),),
                        )
                    )
    return out


def strongly_connected(nodes: Iterable[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a 10,000-task chain must not hit the recursion limit).

    Returns the components with more than one member, each in discovery order.
    """
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, child_pos = work[-1]
            children = edges.get(node, [])
            if child_pos < len(children):
                work[-1] = (node, child_pos + 1)
                child = children[child_pos]
                if child not in index_of:
                    index_of[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index_of[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return components


def _cycle_through(start: str, members: set[str], edges: dict[str, list[str]]) -> list[str]:
    """One concrete cycle start -> ... -> start inside a strongly connected component."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        next_frontier: list[str] = []
        for node in frontier:
            for child in edges.get(node, []):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if child not in parent:
                    parent[child] = node
                    next_frontier.append(child)
        frontier = next_frontier
    return [start, start]  # unreachable for a real component


def is_acyclic(graph: Graph) -> bool:
    """Kahn's algorithm: cheaper than Tarjan's, so the common case (no cycle) pays only this."""
    indegree = dict.fromkeys(graph.first, 0)
    for deps in graph.edges.values():
        for dep in deps:
            indegree[dep] += 1
    queue = [node for node, degree in indegree.items() if degree == 0]
    for node in queue:  # `queue` grows while we walk it
        for dep in graph.edges[node]:
            indegree[dep] -= 1
            if indegree[dep] == 0:
                queue.append(dep)
    return len(queue) == len(indegree)


def check_cycles(graph: Graph) -> list[Finding]:
    """`dependency-cycle`: one finding per cycle, naming every member and its line."""
    out: list[Finding] = []
    if is_acyclic(graph):
        return out
    for component in strongly_connected(graph.first, graph.edges):
        members = sorted(component, key=lambda task_id: graph.first[task_id][0])
        start = members[0]
        cycle = _cycle_through(start, set(members), graph.edges)
        start_index, start_task = graph.first[start]
        edge_position = start_task.depends_on.index(cycle[1])
        listing = ", ".join(f"{m} ({{ref{i}}})" for i, m in enumerate(members))
        out.append(
            Finding(
                _task_loc(start_index, "depends_on", edge_position),
                "dependency-cycle",
                f"dependency cycle {' -> '.join(cycle)}; members: {listing}",
                refs=tuple(_task_loc(graph.first[m][0], "id") for m in members),
            )
        )
    return out


def check_rules(
    entries: Sequence[Entry], known_ids: Collection[str] | None = None
) -> list[Finding]:
    """Every graph and status rule over the tasks that validated."""
    ids = known_ids if known_ids is not None else {task.id for _, task in entries}
    return [
        *check_ids(entries),
        *check_dependencies(entries, ids),
        *check_cycles(build_graph(entries)),
    ]
