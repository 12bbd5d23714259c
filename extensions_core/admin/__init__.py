"""Admin registrations: extensions (`extensions`), tasks and runs (`tasks`, `runs`), API tokens (here).

The admin site itself is the control room (`extensions_core.admin_site`); its
dashboard is `dashboard`, and extensions' own pages and widgets are `pages`.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone
from knox.models import AuthToken

admin.site.unregister(AuthToken)


class ApiTokenCreateForm(forms.ModelForm):
    """Create a token for a user; its secret is shown once, in the confirmation message."""

    expires_days = forms.IntegerField(
        min_value=1, max_value=3650, initial=30, required=False, help_text="Leave empty for a token that never expires."
    )

    class Meta:
        model = AuthToken
        fields = ["user"]


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """API tokens: stored hashed; create shows the token once; delete revokes."""

    list_display = ["token_key", "user", "created", "expiry", "is_expired"]
    list_filter = ["created", "expiry"]
    search_fields = ["token_key", "user__username"]
    raw_id_fields = ["user"]
    readonly_fields = ["token_key", "user", "created", "expiry"]
    actions = ["delete_selected"]

    def get_form(self, request: HttpRequest, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj=None):
        return ["user", "expires_days"] if obj is None else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    @admin.display(boolean=True, description="expired")
    def is_expired(self, token: AuthToken) -> bool:
        return token.expiry is not None and token.expiry < timezone.now()

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        days = form.cleaned_data.get("expires_days")
        instance, secret = AuthToken.objects.create(
            form.cleaned_data["user"], expiry=timedelta(days=days) if days else None
        )
        for field in ("digest", "token_key", "created", "expiry"):
            setattr(obj, field, getattr(instance, field))
        self.message_user(
            request,
            f"Token for {instance.user.get_username()}, shown only now: {secret}",
            level=messages.WARNING,
        )

    def response_add(self, request: HttpRequest, obj, post_url_continue=None):
        from django.http import HttpResponseRedirect
        from django.urls import reverse

        return HttpResponseRedirect(reverse("admin:knox_authtoken_changelist"))


from extensions_core.admin import extensions, tasks  # noqa: E402,F401 - registers the other admins
