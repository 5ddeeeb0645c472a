"""Request bodies of the workflow API, validated before anything is stored."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_NODES = 200
_ID = r"^[A-Za-z0-9_.:-]+$"
_EDGE_ID = r"^[A-Za-z0-9_.:>-]+$"  # the default edge id is "<source>-><target>"


class Node(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=_ID)
    type: str = Field(default="task", min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")
    label: str = Field(min_length=1, max_length=100)
    x: float = Field(default=0.0, ge=-10_000, le=10_000)
    y: float = Field(default=0.0, ge=-10_000, le=10_000)


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, min_length=1, max_length=140, pattern=_EDGE_ID)
    source: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=64)


def _name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("name must not be blank")
    return value


class Graph(BaseModel):
    """Nodes and edges that form a DAG: unique ids, edges between existing nodes, no cycle."""

    model_config = ConfigDict(extra="forbid")

    nodes: list[Node] = Field(default_factory=list, max_length=MAX_NODES)
    edges: list[Edge] = Field(default_factory=list, max_length=MAX_NODES * 4)

    @model_validator(mode="after")
    def _is_dag(self) -> Self:
        check_graph(self.nodes, self.edges)
        return self


def check_graph(nodes: list[Node], edges: list[Edge]) -> None:
    ids = [n.id for n in nodes]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"node ids must be unique; repeated: {', '.join(duplicates)}")
    known = set(ids)
    for edge in edges:
        if edge.id is None:
            edge.id = f"{edge.source}->{edge.target}"
        for end in (edge.source, edge.target):
            if end not in known:
                raise ValueError(f"edge {edge.id} refers to unknown node {end!r}")
        if edge.source == edge.target:
            raise ValueError(f"edge {edge.id} connects node {edge.source!r} to itself")
    edge_ids = [e.id for e in edges]
    repeated = sorted({str(i) for i in edge_ids if edge_ids.count(i) > 1})
    if repeated:
        raise ValueError(f"edge ids must be unique; repeated: {', '.join(repeated)}")
    if topological_order([n.id for n in nodes], [(e.source, e.target) for e in edges]) is None:
        raise ValueError("edges form a cycle; a workflow must be acyclic")


def topological_order(nodes: list[str], edges: list[tuple[str, str]]) -> list[str] | None:
    """Nodes ordered so every edge points forward (stable by input order); None on a cycle."""
    incoming = {n: 0 for n in nodes}
    outgoing: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        outgoing[source].append(target)
        incoming[target] += 1
    ready = [n for n in nodes if incoming[n] == 0]
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for target in outgoing[node]:
            incoming[target] -= 1
            if incoming[target] == 0:
                ready.append(target)
    return order if len(order) == len(nodes) else None


class WorkflowCreate(Graph):
    name: str = Field(min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        return _name(value)


class WorkflowUpdate(BaseModel):
    """A save: the version the editor loaded plus whatever it changed."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    nodes: list[Node] | None = Field(default=None, max_length=MAX_NODES)
    edges: list[Edge] | None = Field(default=None, max_length=MAX_NODES * 4)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str | None) -> str | None:
        return None if value is None else _name(value)


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class OptimizeRequest(Graph):
    """What the orchestration engine sends the optimizer: the graph to plan."""

    model_config = ConfigDict(extra="ignore")
