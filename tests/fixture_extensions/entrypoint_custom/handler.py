from extensions_core.sdk import BaseExtension

from . import helpers


class MainExtension(BaseExtension):
    def initialize(self):
        self.answer = helpers.answer()
