"""Loading and unloading 100 extensions through the lifecycle services, against a raw import.

    cd /work/main && .venv/bin/python bench/lifecycle.py [--quick]

Writes 100 trivial extensions (extension.json + __init__.py with one
BaseExtension subclass) in a temporary folder that is the only extension
source (KAREN_EXTENSION_DIRS), registers them with
`extension_discover(load_new=False)`, then times `extension_load(name=...)` for
all 100 and `extension_unload(name=...)` for all 100, several rounds. Side by
side: importlib import of 100 equivalent plain modules + instantiation +
initialize() (and dropping them from sys.modules), and the core loader alone
(`load_extension`/`unload_extension`, no database) to split import cost from
bookkeeping. Target: load-100 <= 2 s and unload-100 <= 2 s.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

TARGET_SECONDS = 2.0
COUNT = 100

EXTENSION_CODE = (
    "from extensions_core.sdk import BaseExtension\n\n\n"
    "class SampleExtension(BaseExtension):\n"
    "    def initialize(self):\n"
    "        self.ready = True\n"
)
PLAIN_CODE = (
    "class SampleExtension:\n"
    "    def __init__(self, manifest=None, config=None, package=None):\n"
    "        self.manifest, self.config, self.package = manifest, config, package\n\n"
    "    def initialize(self):\n"
    "        self.ready = True\n"
)


def manifest_of(name: str) -> dict:
    """The base manifest of the tests (tests/conftest.py base_manifest)."""
    return {
        "name": name,
        "version": "1.0.0",
        "display_name": "Sample Extension",
        "description": "An extension used by the benchmarks.",
        "author": "Karen bench",
        "license": "MIT",
        "category": "testing",
    }


def write_extensions(root: Path, names: list[str]) -> None:
    for name in names:
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "extension.json").write_text(json.dumps(manifest_of(name), indent=2), encoding="utf-8")
        (folder / "__init__.py").write_text(EXTENSION_CODE, encoding="utf-8")


def raw_round(plain_root: Path, count: int, round_number: int) -> tuple[float, float]:
    """Import + instantiate + initialize *count* plain modules, then drop them; return both durations."""
    modules = [f"karen_bench_plain_{round_number}_{index:03d}" for index in range(count)]
    for module in modules:
        (plain_root / f"{module}.py").write_text(PLAIN_CODE, encoding="utf-8")
    importlib.invalidate_caches()
    instances = []
    start = time.perf_counter()
    for module in modules:
        loaded = importlib.import_module(module)
        instance = loaded.SampleExtension(manifest={}, config={}, package=module)
        instance.initialize()
        instances.append(instance)
    load = time.perf_counter() - start
    start = time.perf_counter()
    for module in modules:
        del sys.modules[module]
    importlib.invalidate_caches()
    unload = time.perf_counter() - start
    return load, unload


def loader_round(root: Path, names: list[str], revision: int) -> tuple[float, float]:
    """The core loader alone (no database): load_extension then unload_extension for each."""
    from extensions_core.loader import load_extension, unload_extension
    from extensions_core.manifest import parse_manifest

    manifests = {name: parse_manifest(manifest_of(name)) for name in names}
    loaded = []
    start = time.perf_counter()
    for name in names:
        loaded.append(
            load_extension(manifest=manifests[name], folder=root / name, revision=revision, config={}, timeout=10)
        )
    load = time.perf_counter() - start
    start = time.perf_counter()
    for item in loaded:
        unload_extension(item, timeout=10)
    return load, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round instead of 3 (about 10 s)")
    parser.add_argument("--count", type=int, default=COUNT)
    args = parser.parse_args()
    rounds = 1 if args.quick else 3

    root = _common.temp_dir("karen-bench-lifecycle-") / "extensions"
    root.mkdir()
    names = [f"bench-ext-{index:03d}" for index in range(args.count)]
    write_extensions(root, names)
    _common.setup_django(env={"KAREN_EXTENSION_DIRS": str(root), "KAREN_ENTRY_POINTS": "false"})

    from extensions_core.models import Extension
    from extensions_core.registry import registry
    from extensions_core.services import extension_discover, extension_load, extension_unload

    start = time.perf_counter()
    report = extension_discover(load_new=False)
    discover_seconds = time.perf_counter() - start
    if len(report.created) != args.count:
        raise SystemExit(f"discover registered {len(report.created)} of {args.count}: {report.problems[:3]}")

    load_totals, unload_totals, load_calls, unload_calls = [], [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        for name in names:
            began = time.perf_counter()
            extension_load(name=name)
            load_calls.append(time.perf_counter() - began)
        load_totals.append(time.perf_counter() - start)
        active = Extension.objects.filter(status=Extension.Status.ACTIVE).count()
        if active != args.count or len(registry.names()) != args.count:
            raise SystemExit(f"after load: {active} rows active, {len(registry.names())} in the registry")
        start = time.perf_counter()
        for name in names:
            began = time.perf_counter()
            extension_unload(name=name)
            unload_calls.append(time.perf_counter() - began)
        unload_totals.append(time.perf_counter() - start)
        if registry.names() or Extension.objects.filter(status=Extension.Status.ACTIVE).exists():
            raise SystemExit("after unload something is still active")

    plain_root = _common.temp_dir("karen-bench-plain-")
    sys.path.insert(0, str(plain_root))
    sys.dont_write_bytecode = True  # like the core loader: compiled from source every time
    raw = [raw_round(plain_root, args.count, number) for number in range(rounds)]
    sys.dont_write_bytecode = False
    loader = [loader_round(root, names, revision=1000 + number) for number in range(rounds)]

    load_med, unload_med = _common.median(load_totals), _common.median(unload_totals)
    raw_load, raw_unload = _common.median(r[0] for r in raw), _common.median(r[1] for r in raw)
    loader_load, loader_unload = _common.median(r[0] for r in loader), _common.median(r[1] for r in loader)
    n = args.count
    scale = 100 / n

    print(f"Lifecycle benchmark ({_common.machine()}): {n} trivial extensions, {rounds} round(s), "
          f"median of rounds; discover(load_new=False) of {n} took {discover_seconds:.3f} s\n")  # fmt: skip
    rows = [
        [f"core extension_load x{n}", f"{load_med:.3f} s", f"{1000 * load_med / n:.2f} ms",
         f"p50 {_common.ms(_common.percentile(load_calls, .5))} / "
         f"p99 {_common.ms(_common.percentile(load_calls, .99))}",
         f"{load_med / raw_load:,.0f}x", f"<= {TARGET_SECONDS:g} s", _common.verdict(load_med * scale, TARGET_SECONDS)],
        [f"core extension_unload x{n}", f"{unload_med:.3f} s", f"{1000 * unload_med / n:.2f} ms",
         f"p50 {_common.ms(_common.percentile(unload_calls, .5))} / "
         f"p99 {_common.ms(_common.percentile(unload_calls, .99))}",
         f"{unload_med / raw_unload:,.0f}x", f"<= {TARGET_SECONDS:g} s",
         _common.verdict(unload_med * scale, TARGET_SECONDS)],
        [f"core loader only, load_extension x{n} (no DB)", f"{loader_load:.3f} s", f"{1000 * loader_load / n:.2f} ms",
         "", f"{loader_load / raw_load:,.0f}x", "", ""],
        [f"core loader only, unload_extension x{n} (no DB)", f"{loader_unload:.3f} s",
         f"{1000 * loader_unload / n:.2f} ms", "", f"{loader_unload / raw_unload:,.0f}x", "", ""],
        [f"raw importlib import + instantiate + initialize x{n}", f"{raw_load:.4f} s",
         f"{1000 * raw_load / n:.3f} ms", "", "1x", "", ""],
        [f"raw del sys.modules x{n}", f"{raw_unload:.5f} s", f"{1000 * raw_unload / n:.4f} ms", "", "1x", "", ""],
    ]  # fmt: skip
    _common.table(rows, ["measure", "total", "per extension", "per call", "vs raw", "target", "verdict"])
    print(f"\nrounds: load {', '.join(f'{t:.3f}' for t in load_totals)} s; "
          f"unload {', '.join(f'{t:.3f}' for t in unload_totals)} s")  # fmt: skip
    _common.result(
        {
            "bench": "lifecycle",
            "extensions": n,
            "rounds": rounds,
            "load_total_s": round(load_med, 4),
            "unload_total_s": round(unload_med, 4),
            "load_per_ext_ms": round(1000 * load_med / n, 3),
            "unload_per_ext_ms": round(1000 * unload_med / n, 3),
            "load_call_p99_ms": round(1000 * _common.percentile(load_calls, 0.99), 3),
            "unload_call_p99_ms": round(1000 * _common.percentile(unload_calls, 0.99), 3),
            "loader_only_load_total_s": round(loader_load, 4),
            "loader_only_unload_total_s": round(loader_unload, 4),
            "raw_import_total_s": round(raw_load, 5),
            "raw_unimport_total_s": round(raw_unload, 6),
            "ratio_load_vs_raw": round(load_med / raw_load, 1),
            "ratio_unload_vs_raw": round(unload_med / raw_unload, 1),
            "discover_100_s": round(discover_seconds, 4),
            "target_s": TARGET_SECONDS,
            "verdict_load": _common.verdict(load_med * scale, TARGET_SECONDS),
            "verdict_unload": _common.verdict(unload_med * scale, TARGET_SECONDS),
        }
    )


if __name__ == "__main__":
    main()
