"""Ships modules named like real ones; they must never shadow them."""

import importlib
import json
import os

from extensions_core.sdk import BaseExtension

own_os = importlib.import_module(f"{__name__}.os")


class ShadowAttemptExtension(BaseExtension):
    def initialize(self):
        self.real_os_file = os.__file__
        self.real_json_dumps = json.dumps({"ok": True})
        self.own_os_marker = own_os.MARKER
