from extensions_core.sdk import BaseExtension


class ValidMinimalExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
