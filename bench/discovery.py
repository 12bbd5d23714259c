"""Discovery of 1,000 extension folders: scan + read + validate, against the raw tools.

    cd /work/main && .venv/bin/python bench/discovery.py [--quick]

Generates 1,000 extension folders with varied, realistic manifests (endpoints,
cron and interval tasks with triggers and parameter schemas, dependencies on
other extensions with version ranges, settings schemas) in a temporary
folder, then times `discover_extensions(dirs=[...], max_bytes=256 KiB,
max_depth=32)` end to end, best and median of 5 runs. Side by side on the same
files: (a) os.scandir + open + json.loads only, (b) (a) plus jsonschema
Draft202012Validator validation against the published schema. A per-stage
breakdown of the core path shows where its time goes. Target: <= 1 s for 1,000.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

TARGET_SECONDS = 1.0
COUNT = 1000

WORDS = [
    "analytics", "search", "vision", "iot", "llm", "prompt", "report", "backup", "audit", "billing",
    "crm", "mail", "notify", "metrics", "sync", "cache", "webhook", "import", "export", "chat",
]  # fmt: skip
CATEGORIES = ["examples", "analytics", "ai", "automation", "integration", "monitoring", "utilities"]
CRONS = ["0 * * * *", "0 9 * * *", "*/5 * * * *", "30 2 * * 1-5", "0 0 1 * *", "15,45 8-18 * * mon-fri"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"]
ENDPOINT_SHAPES = [
    ("/status", ["GET"]),
    ("/items", ["GET", "POST"]),
    ("/items/{item_id}", ["GET", "PUT", "DELETE"]),
    ("/reports/{report_id}/export", ["POST"]),
    ("/search", ["GET"]),
    ("/webhooks/incoming", ["POST"]),
]


def make_manifest(index: int, rng: random.Random, names: list[str]) -> dict:
    """Return a valid manifest in the spirit of the first system's real ones, varied by *rng*."""
    word = rng.choice(WORDS)
    name = f"{word}-ext-{index:04d}"
    document: dict = {
        "name": name,
        "version": f"{rng.randint(0, 3)}.{rng.randint(0, 12)}.{rng.randint(0, 30)}",
        "display_name": f"{word.title()} Extension {index}",
        "description": f"Benchmark extension {index}: {word} features for the platform. " * rng.randint(1, 3),
        "author": rng.choice(["Kari AI Team", "Karen tests", "ACME Corp", "Jane Doe"]),
        "license": rng.choice(["MIT", "Apache-2.0", "BSD-3-Clause"]),
        "category": rng.choice(CATEGORIES),
        "tags": rng.sample(WORDS, rng.randint(1, 4)),
        "api_version": "1.0",
        "kari_min_version": "0.4.0",
        "capabilities": {
            "provides_ui": rng.random() < 0.3,
            "provides_api": False,
            "provides_background_tasks": False,
            "provides_webhooks": rng.random() < 0.1,
        },
        "permissions": {
            "data_access": rng.sample(["read", "write", "admin"], rng.randint(0, 2)),
            "plugin_access": [],
            "system_access": rng.sample(["metrics", "logs", "files", "scheduler"], rng.randint(0, 2)),
            "network_access": rng.sample(["outbound_http", "local_network"], rng.randint(0, 1)),
        },
        "resources": {"max_memory_mb": rng.choice([64, 128, 256]), "max_cpu_percent": 10, "max_disk_mb": 256},
        "dependencies": {"plugins": [], "extensions": [], "system_services": []},
        "marketplace": {"price": "free", "categories": [document_category := rng.choice(CATEGORIES)]},
    }
    document["marketplace"]["keywords"] = [word, document_category]
    if rng.random() < 0.5:
        document["homepage"] = f"https://example.com/{name}"
        document["repository"] = f"https://github.com/example/{name}"
    if rng.random() < 0.4:
        shapes = rng.sample(ENDPOINT_SHAPES, rng.randint(1, 4))
        endpoints = []
        for path, methods in shapes:
            endpoint = {"path": path, "methods": methods, "description": f"{path} of {name}", "tags": [word]}
            if path == "/status" and rng.random() < 0.5:
                endpoint["public"] = True
            else:
                endpoint["permissions"] = rng.sample(["user", "admin", "operator"], rng.randint(1, 2))
            endpoints.append(endpoint)
        document["api"] = {"endpoints": endpoints, "prefix": f"/api/extensions/{name}", "tags": [name]}
        document["capabilities"]["provides_api"] = True
    if rng.random() < 0.35:
        tasks = []
        for number in range(rng.randint(1, 3)):
            task: dict = {
                "name": f"task_{number}_{word}",
                "function": rng.choice([f"task_{number}", f"tasks.run_{number}"]),
                "description": f"Task {number} of {name}",
                "enabled": rng.random() < 0.9,
            }
            if rng.random() < 0.7:
                task["schedule"] = rng.choice(CRONS)
                if rng.random() < 0.3:
                    task["timezone"] = rng.choice(ZONES)
            elif rng.random() < 0.5:
                task["interval_seconds"] = rng.choice([30, 60, 300, 3600])
            if rng.random() < 0.4:
                task.update(timeout_seconds=120, max_retries=3, retry_backoff_seconds=5)
            if number and rng.random() < 0.5:
                task["depends_on"] = [tasks[0]["name"]]
            if rng.random() < 0.3:
                task["parameters"] = {
                    "type": "object",
                    "properties": {"limit": {"type": "integer", "minimum": 1}, "dry_run": {"type": "boolean"}},
                }
            if rng.random() < 0.25:
                task["triggers"] = [
                    {"event": "extension.loaded", "filter": {"name": name}},
                    {"event": f"{word}.updated", "filter": {"payload.size": {"$gt": 10}, "kind": {"$in": ["a", "b"]}}},
                ]
            tasks.append(task)
        document["background_tasks"] = tasks
        document["capabilities"]["provides_background_tasks"] = True
    if names and rng.random() < 0.3:
        for other in rng.sample(names[-50:], min(len(names[-50:]), rng.randint(1, 3))):
            document["dependencies"]["extensions"].append(rng.choice([other, f"{other}>=0.1", f"{other}>=0.0.1,<9"]))
    if rng.random() < 0.15:
        document["settings"] = {
            "type": "object",
            "properties": {
                "api_key": {"type": "string", "default": ""},
                "batch_size": {"type": "integer", "minimum": 1, "default": 100},
            },
        }
    if rng.random() < 0.2:
        document["ui"] = {"control_room_pages": [{"name": f"{word} page", "path": f"/{word}"}], "streamlit_pages": []}
    return document


def generate(root: Path, count: int) -> int:
    """Write *count* extension folders under *root*; return the total manifest bytes."""
    rng = random.Random(20240601)
    names: list[str] = []
    total = 0
    for index in range(count):
        document = make_manifest(index, rng, names)
        names.append(document["name"])
        folder = root / document["name"]
        folder.mkdir()
        text = json.dumps(document, indent=2)
        total += len(text)
        (folder / "extension.json").write_text(text, encoding="utf-8")
        (folder / "__init__.py").write_text(
            "from extensions_core.sdk import BaseExtension\n\n\n"
            "class BenchExtension(BaseExtension):\n"
            "    def initialize(self):\n"
            "        self.ready = True\n",
            encoding="utf-8",
        )
    return total


def raw_read(root: Path) -> list:
    """Baseline (a): os.scandir + open + json.loads, nothing else."""
    documents = []
    for entry in os.scandir(root):
        if entry.is_dir():
            with open(os.path.join(entry.path, "extension.json"), "rb") as handle:
                documents.append(json.loads(handle.read()))
    return documents


def raw_validate(root: Path, validator) -> int:
    """Baseline (b): (a) plus Draft202012Validator validation (all errors collected)."""
    errors = 0
    for entry in os.scandir(root):
        if entry.is_dir():
            with open(os.path.join(entry.path, "extension.json"), "rb") as handle:
                document = json.loads(handle.read())
            errors += sum(1 for _ in validator.iter_errors(document))
    return errors


def stage_breakdown(root: Path, runs: int) -> dict[str, float]:
    """Best-of-*runs* seconds of each stage of the core path over all folders."""
    from extensions_core.discovery import directory_candidates
    from extensions_core.manifest import read_document
    from extensions_core.manifest.checks import semantic_problems
    from extensions_core.manifest.model import Manifest
    from extensions_core.manifest.schema import schema_problems

    stages: dict[str, float] = {}

    def timed(label, function):
        best = float("inf")
        value = None
        for _ in range(runs):
            start = time.perf_counter()
            value = function()
            best = min(best, time.perf_counter() - start)
        stages[label] = best
        return value

    candidates = timed("scan (directory_candidates)", lambda: directory_candidates([root]))
    documents = timed(
        "read_document (safe read + depth check + json)",
        lambda: [read_document(c.folder, max_bytes=256 * 1024, max_depth=32) for c in candidates],
    )
    timed("schema_problems (jsonschema, all errors)", lambda: [schema_problems(d) for d in documents])
    timed("semantic_problems (cron, ranges, ...)", lambda: [semantic_problems(d) for d in documents])
    timed("Manifest.from_document", lambda: [Manifest.from_document(d, warnings=()) for d in documents])
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 runs instead of 5 (about 10 s)")
    parser.add_argument("--count", type=int, default=COUNT)
    args = parser.parse_args()
    runs = 3 if args.quick else 5

    _common.setup_django()
    from jsonschema import Draft202012Validator

    from extensions_core.discovery import discover_extensions
    from extensions_core.manifest import SCHEMA_PATH

    root = _common.temp_dir("karen-bench-discovery-") / "extensions"
    root.mkdir()
    started = time.perf_counter()
    total_bytes = generate(root, args.count)
    print(f"Discovery benchmark ({_common.machine()}): {args.count} extension folders, "
          f"{total_bytes / 1024:,.0f} KiB of manifests, written in {time.perf_counter() - started:.2f} s; "
          f"{runs} runs each (files in the OS page cache)\n")  # fmt: skip

    def core():
        return discover_extensions(dirs=[root], max_bytes=256 * 1024, max_depth=32)

    cold_start = time.perf_counter()
    found = core()
    cold = time.perf_counter() - cold_start
    valid = sum(1 for item in found if item.is_valid)
    warnings = sum(len(item.manifest.warnings) for item in found if item.is_valid)
    if valid != args.count:
        broken = [item for item in found if not item.is_valid][:3]
        raise SystemExit(f"expected {args.count} valid manifests, got {valid}: {[i.error for i in broken]}")

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)

    core_best, core_median, core_all = _common.best_and_median(core, runs)
    read_best, read_median, _ = _common.best_and_median(lambda: raw_read(root), runs)
    val_best, val_median, _ = _common.best_and_median(lambda: raw_validate(root, validator), runs)
    stages = stage_breakdown(root, runs=1 if args.quick else 3)

    per = 1000 / args.count
    rows = [
        ["core discover_extensions (scan+read+validate)", _common.ms(core_best), _common.ms(core_median),
         f"{core_median * per * 1000:,.1f} ms", "1.00x", f"<= {TARGET_SECONDS:g} s",
         _common.verdict(core_median * per, TARGET_SECONDS)],
        ["raw (a) scandir + open + json.loads", _common.ms(read_best), _common.ms(read_median),
         f"{read_median * per * 1000:,.1f} ms", f"{core_median / read_median:,.1f}x", "", ""],
        ["raw (b) (a) + Draft202012Validator", _common.ms(val_best), _common.ms(val_median),
         f"{val_median * per * 1000:,.1f} ms", f"{core_median / val_median:,.1f}x", "", ""],
    ]  # fmt: skip
    _common.table(rows, ["measure", "best", "median", "per 1,000", "core / this", "target", "verdict"])
    print(f"\ncore runs: {', '.join(_common.ms(t) for t in core_all)}; first (cold) call {_common.ms(cold)}; "
          f"{valid} valid, {warnings} warnings")  # fmt: skip
    print("\nwhere the core's time goes (best of runs, all folders):")
    _common.table(
        [[label, _common.ms(seconds), f"{100 * seconds / core_best:.0f}%"] for label, seconds in stages.items()],
        ["stage", "time", "of core best"],
    )
    _common.result(
        {
            "bench": "discovery",
            "extensions": args.count,
            "runs": runs,
            "core_best_s": round(core_best, 4),
            "core_median_s": round(core_median, 4),
            "core_cold_s": round(cold, 4),
            "raw_read_median_s": round(read_median, 4),
            "raw_read_validate_median_s": round(val_median, 4),
            "ratio_core_vs_raw_read": round(core_median / read_median, 2),
            "ratio_core_vs_raw_read_validate": round(core_median / val_median, 2),
            "stages_best_s": {label.split(" ")[0]: round(seconds, 4) for label, seconds in stages.items()},
            "target_s": TARGET_SECONDS,
            "verdict": _common.verdict(core_median * per, TARGET_SECONDS),
        }
    )


if __name__ == "__main__":
    main()
