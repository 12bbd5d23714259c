"""`manage.py tokens create USERNAME [--expires-days N | --no-expiry] | revoke TOKEN | list [USERNAME] | purge`."""

from __future__ import annotations

from datetime import timedelta
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS

from extensions_core.management.output import as_json, table

DEFAULT_EXPIRY_DAYS = 30


class Command(BaseCommand):
    help = "Create, revoke, list and purge API tokens (stored hashed; the token is shown once)."
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
        create = commands.add_parser("create", help="Create a token for USERNAME; the token is the last word printed.")
        create.add_argument("username")
        expiry = create.add_mutually_exclusive_group()
        expiry.add_argument("--expires-days", type=int, default=DEFAULT_EXPIRY_DAYS, help="Days until it expires.")
        expiry.add_argument("--no-expiry", action="store_true", help="A token that never expires.")
        revoke = commands.add_parser("revoke", help="Revoke TOKEN (the full token as printed by create).")
        revoke.add_argument("token")
        listing = commands.add_parser("list", help="Tokens (prefix, user, created, expiry), never their secret.")
        listing.add_argument("username", nargs="?")
        listing.add_argument("--json", action="store_true")
        commands.add_parser("purge", help="Delete expired tokens.")

    def handle(self, *args, **options) -> None:
        getattr(self, f"handle_{options['subcommand']}")(options)

    def handle_create(self, options) -> None:
        users = get_user_model()
        try:
            user = users.objects.get(**{users.USERNAME_FIELD: options["username"]})
        except users.DoesNotExist:
            raise CommandError(f'no user "{options["username"]}"; create it with `manage.py createsuperuser`') from None
        if not options["no_expiry"] and options["expires_days"] < 1:
            raise CommandError("--expires-days must be 1 or more (or use --no-expiry)")
        expiry = None if options["no_expiry"] else timedelta(days=options["expires_days"])
        instance, token = AuthToken.objects.create(user, expiry=expiry)
        until = f"expires {instance.expiry:%Y-%m-%d %H:%M} UTC" if instance.expiry else "never expires"
        self.stdout.write(f"Token for {user.get_username()} ({until}), shown only now: {token}")

    def handle_revoke(self, options) -> None:
        token = options["token"].strip()
        for candidate in AuthToken.objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH]):
            if compare_digest(hash_token(token), candidate.digest):
                username = candidate.user.get_username()
                candidate.delete()
                self.stdout.write(f"Revoked the token {candidate.token_key}... of {username}")
                return
        raise CommandError("no such token (already revoked, expired, or mistyped)")

    def handle_list(self, options) -> None:
        rows = AuthToken.objects.select_related("user").order_by("created")
        if options["username"]:
            rows = rows.filter(user__username=options["username"])
        data = [
            {"prefix": row.token_key, "user": row.user.get_username(), "created": row.created, "expiry": row.expiry}
            for row in rows
        ]
        if options["json"]:
            self.stdout.write(as_json(data))
        elif not data:
            self.stdout.write("No tokens.")
        else:
            self.stdout.write(
                table(
                    ["prefix", "user", "created", "expiry"],
                    [
                        [
                            item["prefix"],
                            item["user"],
                            f"{item['created']:%Y-%m-%d %H:%M}",
                            f"{item['expiry']:%Y-%m-%d %H:%M}" if item["expiry"] else "never",
                        ]
                        for item in data
                    ],
                )
            )

    def handle_purge(self, options) -> None:
        deleted, _ = AuthToken.objects.filter(expiry__lt=timezone.now()).delete()
        self.stdout.write(f"Deleted {deleted} expired token{'s' if deleted != 1 else ''}")
