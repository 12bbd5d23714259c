"""System checks report broken packages, duplicate names, warnings and bad settings."""

from __future__ import annotations

import json
import subprocess
import sys

from extensions_core.checks import check_extensions, check_extensions_for_deployment
from tests.conftest import CORPUS, ROOT, install_fixture, write_extension


def ids(messages):
    return [message.id for message in messages]


def test_a_clean_folder_has_no_messages(extensions_root):
    install_fixture(extensions_root, "valid_minimal")

    assert check_extensions() == []


def test_a_broken_manifest_is_a_warning_naming_the_field(extensions_root):
    write_extension(extensions_root, "broken", manifest={"name": "broken"})

    [message] = check_extensions()

    assert message.id == "extensions.W003" and not message.is_serious()
    assert 'required field "version" is missing' in message.msg
    assert "extensions validate" in message.hint


def test_a_duplicate_name_is_w004(extensions_root):
    install_fixture(extensions_root, "duplicate_name_a")
    install_fixture(extensions_root, "duplicate_name_b")

    assert ids(check_extensions()) == ["extensions.W004"]


def test_check_deploy_makes_broken_packages_and_duplicates_errors(extensions_root):
    write_extension(extensions_root, "broken", manifest={"name": "broken"})
    install_fixture(extensions_root, "duplicate_name_a")
    install_fixture(extensions_root, "duplicate_name_b")

    messages = check_extensions_for_deployment()

    assert sorted(ids(messages)) == ["extensions.E001", "extensions.E002"]
    assert all(message.is_serious() for message in messages)


def test_one_broken_folder_lets_migrate_and_check_proceed(tmp_path):
    folder = tmp_path / "extensions" / "banana"
    folder.mkdir(parents=True)
    (folder / "extension.json").write_text(json.dumps({"name": "banana", "version": "banana"}))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "KAREN_VAR_DIR": str(tmp_path / "var"),
           "KAREN_EXTENSION_DIRS": str(tmp_path / "extensions"), "KAREN_ENTRY_POINTS": "false"}  # fmt: skip

    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, capture_output=True
    )
    check = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    deploy = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip

    assert migrate.returncode == 0, migrate.stderr
    assert check.returncode == 0 and "extensions.W003" in check.stderr + check.stdout
    assert deploy.returncode != 0 and "extensions.E001" in deploy.stderr


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
