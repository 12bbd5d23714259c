from extensions_core.sdk import BaseExtension


class DepMissingExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
