"""Every page carries the Content-Security-Policy, and no page the platform serves needs an inline script."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

PAGES = [
    "/admin/",
    "/admin/extensions_core/extension/",
    "/admin/extensions_core/taskdefinition/",
    "/admin/extensions_core/taskexecution/",
    "/admin/django_celery_beat/periodictask/",
    "/admin/auth/user/add/",
    "/api/extensions/",
    "/api/docs/",
    "/api/redoc/",
]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
# Resources a page loads (scripts, styles, images, frames), not links a person may follow.
REMOTE = re.compile(r"""<(?:script|img|iframe)[^>]*\bsrc=["']https?://|<link[^>]*\bhref=["']https?://""", re.IGNORECASE)


@pytest.mark.parametrize("path", PAGES)
def test_a_page_has_the_policy_and_runs_no_inline_script_or_remote_resource(shipped, admin_client, path):
    response = admin_client.get(path, HTTP_ACCEPT="text/html")
    html = response.content.decode()

    policy = response["Content-Security-Policy"]
    assert response.status_code == 200
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    assert INLINE_SCRIPT.findall(html) == []
    assert INLINE_HANDLER.findall(html) == []
    assert REMOTE.findall(html) == []


def test_the_swagger_start_up_script_is_served_as_a_file(shipped, admin_client):
    response = admin_client.get("/api/docs/?script=")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()
