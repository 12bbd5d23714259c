"""`manage.py runplatform`: the whole platform in the foreground (web, worker, beat), stopped together by Ctrl-C.

Before starting it migrates, collects static files, discovers the extensions
and, on first run, creates an admin account whose login it prints. Running and
stopping the processes is `extensions_core.supervisor`'s job.
"""

from __future__ import annotations

import os
import secrets
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from extensions_core.services import extension_discover
from extensions_core.supervisor import ProcessSpec, Supervisor

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Migrate, discover extensions, then run web (gunicorn), Celery worker and beat together."
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("KAREN_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("KAREN_PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("KAREN_WEB_WORKERS", "2")))
        parser.add_argument(
            "--worker-concurrency", type=int, default=int(os.environ.get("KAREN_WORKER_CONCURRENCY", "2"))
        )
        parser.add_argument("--no-worker", action="store_true", help="Do not start a Celery worker.")
        parser.add_argument("--no-beat", action="store_true", help="Do not start Celery beat.")
        parser.add_argument("--prepare-only", action="store_true", help="Prepare, print the login, and exit.")
        parser.add_argument(
            "--stop-timeout",
            type=float,
            default=30.0,
            metavar="SECONDS",
            help="On Ctrl-C, how long each process may take to stop cleanly before it is killed (default 30).",
        )

    def handle(self, *args, **options) -> None:
        self.prepare()
        url = f"http://{options['host']}:{options['port']}"
        login = self.ensure_admin()
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Karen Extensions is starting at {url}/"))
        self.stdout.write(f"  admin      {url}/admin/")
        self.stdout.write(f"  API docs   {url}/api/docs/")
        self.stdout.write(f"  log in as  {login}")
        self.stdout.write("  stop with  Ctrl-C\n")
        if options["prepare_only"]:
            return
        sys.exit(self.run(options))

    def prepare(self) -> None:
        self.stdout.write("Migrating the database...")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        report = extension_discover()
        active = ", ".join(report.loaded) or "none new"
        self.stdout.write(f"Extensions: {len(report.found)} found, loaded: {active}")
        for item in report.problems:
            self.stderr.write(f"  {item.label}: {item.error.message}")
        for message in report.store_errors.values():
            self.stderr.write(f"  not stored: {message}")
        for message in report.load_errors.values():
            self.stderr.write(f"  load failed: {message}")

    def ensure_admin(self) -> str:
        """Create the first admin account if no superuser exists; return how to log in."""
        users = get_user_model()
        password_file = settings.VAR_DIR / "admin-password.txt"
        if users.objects.filter(is_superuser=True).exists():
            if password_file.exists():
                return f"{ADMIN_USERNAME} / {password_file.read_text().strip()}  (from {password_file})"
            return "your superuser (reset a password with `manage.py changepassword USERNAME`)"
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(ADMIN_USERNAME, email="", password=password)
        password_file.touch(mode=0o600)
        password_file.write_text(password + "\n")
        return f"{ADMIN_USERNAME} / {password}  (first run: account created; also kept in {password_file})"

    def run(self, options) -> int:
        """Run web, worker and beat until Ctrl-C (SIGINT) or SIGTERM; return the exit code."""
        celery = [sys.executable, "-m", "celery", "-A", "karen"]
        web = [sys.executable, "-m", "gunicorn", "karen.wsgi:application", "--access-logfile", "-"]
        web += ["--bind", f"{options['host']}:{options['port']}", "--workers", str(options["web_workers"])]
        specs = [ProcessSpec("web", (*web, "--graceful-timeout", "5"))]
        if not options["no_worker"]:
            worker = [*celery, "worker", "--loglevel", "INFO", "-n", f"worker-{os.getpid()}@%h"]
            specs.append(ProcessSpec("worker", (*worker, "--concurrency", str(options["worker_concurrency"]))))
        if not options["no_beat"]:
            schedule = settings.VAR_DIR / "celerybeat-schedule"
            specs.append(ProcessSpec("beat", (*celery, "beat", "--loglevel", "INFO", "--schedule", str(schedule))))
        supervisor = Supervisor(
            specs,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            output=sys.stdout,
            stop_timeout_seconds=options["stop_timeout"],
        )
        return supervisor.run()
