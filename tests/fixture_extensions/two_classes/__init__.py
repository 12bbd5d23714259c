from extensions_core.sdk import BaseExtension


class FirstExtension(BaseExtension):
    pass


class SecondExtension(BaseExtension):
    pass
