from extensions_core.sdk import BaseExtension


class InitializeRaisesExtension(BaseExtension):
    def initialize(self):
        raise RuntimeError("database unreachable")
