from extensions_core.sdk import BaseExtension


class DepNeedsV2Extension(BaseExtension):
    def initialize(self):
        self.initialized = True
