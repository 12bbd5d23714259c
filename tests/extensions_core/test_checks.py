"""System checks report broken packages, duplicate names, warnings and bad settings."""

from __future__ import annotations

import json

from extensions_core.checks import check_extensions
from tests.conftest import CORPUS, install_fixture, write_extension


def ids(messages):
    return [message.id for message in messages]


def test_a_clean_folder_has_no_messages(extensions_root):
    install_fixture(extensions_root, "valid_minimal")

    assert check_extensions() == []


def test_a_broken_manifest_is_an_error_naming_the_field(extensions_root):
    write_extension(extensions_root, "broken", manifest={"name": "broken"})

    [message] = check_extensions()

    assert message.id == "extensions.E001"
    assert 'required field "version" is missing' in message.msg
    assert "extensions validate" in message.hint


def test_a_duplicate_name_is_e002(extensions_root):
    install_fixture(extensions_root, "duplicate_name_a")
    install_fixture(extensions_root, "duplicate_name_b")

    assert ids(check_extensions()) == ["extensions.E002"]


def test_manifest_warnings_are_w001(extensions_root):
    folder = extensions_root / "iot-smart-home"
    folder.mkdir()
    (folder / "extension.json").write_text((CORPUS / "iot-smart-home.json").read_text())

    [message] = check_extensions()

    assert message.id == "extensions.W001"
    assert "webhooks" in message.msg


def test_a_missing_configured_folder_is_w002(tmp_path, settings):
    settings.EXTENSIONS = {"DIRS": [tmp_path / "nowhere"], "ENTRY_POINTS": False}

    assert ids(check_extensions()) == ["extensions.W002"]


def test_unknown_or_mistyped_settings_are_e003(settings):
    settings.EXTENSIONS = {"DIRS": [], "LOAD_TIMEOUT": 3, "ENTRY_POINTS": "yes"}

    messages = check_extensions()

    assert ids(messages) == ["extensions.E003", "extensions.E003"]
    assert 'EXTENSIONS["LOAD_TIMEOUT"] is not a known setting' in messages[0].msg
    assert 'EXTENSIONS["ENTRY_POINTS"] must be bool' in messages[1].msg
    json.dumps([message.msg for message in messages])
