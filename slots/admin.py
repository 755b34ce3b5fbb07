"""The staff side of slots and the global settings, on Django's admin.

Reads go through selectors and every write through slots.services, so a change made here
obeys the same rules (and bumps the same version) as one made through the JSON API.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import format_lazy
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from media.images import photo_inspect
from photochanger.encryption import secret_encrypt
from photochanger.errors import UnsupportedMediaType
from providers.schema import provider_settings_help
from slots.keys import ApiKeyOverview
from slots.models import GlobalSettings, ProviderKey, Slot, TemplateImage
from slots.readiness import slot_missing
from slots.selectors import provider_operations, settings_overview, slots_counting_jobs_today
from slots.services import (
    PROVIDER_KEY_NAMES,
    SETTINGS_EDITABLE_FIELDS,
    SLOT_EDITABLE_FIELDS,
    guest_qr_problem,
    ingest_password_set,
    provider_key_set,
    settings_get,
    settings_update,
    slot_changes_within_operation,
    slot_settings_problems,
    slot_update,
    template_image_add,
    template_image_delete,
)

NOTHING = "—"


def local_time_text(moment: datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


# ---------------------------------------------------------------------------------------------
# Slots


class SlotSettingsField(forms.JSONField):
    """The slot's settings as indented JSON, one setting a line, for editing by hand; a typo
    is reported with where the JSON parser stopped, not just "Enter a valid JSON"."""

    widget = forms.Textarea

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip():
            try:
                json.loads(value)
            except json.JSONDecodeError as error:
                raise forms.ValidationError(
                    _("This is not valid JSON: %(problem)s (line %(line)s, column %(column)s)."),
                    code="invalid",
                    params={"problem": error.msg, "line": error.lineno, "column": error.colno},
                ) from None
        elif isinstance(value, str):
            return {}
        return super().to_python(value)


def _operations_help() -> str:
    return " · ".join(
        f"{provider}: {', '.join(operations)}"
        for provider, operations in provider_operations().items()
    )


def _operation_choices() -> list[tuple[str, str]]:
    """Every provider's operations, each named with the providers that have it; whether it
    fits the chosen provider is checked when the slot is saved."""
    providers_of: dict[str, list[str]] = {}
    for provider, operations in provider_operations().items():
        for operation in operations:
            providers_of.setdefault(operation, []).append(provider)
    return [
        (operation, f"{operation} ({', '.join(providers)})")
        for operation, providers in sorted(providers_of.items())
    ]


class SlotForm(forms.ModelForm):
    settings = SlotSettingsField(
        label=_("Settings"),
        required=False,
        help_text=_(
            "A JSON object, checked against the provider when you save: e.g. "
            '{"prompt": "…", "model": "…"} for Gemini, {"bits": 3} for posterize.'
        ),
    )

    operation = forms.ChoiceField(label=_("Operation"), choices=_operation_choices)
    # Set by SlotAdmin.get_form for an event operator: only the prompt may change in settings.
    prompt_only = False

    class Meta:
        model = Slot
        fields = SLOT_EDITABLE_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "operation" in self.fields:
            self.fields["operation"].help_text = _("Each provider's operations: %(list)s") % {
                "list": _operations_help()
            }
        self.fields["settings"].widget.attrs.update(
            rows=14, cols=80, spellcheck="false", style="font-family: monospace"
        )
        # What the saved provider accepts, read off its settings model (the same one a save is
        # checked against). The descriptions are the drivers' own, in English.
        if described := provider_settings_help(self.instance.provider):
            self.fields["settings"].help_text = format_lazy(
                "{} {}",
                self.fields["settings"].help_text,
                _("%(provider)s settings: %(list)s")
                % {"provider": self.instance.get_provider_display(), "list": described},
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        beyond_prompt = "settings" in cleaned and not slot_changes_within_operation(
            slot=self.instance, changes={"settings": cleaned["settings"]}
        )
        if self.prompt_only and beyond_prompt:
            self.add_error(
                "settings",
                _("Your role may change only the prompt here; ask an event admin for more."),
            )
        if problem := guest_qr_problem(corner=cleaned.get("guest_qr_corner", "")):
            self.add_error("guest_qr_corner", problem)
        combination = ("provider", "operation", "settings")
        if all(name in cleaned for name in combination):
            problems = slot_settings_problems(
                provider=cleaned["provider"],
                operation=cleaned["operation"],
                settings=cleaned["settings"],
            )
            for key, message in problems.items():
                field, _dot, setting = key.partition(".")
                if setting:
                    message = _("Setting “%(name)s”: %(message)s") % {
                        "name": setting,
                        "message": message,
                    }
                self.add_error(field if field in self.fields else None, message)
        if any(name in self.errors for name in combination):
            # Left out, the model's own clean() checks the saved combination (valid: it was
            # saved through slot_update) instead of repeating these errors, or reporting
            # errors of a half-edited combination (new provider, settings not yet JSON).
            for name in combination:
                cleaned.pop(name, None)
        return cleaned


class TemplateImageForm(forms.ModelForm):
    upload = forms.FileField(
        label=_("New image"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    class Meta:
        model = TemplateImage
        fields = ("role",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # An image is replaced by removing it and adding another; there is no service
            # that edits one in place.
            self.fields["role"].disabled = True
            self.fields["upload"].disabled = True
            self.fields["upload"].widget.attrs["hidden"] = True

    def clean_upload(self) -> Any:
        upload = self.cleaned_data.get("upload")
        if upload is not None and not self.instance.pk:
            try:
                photo_inspect(Path(upload.temporary_file_path()))
            except UnsupportedMediaType as error:
                # The reason is the booth's English detail, marked for translation in
                # media.images; one with Pillow's own words in it stays English.
                raise forms.ValidationError(
                    _("This file cannot be used: %(reason)s."),
                    params={"reason": gettext(error.details)},
                ) from None
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.instance.pk and cleaned.get("upload") is None and "upload" not in self.errors:
            self.add_error("upload", _("Choose an image file (JPEG, PNG or WebP)."))
        return cleaned


class TemplateImageInline(admin.TabularInline):
    model = TemplateImage
    form = TemplateImageForm
    fields = ("preview", "role", "upload")
    readonly_fields = ("preview",)
    extra = 1
    verbose_name_plural = _("template images (style, background, face, overlay)")

    @admin.display(description=_("preview"))
    def preview(self, image: TemplateImage) -> SafeString | str:
        if image.pk is None:
            return NOTHING
        url = reverse(
            "api:slot_template_image_file", kwargs={"slot_id": image.slot_id, "image_id": image.pk}
        )
        return format_html(
            '<a href="{url}" target="_blank"><img src="{url}" alt="{role}" class="template-preview"'
            ' style="max-height: 96px; max-width: 160px"></a><br>{details}',
            url=url,
            role=image.get_role_display(),
            details=_("%(type)s, %(size)s KB")
            % {"type": image.content_type, "size": max(1, image.size_bytes // 1024)},
        )


class SlotAdmin(admin.ModelAdmin):
    """The slots' admin without their results; ingest.admin registers it with them (the
    thumbnails and links of a slot's latest jobs)."""

    form = SlotForm
    inlines = (TemplateImageInline,)
    list_display = (
        "id",
        "display_name",
        "provider",
        "operation",
        "is_active",
        "readiness",
        "done_today",
        "failed_today",
    )
    list_display_links = ("id", "display_name")
    list_per_page = 50  # all 15 slots on one page
    fieldsets = (
        (None, {"fields": ("id", "display_name", "is_active")}),
        (_("Processing"), {"fields": ("provider", "operation", "settings")}),
        (
            _("Limits"),
            {
                "fields": (
                    "size_limit_mb",
                    "max_concurrent_jobs",
                    "daily_paid_calls_cap",
                    "on_failure",
                )
            },
        ),
        (_("The guest's link on the print"), {"fields": ("guest_qr_corner", "guest_qr_caption")}),
        (
            _("Failover"),
            {"fields": ("failover_first", "failover_second", "failover_on_refusal")},
        ),
        (_("Changes"), {"fields": ("version", "updated_by", "updated_at")}),
    )
    readonly_fields = ("id", "version", "updated_by", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the 15 slots come from a migration; staff only edit them

    def has_delete_permission(self, request: HttpRequest, obj: Slot | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Slot | None = None) -> bool:
        # An event operator may switch slots and edit prompts (get_readonly_fields, the form).
        return super().has_change_permission(request, obj) or request.user.has_perm(
            "slots.operate_slot"
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Slot | None = None) -> tuple:
        if request.user.has_perm("slots.change_slot"):
            return self.readonly_fields
        kept = ("is_active", "settings")
        return tuple(name for name in flatten_fieldsets(self.fieldsets) if name not in kept)

    def get_form(self, request: HttpRequest, obj: Slot | None = None, **kwargs: Any) -> type:
        form = super().get_form(request, obj, **kwargs)
        form.prompt_only = not request.user.has_perm("slots.change_slot")
        return form

    def get_queryset(self, request: HttpRequest) -> QuerySet[Slot]:
        # Today's counts come in the same query as the page's slots; their template images
        # (readiness) in one more.
        slots = super().get_queryset(request).select_related("updated_by")
        return slots_counting_jobs_today(slots.prefetch_related("template_images"))

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        # The Test run panel's script takes its words from the page, in the staff member's
        # language (templates/admin/slots/slot/change_form.html).
        extra_context = {**(extra_context or {}), "test_run_labels": _test_run_labels()}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("ready"))
    def readiness(self, slot: Slot) -> str:
        missing = slot_missing(slot=slot)
        if not missing:
            return _("ready")
        return format_html(
            '<span class="not-ready" title="{}">⚠ {}</span>', " ".join(missing), _("not ready")
        )

    @admin.display(description=_("done today"))
    def done_today(self, slot: Slot) -> int:
        return slot.jobs_done

    @admin.display(description=_("failed today"))
    def failed_today(self, slot: Slot) -> int:
        # A timeout is a failure the booth saw too.
        return slot.jobs_failed + slot.jobs_timeout

    def save_model(self, request: HttpRequest, obj: Slot, form: SlotForm, change: bool) -> None:
        slot_update(
            slot=obj,
            user=request.user,
            # An operator's form has only the fields their role may change.
            changes={
                name: form.cleaned_data[name]
                for name in SLOT_EDITABLE_FIELDS
                if name in form.cleaned_data
            },
        )

    def save_related(
        self, request: HttpRequest, form: SlotForm, formsets: list, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        # Checked once the template images are saved too: they may be what was missing.
        slot = Slot.objects.prefetch_related("template_images").get(pk=form.instance.pk)
        if missing := slot_missing(slot=slot):
            messages.warning(
                request,
                _("“%(slot)s” is saved but not ready: %(missing)s")
                % {"slot": slot.display_name, "missing": " ".join(missing)},
            )

    def save_formset(
        self, request: HttpRequest, form: SlotForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        # Template images are files in storage: they are added and removed by the services
        # that keep file and row together, never by the formset's own save().
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for image_form in formset.deleted_forms:
            if image_form.instance.pk:
                template_image_delete(image=image_form.instance)
                formset.deleted_objects.append(image_form.instance)
        for image_form in formset.extra_forms:
            if image_form.has_changed() and image_form not in formset.deleted_forms:
                image = template_image_add(
                    slot=form.instance,
                    role=image_form.cleaned_data["role"],
                    upload=image_form.cleaned_data["upload"],
                )
                formset.new_objects.append(image)


def _test_run_labels() -> dict[str, object]:
    """Words static/photochanger/slot_test_run.js shows; it fills in ``%(name)s``."""
    return {
        "choose_photo": _("Choose a photo first."),
        "invalid_json": _("The settings are not valid JSON: %(error)s"),
        "running": _("Running…"),
        "done_in": _("Done in %(time)s"),
        "after": _("after %(time)s"),
        "job": _("job"),
        "result_url": _("guest's result URL"),
        "unreachable": _("The server could not be reached: %(error)s"),
        "preview_needs_run": _("Run a test photo to see its print here."),
        "seconds": pgettext_lazy("unit", "s"),
    }


# ---------------------------------------------------------------------------------------------
# Global settings


def _new_secret_input() -> forms.PasswordInput:
    # "new-password" keeps the browser from filling in the staff member's own saved login.
    return forms.PasswordInput(attrs={"autocomplete": "new-password", "size": 40})


def _new_key_field(provider: str) -> forms.CharField:
    return forms.CharField(
        label=format_lazy(_("New {provider} API key"), provider=provider),
        required=False,
        max_length=256,
        widget=_new_secret_input(),
    )


def _clear_key_field() -> forms.BooleanField:
    return forms.BooleanField(label=_("Clear"), required=False)


class GlobalSettingsForm(forms.ModelForm):
    """The settings row, plus write-only inputs for the secrets: a stored password hash or
    API key is never put in the form, so it cannot end up in the page."""

    public_base_url = forms.URLField(
        label=_("Public base URL"),
        required=False,
        max_length=200,
        # Django 6 assumes https for an address typed without a scheme; so do we, today.
        assume_scheme="https",
        help_text=_(
            "How guests and providers reach this server, e.g. https://booth.example.com; "
            "empty: the address the booth used."
        ),
    )
    new_ingest_password = forms.CharField(
        label=_("New ingest password"),
        required=False,
        min_length=6,
        max_length=128,
        widget=_new_secret_input(),
        help_text=_("The booth's password. The old one stops working as soon as you save."),
    )
    new_ingest_password_again = forms.CharField(
        label=_("New ingest password (again)"),
        required=False,
        max_length=128,
        widget=_new_secret_input(),
    )
    new_gemini_key = _new_key_field("Gemini")
    clear_gemini_key = _clear_key_field()
    new_turbotext_key = _new_key_field("Turbotext")
    clear_turbotext_key = _clear_key_field()
    new_openai_key = _new_key_field("OpenAI")
    clear_openai_key = _clear_key_field()

    class Meta:
        model = GlobalSettings
        fields = SETTINGS_EDITABLE_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        overview = settings_overview()
        states = overview.provider_keys
        for provider in PROVIDER_KEY_NAMES:
            state = states[provider]
            if state.source == "settings":
                status = _("Configured since %(when)s.") % {
                    "when": local_time_text(state.configured_since)
                }
            elif state.source == "environment":
                status = _("From the environment; a key set here takes its place.")
            else:
                status = _("Not configured: this provider's slots fail with provider_error.")
            if state.unreadable:
                status = _(
                    "The key set here can no longer be read (the server's secret key changed): "
                    "enter it again."
                )
            calls_go_to = _("Calls go to %(address)s.") % {"address": state.base_url}
            main = [key for key in overview.api_keys if key.provider == provider and key.id is None]
            used = f" {key_state_text(main[0])}." if main else ""
            self.fields[f"new_{provider}_key"].help_text = f"{status}{used} {calls_go_to}"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        password = cleaned.get("new_ingest_password", "")
        if password != cleaned.get("new_ingest_password_again", ""):
            self.add_error(
                "new_ingest_password_again", _("The two passwords differ; type the same twice.")
            )
        for provider in PROVIDER_KEY_NAMES:
            if cleaned.get(f"new_{provider}_key") and cleaned.get(f"clear_{provider}_key"):
                self.add_error(
                    f"clear_{provider}_key", _("Either enter a new key or clear it, not both.")
                )
        return cleaned


class ProviderKeyForm(forms.ModelForm):
    """An extra API key: its provider and label, and the key itself, write-only."""

    new_key = forms.CharField(
        label=_("Key"),
        required=False,
        max_length=512,
        widget=_new_secret_input(),
        help_text=_("Never shown back; leave empty to keep the stored one."),
    )

    class Meta:
        model = ProviderKey
        fields = ("provider", "label")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("new_key", "").strip():
            self.add_error("new_key", _("Enter the key."))
        return cleaned

    def save(self, commit: bool = True) -> ProviderKey:
        if key := self.cleaned_data.get("new_key", "").strip():
            self.instance.secret = secret_encrypt(key)
        return super().save(commit=commit)


class ProviderKeyInline(admin.TabularInline):
    """More keys per provider: calls spread over them; each row says how its key fares."""

    model = ProviderKey
    form = ProviderKeyForm
    fields = ("provider", "label", "new_key", "key_state")
    readonly_fields = ("key_state",)
    extra = 0
    verbose_name = _("more API keys")
    verbose_name_plural = _("More API keys (calls spread over a provider's keys)")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        # Inlines are made anew for each request: the keys' states are read once per page,
        # not once per row.
        self.shown_keys = {key.id: key for key in settings_overview().api_keys if key.id}
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description=_("state"))
    def key_state(self, key: ProviderKey) -> str:
        if not key.pk:
            return NOTHING
        shown = self.shown_keys.get(key.pk)
        return key_state_text(shown) if shown else _("Cannot be read: enter it again.")


def key_state_text(key: ApiKeyOverview) -> str:
    """A key's counters and state in a line: calls, 429s, resting, invalid."""
    parts = [
        _("%(calls)s calls, rate-limited %(limited)s times")
        % {"calls": key.calls, "limited": key.rate_limited}
    ]
    if key.resting_until and key.resting_until > timezone.now():
        parts.append(_("resting until %(when)s") % {"when": local_time_text(key.resting_until)})
    if key.invalid_since:
        parts.append(
            _("INVALID since %(when)s (%(why)s): replace it")
            % {"when": local_time_text(key.invalid_since), "why": key.invalid_reason}
        )
    return "; ".join(str(part) for part in parts)


@admin.register(GlobalSettings)
class GlobalSettingsAdmin(admin.ModelAdmin):
    form = GlobalSettingsForm
    inlines = (ProviderKeyInline,)
    fieldsets = (
        (
            _("Booth"),
            {
                "fields": (
                    "sync_response_seconds",
                    "max_concurrent_jobs",
                    "strict_upload_hash",
                    "repeat_window_seconds",
                )
            },
        ),
        (_("Results"), {"fields": ("result_ttl_hours", "public_base_url")}),
        (
            _("Cost"),
            {
                "fields": (
                    "gemini_call_price",
                    "openai_call_price",
                    "turbotext_call_price",
                    "daily_paid_calls_cap",
                )
            },
        ),
        (
            _("Ingest password"),
            {
                "fields": (
                    "ingest_password_state",
                    "new_ingest_password",
                    "new_ingest_password_again",
                )
            },
        ),
        (
            _("Provider API keys"),
            {
                "fields": (
                    ("new_gemini_key", "clear_gemini_key"),
                    ("new_turbotext_key", "clear_turbotext_key"),
                    ("new_openai_key", "clear_openai_key"),
                ),
                "description": _("Keys are never shown back: enter a new one to replace it."),
            },
        ),
    )
    readonly_fields = ("ingest_password_state",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # there is exactly one settings row

    def has_delete_permission(
        self, request: HttpRequest, obj: GlobalSettings | None = None
    ) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        # A list of one row is a detour: go straight to it.
        return HttpResponseRedirect(
            reverse("admin:slots_globalsettings_change", args=[settings_get().pk])
        )

    @admin.display(description=_("current password"))
    def ingest_password_state(self, row: GlobalSettings) -> str:
        state = settings_overview().ingest_password
        if not state.set:
            return _("Not set: the booth is refused until one is set.")
        return _("Set on %(when)s by %(who)s.") % {
            "when": local_time_text(state.set_at) if state.set_at else NOTHING,
            "who": state.set_by or NOTHING,
        }

    def save_model(
        self, request: HttpRequest, obj: GlobalSettings, form: GlobalSettingsForm, change: bool
    ) -> None:
        data = form.cleaned_data
        settings_update(changes={name: data[name] for name in SETTINGS_EDITABLE_FIELDS})
        # After settings_update, which saves the whole row: these write single columns.
        if data["new_ingest_password"]:
            ingest_password_set(
                password=data["new_ingest_password"], set_by=request.user.get_username()
            )
        for provider in PROVIDER_KEY_NAMES:
            if data[f"new_{provider}_key"] or data[f"clear_{provider}_key"]:
                provider_key_set(provider=provider, key=data[f"new_{provider}_key"])
