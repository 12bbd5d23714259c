"""A second platform process for propagation tests: syncs its registry as a web process does per request.

Prints one JSON line whenever its registry changes: {"at": epoch seconds, "loaded": {name: revision}}.
Exits after the number of seconds given as its argument.
"""

import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "karen.settings")
django.setup()

from extensions_core.registry import registry  # noqa: E402
from extensions_core.services import registry_sync  # noqa: E402

deadline = time.monotonic() + float(sys.argv[1] if len(sys.argv) > 1 else 60)
last = None
while time.monotonic() < deadline:
    registry_sync()
    snapshot = registry.snapshot()
    if snapshot != last:
        print(json.dumps({"at": time.time(), "loaded": snapshot}), flush=True)
        last = snapshot
    time.sleep(0.002)
