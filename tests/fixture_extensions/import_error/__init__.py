"""Fails at import: a dependency it needs is not installed."""

import karen_tests_module_that_does_not_exist  # noqa: F401

from extensions_core.sdk import BaseExtension


class ImportErrorExtension(BaseExtension):
    pass
