"""Dependencies point one way: core <- storage <- metadata <- similarity <- explorer <- imports <- the
Encord doors.

Every ``import`` statement in ``apps/`` is read with ``ast`` (those inside functions too: a lazy
import is still a dependency), so a module that reaches up a layer fails here rather than in review.
A lower app that must call an upper one exposes a hook (``apps.storage.hooks``) that the upper app
fills in its ``AppConfig.ready``.
"""

from __future__ import annotations

import ast
from pathlib import Path

APPS = Path(__file__).resolve().parents[2] / "apps"
# similarity reads vectors (and hashes) under a queryset the Explorer hands it; the Explorer builds on it.
LAYERS = ("core", "storage", "metadata", "similarity", "explorer", "imports", "curation", "encord_compat")  # lowest first


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) of every import statement in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def _app_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "apps" else None


def upward_imports(apps_dir: Path = APPS) -> list[str]:
    """Every import of an app by an app below it, as ``path:line imports module``."""
    found = []
    for path in sorted(apps_dir.rglob("*.py")):
        app = path.relative_to(apps_dir).parts[0]
        if app not in LAYERS:
            continue
        for line, module, _ in _imports(path):
            target = _app_of(module)
            if target in LAYERS and LAYERS.index(target) > LAYERS.index(app):
                found.append(f"apps/{path.relative_to(apps_dir)}:{line} imports {module}")
    return found


def private_imports_across_apps(apps_dir: Path = APPS) -> list[str]:
    """Every ``from apps.<other app>... import _name``: shared helpers have public names."""
    found = []
    for path in sorted(apps_dir.rglob("*.py")):
        app = path.relative_to(apps_dir).parts[0]
        for line, module, names in _imports(path):
            target = _app_of(module)
            private = [name for name in names if name.startswith("_") and not name.startswith("__")]
            if target is not None and target != app and private:
                found.append(f"apps/{path.relative_to(apps_dir)}:{line} imports {module}.{', '.join(private)}")
    return found


def test_no_app_imports_an_app_above_it():
    assert upward_imports() == []


def test_no_app_imports_another_apps_private_names():
    assert private_imports_across_apps() == []


def test_every_app_is_placed_in_a_layer():
    apps = sorted(p.name for p in APPS.iterdir() if (p / "apps.py").exists())
    assert apps == sorted(LAYERS)


def test_the_checker_sees_lazy_and_upward_imports(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "x.py").write_text(
        "def f():\n    from apps.storage.models import Item\n    from apps.metadata import _rules\n"
    )
    assert upward_imports(tmp_path) == [
        "apps/core/x.py:2 imports apps.storage.models", "apps/core/x.py:3 imports apps.metadata",
    ]
    assert private_imports_across_apps(tmp_path) == ["apps/core/x.py:3 imports apps.metadata._rules"]


def test_every_storage_hook_is_filled_by_an_app_above_storage():
    """Storage's defaults are for storage alone; in Loupe each hook is the upper app's real function."""
    from apps.storage import hooks

    assert {name: f"{fn.__module__}.{fn.__name__}" for name, fn in sorted(hooks._registered.items())} == {
        "import_file_entry_counts": "apps.imports.apps._entry_counts",
        "item_page_metadata_context": "apps.metadata.apps._item_page_metadata_context",
        "item_page_neighbours": "apps.explorer.apps._item_page_neighbours",
        "item_page_similar": "apps.explorer.apps._item_page_similar",
        "items_probed": "apps.similarity.hooks.items_probed",
        "video_frame_hashes_store": "apps.similarity.apps._frame_hashes_store",
        "items_full_metadata": "apps.metadata.apps._items_full_metadata",
    }
