import time

from extensions_core.sdk import BaseExtension


class InitializeHangsExtension(BaseExtension):
    def initialize(self):
        time.sleep(30)
