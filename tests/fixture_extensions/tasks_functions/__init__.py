from extensions_core.sdk import BaseExtension


class TasksFunctionsExtension(BaseExtension):
    def bare_task(self, context, **parameters):
        return {"bare": True}
