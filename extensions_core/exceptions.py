"""`ExtensionError` and its subclasses, each with a stable `code`.

The message is written once, here, for the person who must fix the problem;
other layers (CLI, admin, API) translate the shape, never the words.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ManifestProblem:
    """One problem found in a manifest: where (a JSON path), what (a code), and how to fix it."""

    field: str
    code: str
    message: str
    is_warning: bool = False

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class ExtensionError(Exception):
    """Base of every domain error; `code` never changes meaning."""

    code = "extension_error"

    def __init__(
        self,
        message: str,
        *,
        extension: str | None = None,
        code: str | None = None,
        problems: tuple[ManifestProblem, ...] = (),
    ) -> None:
        self.extension = extension
        self.problems = tuple(problems)
        if code is not None:
            self.code = code
        self.message = f'Extension "{extension}": {message}' if extension else message
        super().__init__(self.message)

    def as_dict(self) -> dict:
        body: dict = {"code": self.code, "message": self.message}
        if self.problems:
            body["problems"] = [problem.as_dict() for problem in self.problems]
        return body


class ManifestError(ExtensionError):
    """The manifest cannot be read or does not validate; `problems` lists every finding."""

    code = "manifest_invalid"

    def __init__(
        self,
        problems: tuple[ManifestProblem, ...] | list[ManifestProblem],
        *,
        extension: str | None = None,
        source: str = "extension.json",
    ) -> None:
        problems = tuple(problems)
        lines = [f"{source}: {problem}" for problem in problems]
        if len(lines) == 1:
            message = lines[0]
        else:
            message = f"{source} has {len(lines)} problems:\n" + "\n".join(f"  - {problem}" for problem in problems)
        code = problems[0].code if len(problems) == 1 else None
        super().__init__(message, extension=extension, code=code, problems=problems)


class ExtensionNotFoundError(ExtensionError):
    """No extension with that name is known (or it is invisible to the caller)."""

    code = "extension_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(
            "no such extension; run `manage.py extensions discover` to rescan the extension "
            "directories and installed packages",
            extension=name,
        )


class TaskNotFoundError(ExtensionError):
    """No such task definition (or it is invisible to the caller)."""

    code = "task_not_found"

    def __init__(self, extension: str, task: str) -> None:
        super().__init__(f'has no task "{task}"', extension=extension)


class ExtensionStateError(ExtensionError):
    """The action is not possible in the extension's current state (HTTP 409)."""

    code = "extension_wrong_state"


class ExtensionDependencyError(ExtensionError):
    """A dependency is missing, disabled, of an incompatible version, failing, or cyclic."""

    code = "extension_dependency_error"


class ExtensionLoadError(ExtensionError):
    """Importing, constructing or initializing the extension failed; `traceback` keeps the cause."""

    code = "extension_load_failed"

    def __init__(self, message: str, *, extension: str, code: str | None = None, traceback: str = "") -> None:
        super().__init__(message, extension=extension, code=code)
        self.traceback = traceback


class ExtensionConflictError(ExtensionError):
    """Two extension packages claim the same name; the one already known wins."""

    code = "extension_duplicate_name"


class RegistryNotReadyError(ExtensionError):
    """The in-process registry was used before it synchronised with the database."""

    code = "registry_not_ready"


class ExecutionNotFoundError(ExtensionError):
    """No execution with that id (or it is invisible to the caller)."""

    code = "execution_not_found"

    def __init__(self, execution_id: str) -> None:
        super().__init__(f'no execution "{execution_id}"')


class TriggerNotFoundError(ExtensionError):
    """No event trigger with that id (or it is invisible to the caller)."""

    code = "trigger_not_found"

    def __init__(self, trigger_id: object) -> None:
        super().__init__(f"no event trigger {trigger_id}")


class TaskStateError(ExtensionError):
    """The task or execution cannot do that now: disabled task, inactive extension, finished execution (409)."""

    code = "task_wrong_state"


class TaskInputError(ExtensionError):
    """Parameters, event data, a filter or a schedule are not acceptable (400); `problems` says where."""

    code = "invalid_input"


class DashboardLayoutError(ExtensionError):
    """A change of a viewer's dashboard layout names a widget they do not have, or an unknown action."""

    code = "dashboard_layout_invalid"
