from extensions_core.sdk import BaseExtension


class CycleAExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
