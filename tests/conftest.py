"""Shared fixtures: an isolated extensions folder, fixture packages, a clean registry per test."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from extensions_core.loader import NAMESPACE

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixture_extensions"
SHIPPED = ROOT / "extensions"
# The extensions the platform ships. Tests see these by name, copied to a folder of their own, never the whole
# extensions/ folder: an author's work in progress there (`startextension`) must not change what a test finds.
SHIPPED_NAMES = ("background-task-extension", "hello-extension")
CORPUS = ROOT.parent / "shared" / "karen-manifests"


def pytest_collection_modifyitems(config, items):
    """Leave out tests of the production stack's own faults when this run is on the embedded stack.

    `./karenctl test` runs the suite on both stacks, so each of these runs in
    the production pass; here they are deselected (counted as such), not skipped.
    """
    from django.conf import settings

    on_postgresql = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    on_redis = settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    kept, left_out = [], []
    for item in items:
        if (item.get_closest_marker("needs_postgresql") and not on_postgresql) or (
            item.get_closest_marker("needs_redis") and not on_redis
        ):
            left_out.append(item)
        else:
            kept.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def base_manifest(name: str = "sample-extension", **changes: Any) -> dict[str, Any]:
    """Return a small valid manifest with *changes* applied on top."""
    document = {
        "name": name,
        "version": "1.0.0",
        "display_name": "Sample Extension",
        "description": "An extension used by the tests.",
        "author": "Karen tests",
        "license": "MIT",
        "category": "testing",
    }
    document.update(changes)
    return document


def fast_schema_accepts(document: Any) -> bool:
    """Return whether the compiled (fast) schema check accepts *document*."""
    from extensions_core.manifest.schema import _fast_validator

    try:
        _fast_validator()(document)
    except Exception:
        return False
    return True


def full_schema_errors(document: Any) -> list:
    """Return jsonschema's findings for *document* (the full, slow path)."""
    from extensions_core.manifest.schema import _validator

    return list(_validator().iter_errors(document))


def install_shipped(root: Path) -> Path:
    """Copy the shipped extensions (SHIPPED_NAMES, nothing else from extensions/) into *root*; return *root*."""
    for name in SHIPPED_NAMES:
        shutil.copytree(SHIPPED / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture
def shipped(settings, tmp_path_factory) -> Path:
    """A copy of the shipped extensions as the only source, discovered and not yet loaded."""
    from extensions_core.services import extension_discover

    root = install_shipped(tmp_path_factory.mktemp("shipped"))
    settings.EXTENSIONS = {**settings.EXTENSIONS, "DIRS": [root], "ENTRY_POINTS": False}
    extension_discover(load_new=False)
    return root


def write_extension(
    root: Path, name: str, *, manifest: dict[str, Any] | None = None, code: str | None = None, **changes: Any
) -> Path:
    """Write an extension package *name* under *root*: extension.json and __init__.py."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    document = manifest if manifest is not None else base_manifest(name, **changes)
    (folder / "extension.json").write_text(json.dumps(document, indent=2), encoding="utf-8")
    if code is None:
        code = (
            "from extensions_core.sdk import BaseExtension\n\n\n"
            "class SampleExtension(BaseExtension):\n"
            "    def initialize(self):\n"
            "        self.ready = True\n"
        )
    (folder / "__init__.py").write_text(code, encoding="utf-8")
    return folder


def install_fixture(root: Path, fixture: str, *, as_name: str | None = None) -> Path:
    """Copy tests/fixture_extensions/<fixture> into *root*; return the copy's folder."""
    target = root / (as_name or fixture)
    shutil.copytree(FIXTURES / fixture, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def extensions_root(tmp_path: Path, settings) -> Path:
    """An empty extensions folder that is the only extension source for the test."""
    root = tmp_path / "extensions"
    root.mkdir()
    settings.EXTENSIONS = {
        **settings.EXTENSIONS,
        "DIRS": [root],
        "ENTRY_POINTS": False,
        "LOAD_TIMEOUT_SECONDS": 2.0,
        "CHANGE_CHECK_INTERVAL_SECONDS": 0.0,
    }
    return root


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Passwords are not what these tests are about; the default hasher costs ~0.3 s per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def clean_registry():
    """Unload whatever a test loaded in this process, so tests never see each other's extensions (or runs)."""
    from extensions_core.run_figures import slice_book

    slice_book.clear()  # reused ten-minute slices of runs: each test's database starts anew
    yield
    slice_book.clear()
    from extensions_core.permissions import access_cache
    from extensions_core.registry import registry
    from extensions_core.services.propagation import registry_unload_here

    access_cache.clear()
    for name in reversed(registry.names()):
        registry_unload_here(name)
    registry.reset()
    for module in [key for key in sys.modules if key == NAMESPACE or key.startswith(NAMESPACE + ".")]:
        del sys.modules[module]


def broker_queue_purge() -> None:
    """Empty the run queue of the test's broker: what a message lost on its way to a worker leaves behind."""
    from karen.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(app.conf.task_default_queue)
