from extensions_core.sdk import BaseExtension


class DepBaseExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
