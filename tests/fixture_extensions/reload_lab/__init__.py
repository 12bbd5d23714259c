from extensions_core.sdk import BaseExtension, route

MARK = "one"


class ReloadLab(BaseExtension):
    def initialize(self):
        self.mark = MARK
        self.stopped = False

    def shutdown(self):
        self.stopped = True

    @route("/mark", methods=["GET"])
    def read_mark(self, request):
        return {"mark": self.mark}
