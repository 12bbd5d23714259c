"""Fixtures of the fault tests: private servers (never the machine's), one migrated template, a deployment per test."""

from __future__ import annotations

import subprocess
import sys
import tempfile

import pytest

from tests.faults.deployment import ROOT, Deployment
from tests.servers import PrivatePostgres, PrivateRedis

TEMPLATE = "karen_template"


def migrated_postgres() -> PrivatePostgres:
    """Start a private PostgreSQL holding a migrated template database."""
    postgres = PrivatePostgres().start()
    url = postgres.create_database(TEMPLATE)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": url,
            "PYTHONPATH": str(ROOT),
            "KAREN_VAR_DIR": tempfile.mkdtemp(prefix="karen-var-"),
        },
        check=True,
    )
    return postgres


@pytest.fixture(scope="session")
def postgres():
    server = migrated_postgres()
    yield server
    server.cleanup()


@pytest.fixture
def redis():
    server = PrivateRedis().start()
    yield server
    server.cleanup()


@pytest.fixture
def deployment(postgres, redis, tmp_path):
    platform = Deployment(postgres, redis, tmp_path, TEMPLATE)
    yield platform
    platform.stop_all()
