from extensions_core.sdk import BaseExtension


class DepChildExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
