"""The dashboard at /admin/: its figures, cards, runs and live parts, narrowed per viewer, with a fixed query count."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from extensions_core.models import Extension, TaskDefinition, TaskExecution
from extensions_core.permissions import grant
from extensions_core.services import extension_discover
from tests.conftest import install_fixture, write_extension

pytestmark = pytest.mark.django_db
Status = TaskExecution.Status


@pytest.fixture
def superuser(client):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw"))
    return client


@pytest.fixture
def labs(extensions_root):
    install_fixture(extensions_root, "task_lab")
    install_fixture(extensions_root, "valid_minimal")
    install_fixture(extensions_root, "initialize_raises")
    extension_discover(load_new=True)
    return extensions_root


def run(task: str, status: str, *, minutes_ago: float = 1, extension: str = "task-lab", **values) -> TaskExecution:
    definition = TaskDefinition.objects.get(extension__name=extension, name=task)
    queued = timezone.now() - timedelta(minutes=minutes_ago)
    finished = status not in (Status.PENDING, Status.RUNNING)
    return TaskExecution.objects.create(
        id=uuid.uuid4(),
        definition=definition,
        extension_name=extension,
        task_name=task,
        status=status,
        trigger_type=TaskExecution.Trigger.MANUAL,
        queued_at=queued,
        started_at=queued if status != Status.PENDING else None,
        heartbeat_at=queued if status == Status.RUNNING else None,
        finished_at=queued + timedelta(seconds=2) if finished else None,
        duration_seconds=2.0 if finished else None,
        **values,
    )


def test_the_root_url_leads_to_the_control_room(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_the_favicon_is_ours(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"] == "/static/extensions_core/favicon.svg"


def test_a_card_counts_failure_rate_over_finished_runs_only(superuser, labs):
    run("nap", Status.RUNNING)
    run("nap", Status.CANCELLED)

    page = superuser.get("/admin/control-room/extensions/").content.decode()
    lab = page.split('data-extension="task-lab"')[1].split("</article>")[0]

    assert "<dt>Runs (24 h)</dt><dd>2</dd>" in lab


def test_the_dashboard_is_the_admin_index_and_keeps_the_model_list_reachable(superuser, labs):
    page = superuser.get("/admin/").content.decode()
    models = superuser.get("/admin/models/")

    assert "<h1>Control room</h1>" in page
    assert 'href="/admin/models/"' in page
    assert models.status_code == 200
    assert "/admin/extensions_core/taskexecution/" in models.content.decode()


def test_the_overview_counts_extensions_runs_and_stuck_runs(superuser, labs):
    run("succeed", Status.COMPLETED, cpu_seconds=1.5, peak_memory_bytes=50 * 2**20)
    run("succeed", Status.COMPLETED, minutes_ago=120)
    run("fail", Status.FAILED, failure_reason="exception", error="boom")
    stuck = run("nap", Status.RUNNING)
    TaskExecution.objects.filter(pk=stuck.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))

    page = superuser.get("/admin/control-room/overview/").content.decode()

    assert 'data-extension-status="active">2 active' in page
    assert 'data-extension-status="error">1 error' in page
    assert "2 of 3 enabled extensions active and healthy" in page
    runs_hour, runs_day = page.split('data-figure="runs-1"')[1], page.split('data-figure="runs-2"')[1]
    assert '<div class="cr-value">3</div>' in runs_hour.split("</div>\n  </div>")[0]
    assert '<div class="cr-value">4</div>' in runs_day.split("</div>\n  </div>")[0]
    assert "success 50 %" in runs_hour
    assert 'data-figure="stuck"' in page and '<div class="cr-value cr-down">1</div>' in page
    assert 'data-component="database" data-status="ok"' in page
    assert "Last updated" in page


def test_each_card_shows_status_health_runs_and_allowed_actions(superuser, labs):
    run("succeed", Status.COMPLETED, cpu_seconds=1.25, peak_memory_bytes=50 * 2**20)
    run("fail", Status.FAILED, cpu_seconds=0.25)

    page = superuser.get("/admin/control-room/extensions/").content.decode()
    lab = page.split('data-extension="task-lab"')[1].split("</article>")[0]
    broken = page.split('data-extension="initialize-raises"')[1].split("</article>")[0]

    assert 'data-status="active"' in lab and 'data-health="healthy"' in lab
    assert "<dt>Tasks</dt><dd>17</dd>" in lab
    assert "2 · failure rate 50 %" in lab
    assert "<dt>CPU (24 h)</dt><dd>1.500 s</dd>" in lab, lab
    assert "<dt>Peak memory</dt><dd>50.0\xa0MB</dd>" in lab
    assert [action.split('"')[0] for action in lab.split('data-action="')[1:]] == ["reload", "unload", "disable"]
    assert "Last error: Extension &quot;initialize-raises&quot;: initialize() raised RuntimeError" in broken
    assert [action.split('"')[0] for action in broken.split('data-action="')[1:]] == ["load", "disable"]


def test_active_runs_have_elapsed_time_and_cancel_and_failures_link_to_their_run(superuser, labs):
    running = run("nap", Status.RUNNING, minutes_ago=2)
    failed = run("fail", Status.FAILED, failure_reason="exception", error="it broke")

    page = superuser.get("/admin/control-room/runs/").content.decode()

    active = page.split('data-table="active-runs"')[1].split("</table>")[0]
    failures = page.split('data-table="failures"')[1].split("</table>")[0]
    assert f'data-execution="{running.pk}"' in active
    assert "120." in active or "119." in active  # elapsed seconds
    assert f"/admin/extensions_core/taskexecution/{running.pk}/cancel/" in active
    assert f"/admin/extensions_core/taskexecution/{failed.pk}/change/" in failures and "it broke" in failures


def test_cancel_from_the_dashboard_cancels_and_comes_back(superuser, labs):
    pending = run("nap", Status.PENDING)

    response = superuser.post(f"/admin/extensions_core/taskexecution/{pending.pk}/cancel/", {"next": "/admin/"})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    pending.refresh_from_db()
    assert pending.status == Status.CANCELLED


def test_cancel_refuses_a_next_url_of_another_site(superuser, labs):
    pending = run("nap", Status.PENDING)

    response = superuser.post(
        f"/admin/extensions_core/taskexecution/{pending.pk}/cancel/", {"next": "https://evil.example/"}
    )

    assert response["Location"] == f"/admin/extensions_core/taskexecution/{pending.pk}/change/"


def test_lifecycle_buttons_call_the_services(superuser, labs):
    extension = Extension.objects.get(name="valid-minimal")

    response = superuser.post(
        f"/admin/extensions_core/extension/{extension.pk}/lifecycle/unload/", {"next": "/admin/"}, follow=True
    )

    extension.refresh_from_db()
    assert extension.status == Extension.Status.NOT_LOADED
    assert "Unload: &quot;valid-minimal&quot; is now not loaded." in response.content.decode()
    assert superuser.get(f"/admin/extensions_core/extension/{extension.pk}/lifecycle/unload/").status_code == 405
    assert superuser.post(f"/admin/extensions_core/extension/{extension.pk}/lifecycle/explode/").status_code == 404


def test_a_viewer_sees_only_what_they_may(client, labs):
    user = get_user_model().objects.create_user("viewer", password="pw", is_staff=True)
    lab = Extension.objects.get(name="task-lab")
    grant(user, "view_extension", lab)
    grant(user, "view_taskdefinition", TaskDefinition.objects.get(extension=lab, name="succeed"))
    seen = run("succeed", Status.RUNNING)
    hidden = run("nap", Status.RUNNING)
    client.force_login(user)

    page = client.get("/admin/").content.decode()

    assert 'data-extension="task-lab"' in page
    assert 'data-extension="valid-minimal"' not in page
    assert f'data-execution="{seen.pk}"' in page and f'data-execution="{hidden.pk}"' not in page
    assert 'data-action="reload"' not in page  # viewing is not managing
    assert f"/taskexecution/{seen.pk}/cancel/" not in page  # nor running
    assert "Extensions (1)" in page


def test_the_chart_draws_runs_per_status_per_hour(superuser, labs):
    run("succeed", Status.COMPLETED, minutes_ago=1)
    run("fail", Status.FAILED, minutes_ago=1)
    run("succeed", Status.COMPLETED, minutes_ago=150)

    page = superuser.get("/admin/control-room/chart/").content.decode()

    assert page.count("<g data-hour=") == 24
    assert page.count('class="cr-run-completed" data-count="1"') == 2
    assert page.count('class="cr-run-failed" data-count="1"') == 1


def test_a_live_part_that_does_not_exist_is_404(superuser):
    assert superuser.get("/admin/control-room/nothing/").status_code == 404


def dashboard_queries(client) -> int:
    client.get("/admin/")  # warm the per-process caches (access, content types)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/").status_code == 200
    return len(queries)


def test_the_query_count_does_not_grow_with_extensions_or_executions(superuser, labs):
    run("succeed", Status.COMPLETED)
    small = dashboard_queries(superuser)

    for index in range(6):
        write_extension(labs, f"extra-{index}")
    extension_discover(load_new=True)
    for index in range(30):
        run("succeed" if index % 2 else "fail", Status.COMPLETED if index % 2 else Status.FAILED, minutes_ago=index)
    run("nap", Status.RUNNING)
    large = dashboard_queries(superuser)

    assert Extension.objects.count() == 9
    assert large == small


def test_while_the_database_is_down_the_admin_says_so_instead_of_failing(superuser, labs, monkeypatch):
    from extensions_core.admin_site import ControlRoomSite

    def unreachable(*args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    monkeypatch.setattr(ControlRoomSite, "has_permission", unreachable)

    page = superuser.get("/admin/")
    part = superuser.get("/admin/control-room/overview/", HTTP_HX_REQUEST="true")

    assert page.status_code == 503
    assert "the database is unreachable" in page.content.decode()
    assert "Connection refused" in page.content.decode()
    assert part.status_code == 200
    assert part["HX-Retarget"] == "#control-room-alert"
    assert "The database is unreachable" in part.content.decode()


def test_a_broker_that_is_down_is_named_and_the_page_still_renders(superuser, labs, monkeypatch):
    from extensions_core import dashboard
    from karen.celery import app
    from tests.processes import free_port

    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    monkeypatch.setattr(dashboard, "broker_report", dashboard._BrokerReport(seconds=0))

    page = superuser.get("/admin/").content.decode()

    broker = page.split('data-component="broker"')[1].split("</div>\n  </div>")[0]
    queue = page.split('data-figure="queue"')[1].split("</div>\n  </div>")[0]
    assert 'data-status="down"' in broker and "Connection refused" in broker
    assert '<div class="cr-value">?</div>' in queue and "Connection refused" in queue


def test_the_broker_is_looked_at_once_for_its_state_and_queue_and_reused_briefly(superuser, labs, monkeypatch):
    from extensions_core import dashboard

    calls = []
    monkeypatch.setattr(dashboard, "broker_report", dashboard._BrokerReport(seconds=60))
    monkeypatch.setattr(
        dashboard,
        "broker_status",
        lambda: (
            calls.append(1)
            or ({"status": "ok", "detail": "fake", "latency_ms": 1.0}, {"name": "q", "messages": 7, "detail": ""})
        ),
    )

    first = superuser.get("/admin/control-room/overview/").content.decode()
    superuser.get("/admin/control-room/overview/")

    assert calls == [1]
    assert '<div class="cr-value">7</div>' in first


def test_health_reports_are_reused_and_refreshed_in_the_background(labs, monkeypatch):
    import time

    from extensions_core import dashboard
    from extensions_core.registry import registry

    board = dashboard._HealthBoard()
    lab = Extension.objects.get(name="task-lab")
    calls = []
    instance = registry.entries["task-lab"].instance
    monkeypatch.setattr(instance, "health_check", lambda: calls.append(1) or {"healthy": True, "n": len(calls)})
    monkeypatch.setattr(dashboard, "HEALTH_REFRESH_AFTER_SECONDS", 0.05)

    first = board.check([lab], deadline=1)["task-lab"]
    again = board.check([lab], deadline=1)["task-lab"]  # fresh: reused, nothing started
    time.sleep(0.1)
    stale = board.check([lab], deadline=1)["task-lab"]  # shown at once, a new check starts behind it
    deadline = time.monotonic() + 2
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    refreshed = board.check([lab], deadline=1)["task-lab"]

    assert first["details"]["n"] == again["details"]["n"] == stale["details"]["n"] == 1
    assert refreshed["details"]["n"] == 2
    assert len(board.reports) == 1
