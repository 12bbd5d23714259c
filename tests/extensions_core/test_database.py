"""A long-lived process's connection survives the server dropping it: found before use, replaced, work retried."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from extensions_core.database import connection_is_dropped, connection_refresh, retrying
from extensions_core.models import TaskExecution
from extensions_core.services import extension_discover
from extensions_core.services.executions import execution_claim
from tests.conftest import install_fixture
from tests.extensions_core.services.test_executions import start

pytestmark = pytest.mark.django_db(transaction=True)

# The embedded SQLite connection is a file: nothing can drop it.
postgresql_only = pytest.mark.needs_postgresql


def terminate_this_connection() -> None:
    """Have the server end this thread's connection, as a restart or failover would."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        dbname=settings["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend])
        # pg_terminate_backend only signals the backend: wait until it has said goodbye and gone.
        deadline = time.monotonic() + 5
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]).fetchone():
            assert time.monotonic() < deadline, "the backend did not end"
            time.sleep(0.01)


@postgresql_only
def test_a_connection_the_server_ended_is_found_and_replaced_before_use():
    terminate_this_connection()

    found = connection_is_dropped()
    replaced = connection_refresh()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        answer = cursor.fetchone()[0]

    assert (found, replaced, answer) == (True, True, 1)


def test_a_live_connection_is_kept():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    before = connection.connection

    assert connection_refresh() is False
    assert connection.connection is before


@postgresql_only
def test_work_that_failed_on_a_dropped_connection_runs_again_on_a_new_one():
    calls = []

    def work():
        calls.append(1)
        if len(calls) == 1:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            terminate_this_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 42")
            return cursor.fetchone()[0]

    assert retrying(work, what="test", for_seconds=10) == 42
    assert len(calls) == 2


def test_an_error_of_the_statement_itself_is_not_retried():
    calls = []

    def work():
        calls.append(1)
        with connection.cursor() as cursor:
            cursor.execute("SELECT * FROM no_such_table")

    with pytest.raises(Exception) as caught:
        retrying(work, what="test", for_seconds=10)

    assert len(calls) == 1
    assert not isinstance(caught.value, OperationalError) or "no_such_table" in str(caught.value)


def test_a_repeated_claim_by_the_same_worker_and_stamp_returns_the_run_and_no_one_else_gets_it(extensions_root):
    install_fixture(extensions_root, "task_lab")
    extension_discover(load_new=True)
    execution = start("succeed")
    now = timezone.now()

    first = execution_claim(execution_id=str(execution.pk), worker="host:1", now=now)
    again = execution_claim(execution_id=str(execution.pk), worker="host:1", now=now)
    other = execution_claim(execution_id=str(execution.pk), worker="host:2", now=timezone.now())

    assert first is not None and again is not None and again.pk == execution.pk
    assert other is None
    assert TaskExecution.objects.get(pk=execution.pk).worker == "host:1"


@postgresql_only
def test_work_that_committed_before_its_connection_dropped_is_recognised_not_repeated(extensions_root):
    install_fixture(extensions_root, "task_lab")
    extension_discover(load_new=True)
    execution = start("succeed")
    calls = []

    def work():
        calls.append(1)
        TaskExecution.objects.filter(pk=execution.pk).update(triggered_by=f"attempt {len(calls)}")
        terminate_this_connection()  # committed; the reply of what follows is lost with the connection
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    def landed():
        return TaskExecution.objects.filter(pk=execution.pk, triggered_by="attempt 1").exists() or None

    result = retrying(work, what="test", for_seconds=10, landed=landed)

    assert result is True
    assert len(calls) == 1
