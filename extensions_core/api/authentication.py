"""API tokens (django-rest-knox): stored hashed, with expiry, revoked by deletion."""

from __future__ import annotations

from django.utils import timezone
from knox.auth import TokenAuthentication


class ApiTokenAuthentication(TokenAuthentication):
    """Knox token authentication with one query per request.

    Knox also sweeps all of the user's other expired tokens on every request
    (a second query); here only the presented token's own expiry is checked,
    and `manage.py tokens purge` removes expired tokens in bulk.
    """

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False
