from extensions_core.sdk import BaseExtension, route


class WithRoutesExtension(BaseExtension):
    @route("/items", methods=["GET", "POST"])
    def items(self, request):
        return {"items": []}

    @route("/items/{item_id}", methods=["GET"])
    def item(self, request, item_id):
        return {"id": item_id}
