from extensions_core.sdk import BaseExtension


class ShutdownRaisesExtension(BaseExtension):
    def shutdown(self):
        raise RuntimeError("could not close the connection pool")
