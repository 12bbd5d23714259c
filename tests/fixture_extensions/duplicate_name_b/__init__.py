from extensions_core.sdk import BaseExtension


class DuplicateBExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
