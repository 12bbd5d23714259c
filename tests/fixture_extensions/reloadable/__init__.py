from extensions_core.sdk import BaseExtension

MARK = "one"


class ReloadableExtension(BaseExtension):
    def initialize(self):
        self.mark = MARK
