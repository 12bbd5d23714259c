"""Snapshots of extension code: every process runs exactly the code that was loaded, whatever happens on disk later.

A load or reload copies the package into SNAPSHOT_DIR/<name>/<digest> (named by
its content) and imports the copy. Every process that loads that revision later (a worker
started afterwards, a recycled web worker, a new sandbox) imports the same copy,
never the folder an author may be editing: a change on disk takes effect only
through a reload, and a reload that fails leaves every process on the running
version. On another machine (its own SNAPSHOT_DIR), the first process to load
a revision copies its own package after checking that it has the digest the
load recorded, and refuses it otherwise.

No ORM here: callers pass the recorded digest and store the one returned.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from extensions_core.conf import extension_settings
from extensions_core.exceptions import ExtensionLoadError

# Snapshots kept per extension (the newest); older ones are removed after a successful load.
KEEP_SNAPSHOTS = 5
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")


def package_digest(folder: Path) -> str:
    """Return a SHA-256 of the package's files (paths, contents, symlink targets), compiled files left out."""
    digest = hashlib.sha256()
    for root, directories, files in os.walk(folder):
        directories[:] = sorted(name for name in directories if name != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            digest.update(relative.encode() + b"\0")
            if path.is_symlink():
                digest.update(b"->" + os.readlink(path).encode() + b"\0")
                continue
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 16), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()


def _folder_bytes(folder: Path) -> int:
    return sum(
        (Path(root) / name).lstat().st_size
        for root, directories, files in os.walk(folder)
        for name in files
        if "__pycache__" not in root
    )


def _home(name: str) -> Path:
    return extension_settings().snapshot_dir / name


def _failure(name: str, code: str, message: str) -> ExtensionLoadError:
    return ExtensionLoadError(message, extension=name, code=code)


def snapshot_take(name: str, revision: int, source: Path) -> tuple[Path, str]:
    """Keep the package in *source* as the code of revision *revision* of *name*; return its folder and digest.

    Snapshots are named by content: code already kept (a reload of unchanged
    code, another process of this machine) is not copied again. Raise
    ExtensionLoadError when the package is too large or cannot be copied.
    """
    limit = extension_settings().snapshot_max_bytes
    home = _home(name)
    try:
        digest = package_digest(source)
        existing = home / digest[:16]
        if existing.is_dir():
            os.utime(existing)  # in use again: the newest are the ones kept
            return existing, digest
        size = _folder_bytes(source)
        if size > limit:
            raise _failure(
                name,
                "extension_package_too_large",
                f"the package in {source} holds {size / 2**20:.1f} MB; a loaded revision is kept as a copy of "
                f"at most {limit / 2**20:.0f} MB (EXTENSIONS['SNAPSHOT_MAX_BYTES']); move data out of it",
            )
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{revision}-", dir=home))
        copy = staging / "package"
        shutil.copytree(source, copy, symlinks=True, ignore=_IGNORED)
        # The copy's own digest: the source may have changed while it was copied.
        digest = package_digest(copy)
        final = home / digest[:16]
        try:
            copy.rename(final)
        except OSError:
            if not final.is_dir():  # not another process of this machine that kept the same code meanwhile
                raise
        shutil.rmtree(staging, ignore_errors=True)
    except OSError as error:
        raise _failure(name, "extension_snapshot_failed", f"could not copy the package in {source}: {error}") from error
    return final, digest


def snapshot_for(name: str, revision: int, digest: str, source: Path) -> Path:
    """Return the folder of revision *revision* of *name* as it was loaded (digest *digest*).

    Found in this machine's snapshots, or copied from *source* if *source*
    still holds exactly that code. Raise ExtensionLoadError when it does not
    (the package changed on disk since the load: a reload applies it). With no
    recorded digest (a row loaded before snapshots existed), *source* is taken as is.
    """
    if digest:
        existing = _home(name) / digest[:16]
        if existing.is_dir():
            return existing
    folder, found = snapshot_take(name, revision, source)
    if digest and found != digest:
        raise _failure(
            name,
            "extension_code_changed",
            f"revision {revision} was loaded from code that is no longer in {source} (it changed on disk since, "
            "and this machine has no copy of it); reload the extension to run the code now on disk",
        )
    return folder


def snapshots_prune(name: str, *, keep: Path) -> None:
    """Remove all but the newest KEEP_SNAPSHOTS snapshots of *name* (never *keep*, the one just loaded)."""
    home = _home(name)
    try:
        folders = [path for path in home.iterdir() if path.is_dir()]
        stale_staging = [path for path in folders if path.name.startswith(".") and _age(path) > 3600]
        snapshots = sorted(
            (path for path in folders if not path.name.startswith(".")),
            key=lambda path: path.stat().st_mtime,
            reverse=True,
        )
    except OSError:
        return
    for path in [*snapshots[KEEP_SNAPSHOTS:], *stale_staging]:
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)


def _age(path: Path) -> float:
    import time

    return time.time() - path.stat().st_mtime
