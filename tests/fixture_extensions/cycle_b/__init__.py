from extensions_core.sdk import BaseExtension


class CycleBExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
