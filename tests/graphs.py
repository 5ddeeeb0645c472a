"""Workflow graphs used across the tests."""

from __future__ import annotations

from typing import Any

import httpx

TERMINAL = {"succeeded", "failed"}


def diamond(name: str) -> dict[str, Any]:
    """Five nodes, five edges: a fan-out and a join, so order and counts both matter."""
    nodes = [
        {"id": "src", "type": "source", "label": "Read events", "x": 20, "y": 160},
        {"id": "clean", "type": "transform", "label": "Clean", "x": 200, "y": 60},
        {"id": "enrich", "type": "transform", "label": "Enrich", "x": 200, "y": 260},
        {"id": "join", "type": "transform", "label": "Join", "x": 380, "y": 160},
        {"id": "sink", "type": "sink", "label": "Write table", "x": 560, "y": 160},
    ]
    edges = [
        {"source": "src", "target": "clean"},
        {"source": "src", "target": "enrich"},
        {"source": "clean", "target": "join"},
        {"source": "enrich", "target": "join"},
        {"source": "join", "target": "sink"},
    ]
    return {"name": name, "nodes": nodes, "edges": edges}


def create(api: httpx.Client, name: str = "test-diamond") -> dict[str, Any]:
    answer = api.post("/api/workflows", json=diamond(name))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created
