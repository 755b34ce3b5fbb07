"""The house has no circles: apps import downward only.

Bottom to top: the project's base (``photochanger`` minus its wiring), ``media``, ``providers``,
``slots``, ``ingest``, ``stats``. The project's wiring (settings, URLs, the ASGI app, the one
NinjaAPI, its commands) sits on top and may import any app.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYERS = ["photochanger", "media", "providers", "slots", "ingest", "stats"]
WIRING = {
    "photochanger.settings",
    "photochanger.urls",
    "photochanger.asgi",
    "photochanger.api",
    "photochanger.health",  # an endpoint over the database and the storage
    "photochanger.management.commands.serve",
    "photochanger.management.commands.cleanup_media",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _layer(module: str) -> int | None:
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def upward_imports() -> set[tuple[str, str]]:
    upward = set()
    for app in LAYERS:
        for path in (REPO / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            module = _module_name(path)
            if module in WIRING:
                continue
            for imported in _imports(path):
                low, high = _layer(module), _layer(imported)
                if high is not None and imported not in WIRING and high > low:
                    upward.add((module, imported))
    return upward


def test_apps_import_only_downward() -> None:
    assert upward_imports() == set()
