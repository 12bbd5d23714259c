"""The first system's real manifests (shared/karen-manifests): which ones parse, warn, or are rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extensions_core.manifest import ManifestError, parse_json_text, parse_manifest
from tests.conftest import CORPUS, fast_schema_accepts, full_schema_errors

MINIMUM_CORPUS_SIZE = 14
CORPUS_FILES = sorted(CORPUS.glob("*.json"))

# The manifests the platform must refuse, each with the (field, code) of every error it reports.
REJECTED = {
    "time-query.json": {
        ("author", "manifest_missing_field"),
        ("license", "manifest_missing_field"),
    },
    "intelligent-search.json": {
        ("settings", "manifest_invalid_settings_schema"),
    },
    "response-formatting.json": {
        ("permissions", "manifest_wrong_type"),
    },
}

# The accepted manifests and the (field, code) of every warning they carry.
WARNINGS = {
    "analytics-dashboard.json": set(),
    "background-task-extension.json": set(),
    "computer-vision.json": set(),
    "hello-extension.json": set(),
    "iot-smart-home.json": {("webhooks", "manifest_unknown_key")},
    "llm-management.json": set(),
    "prompt-driven-automation.json": {
        ("webhooks", "manifest_unknown_key"),
        ("permissions.network_access[1]", "manifest_unknown_permission"),
    },
    "secure-extension.json": set(),
    "speech-interface.json": {
        ("permissions.system_access[0]", "manifest_unknown_permission"),
        ("permissions.system_access[1]", "manifest_unknown_permission"),
    },
    "white-label-branding.json": {("permissions.system_access[1]", "manifest_unknown_permission")},
    "workflow-builder.json": {("permissions.network_access[1]", "manifest_unknown_permission")},
}
WITH_WARNINGS = sorted(name for name, expected in WARNINGS.items() if expected)
WITHOUT_WARNINGS = sorted(name for name, expected in WARNINGS.items() if not expected)


def load(name: str) -> dict:
    """Parse one corpus file as the platform reads JSON text (depth cap included)."""
    return parse_json_text((CORPUS / name).read_text(encoding="utf-8"), max_depth=32)


def pairs(problems) -> set[tuple[str, str]]:
    return {(problem.field, problem.code) for problem in problems}


def test_corpus_folder_holds_at_least_fourteen_manifests():
    names = [path.name for path in CORPUS_FILES]

    assert len(names) >= MINIMUM_CORPUS_SIZE, f"{CORPUS} holds only {len(names)} json files: {names}"


def test_corpus_tables_name_only_files_that_exist():
    names = {path.name for path in CORPUS_FILES}

    assert set(REJECTED) | set(WARNINGS) <= names


@pytest.mark.parametrize(
    "path",
    [path for path in CORPUS_FILES if path.name not in REJECTED],
    ids=lambda path: path.stem,
)
def test_corpus_manifest_parses_without_strict(path: Path):
    document = load(path.name)

    manifest = parse_manifest(document, source=path.name)

    assert manifest.name == document["name"]
    assert manifest.version == document["version"]
    assert all(problem.is_warning for problem in manifest.warnings)


@pytest.mark.parametrize("name", sorted(WARNINGS), ids=lambda name: name.removesuffix(".json"))
def test_corpus_manifest_carries_exactly_its_expected_warnings(name: str):
    document = load(name)

    manifest = parse_manifest(document, source=name)

    assert pairs(manifest.warnings) == WARNINGS[name]


def test_iot_smart_home_warns_that_webhooks_is_an_unknown_key_and_ignored():
    manifest = parse_manifest(load("iot-smart-home.json"))

    (warning,) = manifest.warnings
    assert (warning.field, warning.code, warning.is_warning) == ("webhooks", "manifest_unknown_key", True)
    assert '"webhooks" is not a known key and is ignored' in warning.message


def test_speech_interface_warns_about_unknown_permission_values_audio_and_microphone():
    manifest = parse_manifest(load("speech-interface.json"))

    messages = {warning.field: warning.message for warning in manifest.warnings}
    assert {warning.code for warning in manifest.warnings} == {"manifest_unknown_permission"}
    assert messages["permissions.system_access[0]"].startswith('"audio" is not one of: metrics')
    assert messages["permissions.system_access[1]"].startswith('"microphone" is not one of: metrics')
    assert all("(it is ignored)" in message for message in messages.values())


@pytest.mark.parametrize("name", WITH_WARNINGS, ids=lambda name: name.removesuffix(".json"))
def test_corpus_manifest_with_warnings_fails_when_strict(name: str):
    document = load(name)

    with pytest.raises(ManifestError) as caught:
        parse_manifest(document, strict=True, source=name)

    assert pairs(caught.value.problems) == WARNINGS[name]
    assert caught.value.extension == document["name"]


@pytest.mark.parametrize("name", WITHOUT_WARNINGS, ids=lambda name: name.removesuffix(".json"))
def test_corpus_manifest_without_warnings_also_parses_when_strict(name: str):
    document = load(name)

    manifest = parse_manifest(document, strict=True, source=name)

    assert manifest.name == document["name"]
    assert manifest.warnings == ()


@pytest.mark.parametrize("name", sorted(REJECTED), ids=lambda name: name.removesuffix(".json"))
def test_corpus_manifest_is_rejected_naming_the_offending_fields(name: str):
    document = load(name)

    with pytest.raises(ManifestError) as caught:
        parse_manifest(document, source=name)

    assert pairs(caught.value.problems) == REJECTED[name]
    assert not any(problem.is_warning for problem in caught.value.problems)
    assert caught.value.extension == document["name"]


def test_time_query_is_rejected_because_author_and_license_are_missing():
    with pytest.raises(ManifestError) as caught:
        parse_manifest(load("time-query.json"), source="time-query.json")

    messages = {problem.field: problem.message for problem in caught.value.problems}
    assert messages["author"].startswith('required field "author" is missing')
    assert messages["license"].startswith('required field "license" is missing')
    assert str(caught.value).startswith('Extension "time-query": time-query.json has 2 problems')


def test_intelligent_search_is_rejected_because_settings_holds_values_not_a_json_schema():
    with pytest.raises(ManifestError) as caught:
        parse_manifest(load("intelligent-search.json"))

    (problem,) = caught.value.problems
    assert (problem.field, problem.code) == ("settings", "manifest_invalid_settings_schema")
    assert '"settings" must be a JSON Schema describing the configuration' in problem.message
    assert '"default_mode"' in problem.message


def test_response_formatting_is_rejected_because_permissions_is_an_array():
    with pytest.raises(ManifestError) as caught:
        parse_manifest(load("response-formatting.json"))

    (problem,) = caught.value.problems
    assert (problem.field, problem.code) == ("permissions", "manifest_wrong_type")
    assert '"permissions" must be an object (got an array' in problem.message


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.json")), ids=lambda path: path.name)
def test_the_fast_schema_path_agrees_with_the_full_validator(path):
    document = json.loads(path.read_text(encoding="utf-8"))

    assert fast_schema_accepts(document) == (not full_schema_errors(document))
