"""Reading extension.json from disk: files the platform refuses before trusting them, and those it accepts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from extensions_core.manifest import ManifestError, read_manifest
from tests.conftest import base_manifest

DEFAULT_MAX_BYTES = 256 * 1024


def extension_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "ext"
    folder.mkdir()
    return folder


def write_manifest(folder: Path, content: str | bytes) -> Path:
    path = folder / "extension.json"
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def manifest_text(**changes) -> str:
    return json.dumps(base_manifest(**changes), indent=2)


def padded_manifest(size: int) -> str:
    """A valid manifest of exactly *size* bytes (whitespace padding before the closing brace)."""
    text = manifest_text()
    return text[:-1] + " " * (size - len(text)) + "}"


def refusal(path: Path, **options) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        read_manifest(path, **options)
    return caught.value


def only_problem(error: ManifestError):
    (problem,) = error.problems
    return problem


def test_missing_folder_is_refused_as_not_found(tmp_path: Path):
    error = refusal(tmp_path / "ext")

    problem = only_problem(error)
    assert (problem.field, problem.code) == ("", "manifest_not_found")
    assert error.code == "manifest_not_found"
    assert "does not exist" in problem.message


def test_folder_without_extension_json_is_refused_as_not_found(tmp_path: Path):
    folder = extension_folder(tmp_path)
    (folder / "__init__.py").write_text("", encoding="utf-8")

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_not_found")
    assert "no extension.json in" in problem.message
    assert "every extension folder needs one" in problem.message


def test_valid_manifest_is_read_from_the_folder_or_from_extension_json_itself(tmp_path: Path):
    folder = extension_folder(tmp_path)
    path = write_manifest(folder, manifest_text())

    from_folder = read_manifest(folder)
    from_file = read_manifest(path)

    assert from_folder.name == from_file.name == "sample-extension"


def test_file_over_max_bytes_is_refused_as_too_large(tmp_path: Path):
    folder = extension_folder(tmp_path)
    write_manifest(folder, padded_manifest(1025))

    problem = only_problem(refusal(folder, max_bytes=1024))

    assert (problem.field, problem.code) == ("", "manifest_too_large")
    assert "extension.json is 1025 bytes; the limit is 1024 bytes" in problem.message


def test_file_of_exactly_max_bytes_is_accepted(tmp_path: Path):
    folder = extension_folder(tmp_path)
    write_manifest(folder, padded_manifest(1024))

    manifest = read_manifest(folder, max_bytes=1024)

    assert manifest.name == "sample-extension"


def test_file_over_the_default_cap_of_256_kib_is_refused_as_too_large(tmp_path: Path):
    folder = extension_folder(tmp_path)
    write_manifest(folder, padded_manifest(DEFAULT_MAX_BYTES + 1))

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_too_large")
    assert f"the limit is {DEFAULT_MAX_BYTES} bytes" in problem.message


def test_nesting_past_max_depth_is_refused_as_too_deep(tmp_path: Path):
    folder = extension_folder(tmp_path)
    nested = "[" * 40 + "]" * 40
    write_manifest(folder, manifest_text()[:-1] + f', "marketplace": {{"x": {nested}}}}}')

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_too_deep")
    assert "nests objects and arrays 42 levels deep; the limit is 32" in problem.message


def test_top_level_nesting_of_40_arrays_is_refused_before_parsing(tmp_path: Path):
    folder = extension_folder(tmp_path)
    write_manifest(folder, "[" * 40 + "]" * 40)

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_too_deep")


def test_nesting_of_exactly_max_depth_is_accepted(tmp_path: Path):
    folder = extension_folder(tmp_path)
    write_manifest(folder, manifest_text(marketplace={"listing": {"price": 0}}))

    manifest = read_manifest(folder, max_depth=3)

    assert manifest.document["marketplace"] == {"listing": {"price": 0}}
    assert only_problem(refusal(folder, max_depth=2)).code == "manifest_too_deep"


def test_brackets_inside_json_strings_do_not_count_towards_depth(tmp_path: Path):
    folder = extension_folder(tmp_path)
    description = 'Quotes \\" and brackets ' + "[{" * 40 + " never nest."
    write_manifest(folder, manifest_text(description=description))

    manifest = read_manifest(folder, max_depth=1)

    assert manifest.description == description


@pytest.mark.timeout(10)
def test_fifo_named_extension_json_is_refused_without_hanging(tmp_path: Path):
    folder = extension_folder(tmp_path)
    os.mkfifo(folder / "extension.json")

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_not_regular_file")
    assert "is not a regular file" in problem.message


def test_directory_named_extension_json_is_refused_as_not_a_regular_file(tmp_path: Path):
    folder = extension_folder(tmp_path)
    (folder / "extension.json").mkdir()

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_not_regular_file")
    assert "it must be a plain JSON file" in problem.message


def test_symlink_to_a_file_outside_the_folder_is_refused(tmp_path: Path):
    folder = extension_folder(tmp_path)
    outside = tmp_path / "elsewhere.json"
    outside.write_text(manifest_text(), encoding="utf-8")
    (folder / "extension.json").symlink_to(outside)

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_outside_root")
    assert f"is a symlink to {outside.resolve()}, outside the extension folder" in problem.message


def test_symlink_to_a_file_inside_the_folder_is_accepted(tmp_path: Path):
    folder = extension_folder(tmp_path)
    (folder / "manifests").mkdir()
    (folder / "manifests" / "real.json").write_text(manifest_text(name="linked-ext"), encoding="utf-8")
    (folder / "extension.json").symlink_to(Path("manifests") / "real.json")

    manifest = read_manifest(folder)

    assert manifest.name == "linked-ext"


def test_invalid_json_is_refused_with_its_line_and_column(tmp_path: Path):
    folder = extension_folder(tmp_path)
    write_manifest(folder, '{\n  "name": "sample-extension",\n  "version": 1.0.0\n}\n')

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_invalid_json")
    assert problem.message.startswith("extension.json is not valid JSON: ")
    assert "at line 3, column 17" in problem.message


def test_non_utf8_bytes_are_refused_as_invalid_encoding(tmp_path: Path):
    folder = extension_folder(tmp_path)
    write_manifest(folder, manifest_text(author="Zoe").encode("utf-8").replace(b"Zoe", b"Zo\xe9"))

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_invalid_encoding")
    assert "extension.json is not UTF-8 (byte " in problem.message
    assert "save it as UTF-8" in problem.message


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path):
    folder = extension_folder(tmp_path)
    write_manifest(folder, b"\xef\xbb\xbf" + manifest_text(author="Zoë").encode("utf-8"))

    manifest = read_manifest(folder)

    assert manifest.author == "Zoë"


def test_top_level_json_array_is_refused_as_not_an_object(tmp_path: Path):
    folder = extension_folder(tmp_path)
    write_manifest(folder, json.dumps([base_manifest()]))

    problem = only_problem(refusal(folder))

    assert (problem.field, problem.code) == ("", "manifest_not_object")
    assert '"(manifest)" must be an object (got an array' in problem.message


@pytest.mark.timeout(20)
def test_an_unterminated_string_of_escaped_quotes_is_refused_in_linear_time(tmp_path):
    folder = tmp_path / "ext"
    folder.mkdir()
    (folder / "extension.json").write_text('"' + '\\"' * 120_000)

    with pytest.raises(ManifestError) as caught:
        read_manifest(folder)

    assert caught.value.code == "manifest_invalid_json"


STRICT_JSON_CASES = [
    ('"homepage": NaN', "homepage", "finite number"),
    ('"homepage": Infinity', "homepage", "finite number"),
    ('"homepage": -Infinity', "homepage", "finite number"),
    ('"homepage": 1e999', "homepage", "finite number"),
    ('"homepage": ' + "7" * 5000, "homepage", "at most 64 digits"),
    ('"repository": "A\\u0000B"', "repository", "NUL character"),
    ('"repository": "A\\ud800B"', "repository", "lone surrogate"),
    ('"tags": ["ok", "bad\\udfff"]', "tags[1]", "lone surrogate"),
    ('"settings": {"x\\u0000y": 1}', "settings.x\x00y", "NUL character"),
    ('"license": "MIT", "license": "GPL"', "license", "given twice"),
]


@pytest.mark.parametrize(("insert", "field", "fragment"), STRICT_JSON_CASES)
def test_what_strict_json_forbids_is_refused_with_its_path(tmp_path: Path, insert, field, fragment):
    folder = extension_folder(tmp_path)
    text = manifest_text()
    write_manifest(folder, text[:-2] + ",\n  " + insert + "\n}")

    error = refusal(folder)

    matching = [problem for problem in error.problems if problem.field == field]
    assert matching, [str(problem) for problem in error.problems]
    assert matching[0].code == "manifest_invalid_json"
    assert fragment in matching[0].message


def test_every_strict_json_problem_is_reported_at_once(tmp_path: Path):
    folder = extension_folder(tmp_path)
    text = manifest_text()
    write_manifest(folder, text[:-2] + ',\n  "homepage": NaN, "tags": ["\\u0000"], "license": "x", "license": "y"\n}')

    error = refusal(folder)

    assert {problem.field for problem in error.problems} == {"homepage", "tags[0]", "license"}


def test_a_cron_list_with_an_empty_item_is_a_problem_not_a_crash(tmp_path: Path):
    folder = extension_folder(tmp_path)
    task = {"name": "tick", "function": "tick", "schedule": "1,,2 * * * *"}
    write_manifest(folder, manifest_text(background_tasks=[task]))

    error = refusal(folder)

    assert [(problem.field, problem.code) for problem in error.problems] == [
        ("background_tasks[0].schedule", "manifest_invalid_cron")
    ]


@pytest.mark.parametrize(
    "reference",
    ["http://127.0.0.1:56999/schema.json", "file:///etc/passwd", "other.json#/x", "//example.com/s"],
)
def test_a_schema_may_only_refer_inside_itself(tmp_path: Path, reference):
    folder = extension_folder(tmp_path)
    parameters = {"type": "object", "properties": {"x": {"$ref": reference}}}
    task = {"name": "tick", "function": "tick", "parameters": parameters}
    write_manifest(folder, manifest_text(background_tasks=[task], settings={"type": "object", "$ref": reference}))

    error = refusal(folder)

    assert {problem.field for problem in error.problems} == {
        "background_tasks[0].parameters.properties.x.$ref",
        "settings.$ref",
    }
    assert all("may only point inside this schema" in problem.message for problem in error.problems)


def test_a_reference_inside_the_schema_is_accepted(tmp_path: Path):
    folder = extension_folder(tmp_path)
    parameters = {
        "type": "object",
        "$defs": {"station": {"type": "string"}},
        "properties": {"station": {"$ref": "#/$defs/station"}},
    }
    write_manifest(folder, manifest_text(background_tasks=[{"name": "t", "function": "t", "parameters": parameters}]))

    assert read_manifest(folder).tasks[0].parameters == parameters
