from extensions_core.sdk import BaseExtension


class TaskFunctionMissingExtension(BaseExtension):
    def initialize(self):
        self.initialized = True
