"""UI lab: pages and widgets for the control room tests (one of each failure mode)."""

import time

from extensions_core.sdk import BaseExtension, page, widget


class UiLab(BaseExtension):
    def initialize(self):
        self.renders = 0

    @page("/lab")
    def lab_page(self, request):
        self.renders += 1
        return {"renders": self.renders, "who": request.user.get_username()}

    @page("/broken")
    def broken_page(self, request):
        raise RuntimeError("the lab page broke")

    @widget("counter")
    def counter(self, request):
        self.renders += 1
        return {"renders": self.renders}

    @widget("raises")
    def raises(self, request):
        raise ValueError("widget exploded")

    @widget("hangs")
    def hangs(self, request):
        time.sleep(float(request.GET.get("sleep", "30")))
        return {}

    @widget("not-a-dict")
    def not_a_dict(self, request):
        return ["a", "list"]

    def typed(self, context, **parameters):
        return {"got": parameters}
