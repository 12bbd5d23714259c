"""Ships modules named like real ones (os.py, json.py); they must never shadow them."""

import importlib
import json
import os
import sys

from extensions_core.sdk import BaseExtension

REAL_OS_FILE = os.__file__
REAL_JSON_DUMPS = json.dumps({"ok": True})
OWN_OS = importlib.import_module(f"{__name__}.os")


class ShadowAttemptExtension(BaseExtension):
    def initialize(self):
        self.real_os_file = REAL_OS_FILE
        self.real_json_dumps = REAL_JSON_DUMPS
        self.own_os_marker = OWN_OS.MARKER
        self.os_in_sys_modules = sys.modules["os"].__file__
