"""Per-request cost of the extension change check (RegistrySyncMiddleware / registry_sync()).

    cd /work/main && .venv/bin/python bench/change_check.py [--quick]

Serves a trivial view (a ROOT_URLCONF module made by this script) through
django.test.Client, many thousands of requests, interleaved in blocks:
the project's full MIDDLEWARE with and without
`extensions_core.middleware.RegistrySyncMiddleware`, and a bare stack of that
middleware alone vs no middleware at all. The difference of the medians is the
per-request cost of the check. Then `registry_sync()` is timed directly:
when the check interval has not elapsed (the per-request common case) and
when a check is due (`registry.last_checked = float("-inf")` first: one read
of the shared generation), side by side with the raw reads underneath (the
ORM query of the generation and a bare cursor SELECT). Target: <= 0.2 ms
median per request. Figures at the default interval (0.2 s).
"""

from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

TARGET_MS = 0.2
SYNC = "extensions_core.middleware.RegistrySyncMiddleware"
URLCONF = "karen_bench_change_check_urls"
BLOCK = 250


def install_urlconf() -> None:
    """Register a urls module with one trivial view at /ping/."""
    from django.http import HttpResponse
    from django.urls import path

    def ping(request):
        return HttpResponse(b"ok", content_type="text/plain")

    module = types.ModuleType(URLCONF)
    module.urlpatterns = [path("ping/", ping)]
    sys.modules[URLCONF] = module


def make_client(middleware: list[str]):
    """Return a test Client whose middleware chain is built from *middleware* (and warmed up)."""
    from django.conf import settings
    from django.test import Client

    settings.MIDDLEWARE = middleware
    client = Client()
    response = client.get("/ping/")
    if response.status_code != 200:
        raise SystemExit(f"GET /ping/ answered {response.status_code} with middleware {middleware}")
    return client


def time_requests(clients: dict[str, object], per_config: int) -> dict[str, list[float]]:
    """Interleave blocks of requests over *clients*; return each one's per-request seconds."""
    samples: dict[str, list[float]] = {label: [] for label in clients}
    clock = time.perf_counter_ns
    while any(len(values) < per_config for values in samples.values()):
        for label, client in clients.items():
            values = samples[label]
            for _ in range(min(BLOCK, per_config - len(values))):
                start = clock()
                client.get("/ping/")
                values.append((clock() - start) / 1e9)
    return samples


def time_calls(function, before, count: int) -> list[float]:
    """Call *before()* untimed then *function()* timed, *count* times; return seconds per call."""
    clock = time.perf_counter_ns
    values = []
    for _ in range(count):
        before()
        start = clock()
        function()
        values.append((clock() - start) / 1e9)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3,000 requests per stack instead of 20,000")
    args = parser.parse_args()
    per_config = 3000 if args.quick else 20000
    common_calls = 50000 if args.quick else 200000
    due_calls = 3000 if args.quick else 20000

    import os

    os.environ.pop("KAREN_CHANGE_CHECK_INTERVAL_SECONDS", None)
    _common.setup_django()
    from django.conf import settings
    from django.db import connection

    from extensions_core.registry import registry
    from extensions_core.services import registry_generation, registry_generation_bump, registry_sync

    install_urlconf()
    settings.ROOT_URLCONF = URLCONF
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    interval = float(settings.EXTENSIONS.get("CHANGE_CHECK_INTERVAL_SECONDS", 0.2))
    registry_generation_bump()  # a marker row exists, as in any running platform

    full = list(settings.MIDDLEWARE)
    if SYNC not in full:
        raise SystemExit(f"{SYNC} is not in settings.MIDDLEWARE; nothing to compare")
    stacks = {
        "full MIDDLEWARE, with sync": full,
        "full MIDDLEWARE, without sync": [item for item in full if item != SYNC],
        "bare: sync middleware only": [SYNC],
        "bare: no middleware": [],
    }
    clients = {label: make_client(middleware) for label, middleware in stacks.items()}
    settings.MIDDLEWARE = full
    started = time.perf_counter()
    samples = time_requests(clients, per_config)
    request_seconds = time.perf_counter() - started

    # Direct calls of registry_sync().
    registry_sync(force=True)
    not_due = time_calls(registry_sync, lambda: setattr(registry, "last_checked", time.monotonic()), common_calls)
    due = time_calls(registry_sync, lambda: setattr(registry, "last_checked", float("-inf")), due_calls)
    orm_read = time_calls(registry_generation, lambda: None, due_calls)
    cursor = connection.cursor()
    table = "extensions_core_registrystate"
    bare_select = time_calls(
        lambda: cursor.execute(f"SELECT generation FROM {table} WHERE id = %s", [1]).fetchone(), lambda: None, due_calls
    )
    monotonic = time_calls(time.monotonic, lambda: None, common_calls)

    def stats(values: list[float]) -> tuple[float, float]:
        return _common.median(values), _common.percentile(values, 0.99)

    med = {label: stats(values) for label, values in samples.items()}
    full_cost = med["full MIDDLEWARE, with sync"][0] - med["full MIDDLEWARE, without sync"][0]
    bare_cost = med["bare: sync middleware only"][0] - med["bare: no middleware"][0]
    direct = {
        "registry_sync(), interval not elapsed": stats(not_due),
        "registry_sync(), check due (reads the generation)": stats(due),
        "raw: registry_generation() ORM query": stats(orm_read),
        "raw: cursor SELECT generation (Django cursor)": stats(bare_select),
        "raw: time.monotonic()": stats(monotonic),
    }

    print(f"Change-check benchmark ({_common.machine()}): {per_config:,} requests per stack through "
          f"django.test.Client, interleaved in blocks of {BLOCK} ({request_seconds:.1f} s); check interval "
          f"{interval:g} s (default); SQLite WAL\n")  # fmt: skip
    rows = []
    for label, (median_s, p99_s) in med.items():
        rows.append([label, f"{median_s * 1e3:.4f}", f"{p99_s * 1e3:.4f}", f"{1 / median_s:,.0f}"])
    _common.table(rows, ["per request (ms)", "median", "p99", "req/s at median"])
    print()
    verdict_full = _common.verdict(full_cost * 1e3, TARGET_MS)
    verdict_bare = _common.verdict(bare_cost * 1e3, TARGET_MS)
    verdict_direct = _common.verdict(direct["registry_sync(), interval not elapsed"][0] * 1e3, TARGET_MS)
    ratio_full = med["full MIDDLEWARE, with sync"][0] / med["full MIDDLEWARE, without sync"][0]
    ratio_bare = med["bare: sync middleware only"][0] / med["bare: no middleware"][0]
    _common.table(
        [
            ["difference of medians, full MIDDLEWARE", f"{full_cost * 1e3:.4f}", "", f"{ratio_full:.3f}x",
             f"<= {TARGET_MS:g}", verdict_full],
            ["difference of medians, bare stack", f"{bare_cost * 1e3:.4f}", "", f"{ratio_bare:.3f}x",
             f"<= {TARGET_MS:g}", verdict_bare],
        ]
        + [
            [label, f"{values[0] * 1e3:.4f}", f"{values[1] * 1e3:.4f}", "", *(
                (f"<= {TARGET_MS:g}", verdict_direct) if label.endswith("not elapsed") else ("", ""))]
            for label, values in direct.items()
        ],
        ["cost of the check (ms)", "median", "p99", "with / without", "target", "verdict"],
    )  # fmt: skip
    due_median = direct["registry_sync(), check due (reads the generation)"][0]
    print(f"\nA due check runs at most once per {interval:g} s per process: at most "
          f"{due_median / interval * 100:.4f}% of one core, whatever the request rate.")  # fmt: skip
    _common.result(
        {
            "bench": "change_check",
            "requests_per_stack": per_config,
            "check_interval_s": interval,
            "request_median_ms": {label: round(values[0] * 1e3, 4) for label, values in med.items()},
            "request_p99_ms": {label: round(values[1] * 1e3, 4) for label, values in med.items()},
            "cost_full_stack_median_diff_ms": round(full_cost * 1e3, 4),
            "cost_bare_stack_median_diff_ms": round(bare_cost * 1e3, 4),
            "sync_not_due_median_ms": round(direct["registry_sync(), interval not elapsed"][0] * 1e3, 5),
            "sync_not_due_p99_ms": round(direct["registry_sync(), interval not elapsed"][1] * 1e3, 5),
            "sync_due_median_ms": round(due_median * 1e3, 4),
            "sync_due_p99_ms": round(direct["registry_sync(), check due (reads the generation)"][1] * 1e3, 4),
            "raw_orm_generation_median_ms": round(direct["raw: registry_generation() ORM query"][0] * 1e3, 4),
            "raw_cursor_select_median_ms": round(direct["raw: cursor SELECT generation (Django cursor)"][0] * 1e3, 4),
            "ratio_full_with_vs_without": round(ratio_full, 4),
            "target_ms": TARGET_MS,
            "verdict_full_stack": verdict_full,
            "verdict_direct": verdict_direct,
        }
    )


if __name__ == "__main__":
    main()
