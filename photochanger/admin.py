"""Staff members' API tokens in the admin: each manages their own; a token is shown once."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from photochanger.models import ApiToken
from photochanger.tokens import api_token_create


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix_shown", "created_at", "last_used_at")
    list_select_related = ("user",)
    fields = ("name",)
    ordering = ("-created_at",)

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # a token is created and deleted, never edited

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request)
        # Each staff member manages their own tokens; a superuser sees everyone's.
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    @admin.display(description=_("starts with"), ordering="prefix")
    def prefix_shown(self, token: ApiToken) -> str:
        return f"{token.prefix}…"

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: forms.Form, change: bool
    ) -> None:
        # Saved into the object the admin was given: it logs and links to that one.
        plaintext = api_token_create(user=request.user, name=form.cleaned_data["name"], token=obj)[
            1
        ]
        messages.success(
            request,
            _("Copy the new token now; it is not shown again: %(token)s") % {"token": plaintext},
        )
