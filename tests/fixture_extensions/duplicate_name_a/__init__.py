from extensions_core.sdk import BaseExtension


class DuplicateAExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
