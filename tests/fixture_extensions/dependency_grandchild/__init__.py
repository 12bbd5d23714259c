from extensions_core.sdk import BaseExtension


class DepGrandchildExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
