"""Reading extension.json from disk safely: refuse before a full read what could hurt.

Files over the size cap, nesting past the depth cap, non-regular files
(FIFOs, devices) and symlinks that leave the extension's folder are refused
with a problem each; nothing else about the file is trusted.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from extensions_core.exceptions import ManifestError, ManifestProblem
from extensions_core.validation import json_problems, nesting_depth, plain, strict_loads

MANIFEST_FILENAME = "extension.json"


def _refuse(code: str, message: str) -> ManifestError:
    return ManifestError([ManifestProblem("", code, message)])


def manifest_path_of(path: Path) -> tuple[Path, Path]:
    """Return (extension folder, extension.json path) for a folder or a manifest path."""
    if path.name == MANIFEST_FILENAME and not path.is_dir():
        return path.parent, path
    return path, path / MANIFEST_FILENAME


def read_document(path: Path, *, max_bytes: int, max_depth: int) -> dict[str, Any] | Any:
    """Return the parsed JSON of the manifest at *path* (a folder or its extension.json).

    Raise ManifestError (one problem) when the file is missing, not a regular
    file, outside the extension folder, too large, too deeply nested, not
    UTF-8 or not JSON.
    """
    folder, manifest = manifest_path_of(path)
    try:
        root = folder.resolve(strict=True)
    except OSError:
        raise _refuse("manifest_not_found", f"folder {folder} does not exist") from None
    if not os.path.lexists(manifest):
        raise _refuse(
            "manifest_not_found",
            f"no {MANIFEST_FILENAME} in {folder}; every extension folder needs one",
        )
    target = manifest.resolve()
    if not target.is_relative_to(root):
        raise _refuse(
            "manifest_outside_root",
            f"{MANIFEST_FILENAME} is a symlink to {target}, outside the extension folder {root}; "
            "put the real file inside the folder",
        )
    try:
        info = os.stat(target)
    except OSError as error:
        raise _refuse("manifest_unreadable", f"cannot read {manifest}: {error.strerror}") from error
    if not stat.S_ISREG(info.st_mode):
        raise _refuse(
            "manifest_not_regular_file",
            f"{manifest} is not a regular file (a folder, FIFO, socket or device); it must be a plain JSON file",
        )
    if info.st_size > max_bytes:
        raise _refuse(
            "manifest_too_large",
            f"{MANIFEST_FILENAME} is {info.st_size} bytes; the limit is {max_bytes} bytes",
        )
    raw = _read_at_most(target, max_bytes + 1)
    if len(raw) > max_bytes:
        raise _refuse("manifest_too_large", f"{MANIFEST_FILENAME} is over the limit of {max_bytes} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _refuse(
            "manifest_invalid_encoding",
            f"{MANIFEST_FILENAME} is not UTF-8 (byte {error.start}); save it as UTF-8",
        ) from None
    return parse_json_text(text, max_depth=max_depth)


def _read_at_most(path: Path, limit: int) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read(limit)
    finally:
        os.close(descriptor)


def parse_json_text(text: str, *, max_depth: int) -> Any:
    """Parse manifest JSON *text* strictly, refusing nesting deeper than *max_depth* before parsing.

    Raise ManifestError listing, with their paths, NaN and Infinity, numbers
    too long to store, lone surrogates, NUL characters and keys given twice.
    """
    depth = nesting_depth(text)
    if depth > max_depth:
        raise _refuse(
            "manifest_too_deep",
            f"{MANIFEST_FILENAME} nests objects and arrays {depth} levels deep; the limit is {max_depth}",
        )
    try:
        document = strict_loads(text)
    except json.JSONDecodeError as error:
        raise _refuse(
            "manifest_invalid_json",
            f"{MANIFEST_FILENAME} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}",
        ) from None
    problems = json_problems(document, code="manifest_invalid_json")
    if problems:
        raise ManifestError(problems)
    return plain(document)
