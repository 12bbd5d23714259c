"""The API's JSON request parser: strict JSON, bounded in size and depth, with values every database can store.

Whatever a client sends, the answer is a 4xx with the API's error body and the
field at fault: a body past the size cap (413), nesting past the depth cap,
text that is not UTF-8 or not JSON, NaN or Infinity, lone surrogates and NUL
characters, keys given twice (400). Nothing malformed reaches a view.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from extensions_core.exceptions import ManifestProblem, TaskInputError
from extensions_core.validation import MAX_REQUEST_DEPTH, json_problems, nesting_depth, plain, strict_loads


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def body_limit() -> int:
    """The largest request body accepted, in bytes (Django's DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440


def too_large_message(limit: int) -> str:
    return f"The request body is larger than {limit} bytes; send less (KAREN_MAX_REQUEST_BYTES sets the limit)."


class StrictJSONParser(BaseParser):
    """application/json, parsed strictly (see the module docstring)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        limit = body_limit()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(too_large_message(limit))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ParseError(f"The request body is not UTF-8 (byte {error.start}).") from None
        depth = nesting_depth(text)
        if depth > MAX_REQUEST_DEPTH:
            raise ParseError(
                f"The request body nests objects and arrays {depth} levels deep; at most {MAX_REQUEST_DEPTH}."
            )
        try:
            data = strict_loads(text)
        except json.JSONDecodeError as error:
            where = f"line {error.lineno}, column {error.colno}"
            raise ParseError(f"The request body is not JSON: {error.msg} at {where}.") from None
        problems = json_problems(data, code="invalid_input")
        if problems:
            raise TaskInputError(
                "; ".join(str(problem) for problem in problems),
                code="invalid_input",
                problems=tuple(_body_field(problem) for problem in problems),
            )
        return plain(data)


def _body_field(problem: ManifestProblem) -> ManifestProblem:
    return problem if problem.field else ManifestProblem("(body)", problem.code, problem.message)
