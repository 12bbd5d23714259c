"""Root URLs: the admin (the control room; login rate limited), the API, and / sending people to the control room."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from extensions_core.api.throttling import throttle_login_view

admin.site.login = throttle_login_view(admin.site.login)

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Browsers ask for /favicon.ico on pages that name no icon (the API's).
    path("favicon.ico", RedirectView.as_view(url=static("extensions_core/favicon.svg"), permanent=True)),
    path("admin/", admin.site.urls),
    path("api/", include("extensions_core.api.urls")),
    # Log in / out links of the browsable API (session auth, CSRF enforced).
    path("api-auth/", include("rest_framework.urls")),
]

handler404 = "extensions_core.api.errors.api_not_found"
handler500 = "extensions_core.api.errors.api_server_error"
