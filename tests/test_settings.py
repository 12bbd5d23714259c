"""Settings come from the environment: embedded default (SQLite WAL, filesystem broker) or PostgreSQL + Redis."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from tests.conftest import ROOT, install_fixture, install_shipped

PRINT_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
from django.db import connection
connection.ensure_connection()
with connection.cursor() as cursor:
    mode = None
    if connection.vendor == "sqlite":
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()[0]
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "journal_mode": mode,
    "broker": settings.CELERY_BROKER_URL,
    "cache": settings.CACHES["default"]["BACKEND"],
    "debug": settings.DEBUG,
    "dirs": [str(path) for path in settings.EXTENSIONS["DIRS"]],
    "var": str(settings.VAR_DIR),
}))
"""


def settings_in_subprocess(tmp_path, **env: str) -> dict:
    clean = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    clean.update(DJANGO_SETTINGS_MODULE="karen.settings", KAREN_VAR_DIR=str(tmp_path / "var"), **env)
    result = subprocess.run([sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=clean, capture_output=True, text=True)
    if result.returncode:
        raise subprocess.CalledProcessError(result.returncode, "print settings", result.stdout, result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_with_no_environment_the_platform_is_embedded(tmp_path):
    effective = settings_in_subprocess(tmp_path)

    assert effective["engine"] == "django.db.backends.sqlite3"
    assert effective["journal_mode"] == "wal"
    assert effective["broker"] == "filesystem://localhost/"
    assert effective["cache"] == "django.core.cache.backends.filebased.FileBasedCache"
    assert effective["debug"] is False
    assert effective["dirs"] == [str(ROOT / "extensions")]
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "var" / "broker" / "queue").is_dir()


def test_database_url_and_redis_url_select_the_production_stack(tmp_path):
    effective = settings_in_subprocess(
        tmp_path,
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        REDIS_URL="redis://127.0.0.1:6379/15",
        KAREN_EXTENSION_DIRS=f"extensions{os.pathsep}/opt/more",
    )

    assert effective["engine"] == "django.db.backends.postgresql"
    assert effective["broker"] == "redis://127.0.0.1:6379/15"
    assert effective["cache"] == "karen.redis_cache.PooledRedisCache"
    assert effective["dirs"] == [str(ROOT / "extensions"), "/opt/more"]


def test_embedded_commands_that_publish_print_no_broker_warning(tmp_path):
    extensions = tmp_path / "extensions"
    install_fixture(extensions, "tasks_functions")
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env.update(KAREN_VAR_DIR=str(tmp_path / "var"), KAREN_EXTENSION_DIRS=str(extensions), KAREN_ENTRY_POINTS="false")
    commands = [["migrate"], ["extensions", "discover"], ["tasks", "run", "tasks-functions", "bare"], ["tasks", "list"]]

    results = [
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True)
        for command in commands
    ]

    assert [result.returncode for result in results] == [0, 0, 0, 0], [result.stderr for result in results]
    assert "pending" in results[2].stdout
    warned = [line for result in results for line in result.stderr.splitlines() if "No hostname was supplied" in line]
    assert warned == []


def test_a_bad_boolean_in_the_environment_names_the_variable(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as caught:
        settings_in_subprocess(tmp_path, DEBUG="maybe")

    assert "DEBUG must be true or false (got 'maybe')" in caught.value.stderr


@pytest.mark.django_db
def test_this_run_uses_the_stack_its_environment_asks_for():
    """Run twice by the test command: embedded, then PostgreSQL + Redis for real."""
    if os.environ.get("DATABASE_URL"):
        assert connection.vendor == "postgresql"
        assert settings.CELERY_BROKER_URL.startswith("redis://")
    else:
        assert connection.vendor == "sqlite"
        assert settings.CELERY_BROKER_URL == "filesystem://localhost/"
    cache.set("karen-test-key", {"stack": connection.vendor}, 30)
    assert cache.get("karen-test-key") == {"stack": connection.vendor}


def test_the_configured_cache_reuses_one_redis_client_in_production():
    """Production pass: one Redis client per pool, not per operation. Embedded pass: the file cache."""
    if not os.environ.get("REDIS_URL"):
        assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.filebased.FileBasedCache"
        return
    first = cache._cache.get_client(write=True)

    cache.set("karen-client-reuse", 1, 30)

    assert cache._cache.get_client(write=True) is first
    assert cache.incr("karen-client-reuse") == 2
    cache.delete("karen-client-reuse")


def test_loaded_code_is_kept_under_the_var_folder_unless_configured(settings, tmp_path):
    from extensions_core.conf import extension_settings

    default = extension_settings()
    settings.EXTENSIONS = {**settings.EXTENSIONS, "SNAPSHOT_DIR": str(tmp_path / "code"), "SNAPSHOT_MAX_BYTES": 1024}
    configured = extension_settings()

    assert default.snapshot_dir == settings.VAR_DIR / "extension-code"
    assert default.snapshot_max_bytes == 100 * 2**20
    assert (configured.snapshot_dir, configured.snapshot_max_bytes) == (tmp_path / "code", 1024)


@pytest.mark.django_db
def test_a_package_larger_than_the_snapshot_limit_is_refused_with_the_setting_to_change(settings, extensions_root):
    from extensions_core.exceptions import ExtensionLoadError
    from extensions_core.services import extension_discover, extension_load
    from tests.conftest import write_extension

    folder = write_extension(extensions_root, "sample-extension")
    (folder / "data.bin").write_bytes(b"x" * 4096)
    extension_discover(load_new=False)
    settings.EXTENSIONS = {**settings.EXTENSIONS, "SNAPSHOT_MAX_BYTES": 1024}

    with pytest.raises(ExtensionLoadError) as caught:
        extension_load(name="sample-extension")

    assert caught.value.code == "extension_package_too_large"
    assert "SNAPSHOT_MAX_BYTES" in caught.value.message


PRODUCTION_PROFILE = {
    "DEBUG": "false",
    "SECRET_KEY": "k" * 40 + "-documented-production-profile-" + "z" * 20,
    "ALLOWED_HOSTS": "karen.example.com",
    "KAREN_TLS": "true",
    "KAREN_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}


def test_the_documented_production_profile_passes_check_deploy_without_a_warning(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "KAREN_VAR_DIR": str(tmp_path / "var"),
        "KAREN_EXTENSION_DIRS": str(install_shipped(tmp_path / "extensions")),
        "KAREN_ENTRY_POINTS": "false",
        **PRODUCTION_PROFILE,
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_without_tls_the_deploy_check_says_what_to_set(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "KAREN_VAR_DIR": str(tmp_path / "var"),
           **{**PRODUCTION_PROFILE, "KAREN_TLS": "false"}}  # fmt: skip

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= set(
        re.findall(r"security\.W\d{3}", result.stderr + result.stdout)
    )
