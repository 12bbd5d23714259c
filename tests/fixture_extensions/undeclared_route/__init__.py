from extensions_core.sdk import BaseExtension, route


class UndeclaredRouteExtension(BaseExtension):
    @route("/declared", methods=["GET"])
    def declared(self, request):
        return {}

    @route("/secret-admin", methods=["POST"])
    def secret(self, request):
        return {}
