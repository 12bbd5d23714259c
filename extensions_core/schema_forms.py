"""Django forms built from the JSON Schema of an object: a task's parameters, an extension's settings.

One field per property: its type, default, enum, bounds, required flag and
description (as help text). What a plain field cannot hold (nested objects,
arrays of objects, several types) is a JSON text field. After the fields
clean, the whole value is checked against the schema itself, and each
finding is shown on the field it is about, so the form never accepts what
the service would refuse.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.core.validators import RegexValidator

from extensions_core.validation import schema_findings

SCALAR_TYPES = ("string", "integer", "number", "boolean")


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [item for item in declared if isinstance(item, str)]
    if "enum" in schema and all(isinstance(item, str) for item in schema["enum"]):
        return ["string"]
    return []


class JSONValueField(forms.JSONField):
    """Any JSON value typed as text; an empty box means "not given"."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "cols": 60, "class": "cr-mono"}))
        super().__init__(**kwargs)


class LinesField(forms.CharField):
    """An array of scalars, one item per line, each converted to the item type."""

    def __init__(self, *, item_type: str, **kwargs: Any) -> None:
        self.item_type = item_type
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "cols": 40}))
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> list[Any] | None:
        text = super().to_python(value)
        if not text:
            return None
        # Only line breaks a text box makes split items (str.splitlines also splits at \f, \x1c, ...).
        items = [line.strip() for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
        converted = []
        for number, item in enumerate(items, start=1):
            try:
                converted.append(_convert(item, self.item_type))
            except ValueError as error:
                raise forms.ValidationError(f"line {number}: {error}") from error
        return converted

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(json.dumps(item) if not isinstance(item, str) else item for item in value)
        return value


def _convert(text: str, item_type: str) -> Any:
    if item_type == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f'"{text}" is not a whole number') from None
    if item_type == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f'"{text}" is not a number') from None
    if item_type == "boolean":
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError(f'"{text}" is not true or false')
    return text


def _choices(values: list[Any], *, required: bool) -> list[tuple[str, str]]:
    choices = [(json.dumps(value), str(value) if isinstance(value, str) else json.dumps(value)) for value in values]
    return choices if required else [("", "—"), *choices]


def schema_field(schema: dict[str, Any], *, required: bool) -> forms.Field:
    """Return the form field for one property *schema*."""
    schema = schema if isinstance(schema, dict) else {}
    help_text = str(schema.get("description", ""))
    label = schema.get("title")
    common: dict[str, Any] = {"required": required, "help_text": help_text}
    if label:
        common["label"] = label
    if "default" in schema:
        common["initial"] = schema["default"]
    types = [item for item in _types(schema) if item != "null"]
    kind = types[0] if len(types) == 1 else None
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        field = forms.TypedChoiceField(
            choices=_choices(schema["enum"], required=required),
            coerce=json.loads,
            empty_value=None,
            **common,
        )
        if "default" in schema:
            field.initial = json.dumps(schema["default"])
        return field
    if kind == "string":
        validators = [RegexValidator(schema["pattern"])] if isinstance(schema.get("pattern"), str) else []
        return forms.CharField(
            max_length=schema.get("maxLength"),
            min_length=schema.get("minLength"),
            validators=validators,
            empty_value=None,
            strip=False,
            **common,
        )
    if kind == "integer":
        return forms.IntegerField(min_value=schema.get("minimum"), max_value=schema.get("maximum"), **common)
    if kind == "number":
        return forms.FloatField(min_value=schema.get("minimum"), max_value=schema.get("maximum"), **common)
    if kind == "boolean":
        # A checkbox: unticked is the value false, so it is never "missing".
        return forms.BooleanField(**{**common, "required": False})
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    item_types = [item for item in _types(items) if item != "null"]
    if kind == "array" and isinstance(items.get("enum"), list) and items["enum"]:
        field = forms.TypedMultipleChoiceField(
            choices=_choices(items["enum"], required=True),
            coerce=json.loads,
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
        if isinstance(schema.get("default"), list):
            field.initial = [json.dumps(value) for value in schema["default"]]
        return field
    if kind == "array" and len(item_types) == 1 and item_types[0] in SCALAR_TYPES:
        return LinesField(item_type=item_types[0], **{**common, "help_text": _joined(help_text, "One item per line.")})
    return JSONValueField(**{**common, "help_text": _joined(help_text, f"JSON ({_shape(schema)}).")})


def _joined(first: str, second: str) -> str:
    return f"{first} {second}".strip() if first else second


def _shape(schema: dict[str, Any]) -> str:
    types = _types(schema)
    return " or ".join(types) if types else "any value"


class SchemaForm(forms.Form):
    """A form of one JSON Schema object; `value()` is the object it describes once valid.

    Fields are named after the properties (any name, even one a form method
    has). A boolean is a checkbox, always part of the value (unticked: false).
    """

    def __init__(self, schema: dict[str, Any] | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema if isinstance(schema, dict) else {}
        properties = self.schema.get("properties")
        required = set(self.schema.get("required") or [])
        for key, value in (properties if isinstance(properties, dict) else {}).items():
            self.fields[key] = schema_field(value, required=key in required)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        for path, message in schema_findings(self.schema, self.value()):
            key = path[0] if path and isinstance(path[0], str) and path[0] in self.fields else None
            self.add_error(key, message)
        return data

    def value(self) -> dict[str, Any]:
        """Return the object: the given values; an empty optional field is left out."""
        result = {}
        for name, field in self.fields.items():
            given = self.cleaned_data.get(name)
            if isinstance(field, forms.BooleanField):
                result[name] = bool(given)
            elif given is not None and given != []:
                result[name] = given
        return result

    def show_errors(self, problems: Any) -> None:
        """Put service problems (ManifestProblem with fields like "parameters.count") on their fields."""
        for problem in problems:
            parts = str(problem.field).split(".")
            key = parts[1] if len(parts) > 1 and parts[1] in self.fields else None
            self.add_error(key, problem.message)
