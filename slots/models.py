"""Slots (the 15 fixed processing presets), their template images, and the global settings."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from photochanger.limits import UPLOAD_CAP_MB

SLOT_COUNT = 15


class Provider(models.TextChoices):
    GEMINI = "gemini", "Google Gemini"
    TURBOTEXT = "turbotext", "Turbotext"
    OPENAI = "openai", "OpenAI"
    LOCAL = "local", _("Local (offline)")


class OnFailure(models.TextChoices):
    ERROR = "error", _("Answer with a JSON error (the booth prints its original)")
    ORIGINAL = "original", _("Answer 200 with the guest's original photo")


class QrCorner(models.TextChoices):
    NONE = "", _("none")
    TOP_LEFT = "top-left", _("top left")
    TOP_RIGHT = "top-right", _("top right")
    BOTTOM_LEFT = "bottom-left", _("bottom left")
    BOTTOM_RIGHT = "bottom-right", _("bottom right")


class Slot(models.Model):
    id = models.CharField(_("ID"), primary_key=True, max_length=16, editable=False)
    display_name = models.CharField(_("name"), max_length=100)
    provider = models.CharField(
        _("provider"), max_length=16, choices=Provider.choices, default=Provider.LOCAL
    )
    operation = models.CharField(_("operation"), max_length=40, default="passthrough")
    is_active = models.BooleanField(_("active"), default=False)
    size_limit_mb = models.PositiveSmallIntegerField(
        _("size limit (MB)"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(UPLOAD_CAP_MB)],
    )
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    on_failure = models.CharField(
        _("on failure"), max_length=16, choices=OnFailure.choices, default=OnFailure.ERROR
    )
    # The failover chain: when this slot's provider fails, the next slot's provider,
    # operation, settings and template images are tried, inside the same deadline.
    failover_first = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("then try slot"),
        help_text=_(
            "When this slot's provider fails, this slot's provider, operation and settings are "
            "tried for the same photo, within the same deadline (e.g. OpenAI after Gemini)."
        ),
    )
    failover_second = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("and then slot"),
        help_text=_("The last step, e.g. a local background slot that needs no internet."),
    )
    failover_on_refusal = models.BooleanField(
        _("fail over when a provider refuses the content"),
        default=False,
        help_text=_(
            "A provider's refusal for safety or moderation moves on to the next step too; "
            "unticked, the guest gets the refusal."
        ),
    )
    daily_paid_calls_cap = models.PositiveIntegerField(
        _("paid calls a day"),
        null=True,
        blank=True,
        help_text=_(
            "At this many paid provider calls today for this slot, it answers with its "
            "failover chain's first free step or its on-failure answer. Empty: no cap."
        ),
    )
    max_concurrent_jobs = models.PositiveSmallIntegerField(
        _("concurrent jobs cap"),
        null=True,
        blank=True,
        help_text=_("Optional cap for this slot, under the global one."),
    )
    guest_qr_corner = models.CharField(
        _("guest's QR code on the print"),
        max_length=16,
        choices=QrCorner.choices,
        blank=True,
        help_text=_(
            "Stamp the QR code of the guest's result page onto each result, in this corner "
            "(needs the public base URL)."
        ),
    )
    guest_qr_caption = models.CharField(
        _("caption under the QR code"),
        max_length=40,
        blank=True,
        help_text=_("For example “Scan for your photo”."),
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    updated_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("updated by"),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        # What an event operator may do to a slot without the full "change slot" permission.
        permissions = [
            ("operate_slot", _("Can switch a slot on or off and edit its prompt")),
            ("test_slot", _("Can try a slot with a test photo")),
        ]

    def __str__(self) -> str:
        return f"{self.id} · {self.display_name}"

    @property
    def size_limit_bytes(self) -> int:
        return self.size_limit_mb * 1024 * 1024

    def clean(self) -> None:
        from slots.services import slot_settings_problems  # services import this module

        problems = slot_settings_problems(
            provider=self.provider, operation=self.operation, settings=self.settings
        )
        errors: dict[str, list[str]] = {}
        for key, message in problems.items():
            field, _, setting = key.partition(".")
            errors.setdefault(field, []).append(f"{setting}: {message}" if setting else message)
        for field, message in self._failover_problems().items():
            errors.setdefault(field, []).append(message)
        if errors:
            raise ValidationError(errors)

    def _failover_problems(self) -> dict[str, str]:
        first, second = self.failover_first_id, self.failover_second_id
        problems = {}
        for field, chosen in (("failover_first", first), ("failover_second", second)):
            if chosen is not None and chosen == self.pk:
                problems[field] = gettext("A slot cannot fail over to itself.")
        if second is not None and first is None:
            problems["failover_second"] = gettext("Choose the first failover slot first.")
        elif second is not None and second == first:
            problems["failover_second"] = gettext("Choose two different failover slots.")
        return problems


class TemplateRole(models.TextChoices):
    STYLE = "style", _("style")
    BACKGROUND = "background", _("background")
    FACE = "face", _("face")
    OVERLAY = "overlay", _("overlay")


class TemplateImage(models.Model):
    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="template_images")
    role = models.CharField(_("role"), max_length=16, choices=TemplateRole.choices)
    # A storage name, written and deleted only by media.services.
    storage_name = models.CharField(max_length=255, unique=True)
    content_type = models.CharField(max_length=32)
    size_bytes = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slot_id", "id"]
        verbose_name = _("template image")
        verbose_name_plural = _("template images")

    def __str__(self) -> str:
        return f"{self.slot_id} {self.role} #{self.pk}"


def _call_price(label: str) -> models.DecimalField:
    return models.DecimalField(
        label, max_digits=8, decimal_places=4, default=0, validators=[MinValueValidator(0)]
    )


class GlobalSettings(models.Model):
    """The one row of settings staff change in the admin (pk is always 1)."""

    sync_response_seconds = models.PositiveSmallIntegerField(
        _("T_sync_response (s)"),
        default=48,
        validators=[MinValueValidator(5), MaxValueValidator(120)],
    )
    result_ttl_hours = models.PositiveSmallIntegerField(
        _("result lifetime (h)"),
        default=72,
        validators=[MinValueValidator(1), MaxValueValidator(720)],
    )
    max_concurrent_jobs = models.PositiveSmallIntegerField(
        _("concurrent jobs"), default=30, validators=[MinValueValidator(1)]
    )
    public_base_url = models.URLField(_("public base URL"), blank=True)
    strict_upload_hash = models.BooleanField(
        _("refuse uploads whose hash mismatches"), default=False
    )
    # What a paid provider call costs (ingest.costs), in the event's currency, for the stats'
    # estimate; and the most paid calls a day may make, all slots together.
    gemini_call_price = _call_price(_("Gemini: price per call"))
    openai_call_price = _call_price(_("OpenAI: price per call"))
    turbotext_call_price = _call_price(_("Turbotext: price per call"))
    daily_paid_calls_cap = models.PositiveIntegerField(
        _("paid calls a day, all slots"),
        null=True,
        blank=True,
        help_text=_(
            "At this many paid provider calls today, slots answer with their failover chain's "
            "first free step (the local provider) or their on-failure answer. Empty: no cap."
        ),
    )
    repeat_window_seconds = models.PositiveIntegerField(
        _("re-sent photos answered from the first job within (s)"),
        default=120,
        validators=[MaxValueValidator(3600)],
        help_text=_(
            "A booth that sends the same photo to the same slot again within this time gets "
            "the first job's result (or waits for it), not a second provider call. 0: off."
        ),
    )
    ingest_password_hash = models.CharField(max_length=256, blank=True)
    ingest_password_set_at = models.DateTimeField(null=True, blank=True)
    ingest_password_set_by = models.CharField(max_length=150, blank=True)
    # The password before the last change: a booth still sending it is told it was changed.
    ingest_password_previous_hash = models.CharField(max_length=256, blank=True)
    # Encrypted (photochanger.encryption): never stored in the clear.
    gemini_api_key = models.CharField(max_length=1024, blank=True)
    gemini_api_key_set_at = models.DateTimeField(null=True, blank=True)
    turbotext_api_key = models.CharField(max_length=1024, blank=True)
    turbotext_api_key_set_at = models.DateTimeField(null=True, blank=True)
    openai_api_key = models.CharField(max_length=1024, blank=True)
    openai_api_key_set_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("settings")
        verbose_name_plural = _("settings")

    def __str__(self) -> str:
        return str(_("Global settings"))


# The providers that need an API key.
KEYED_PROVIDERS = [(value, label) for value, label in Provider.choices if value != Provider.LOCAL]


class ProviderKey(models.Model):
    """One more API key of a provider, beside the one on the settings page (or in the
    environment): calls spread over them all (slots.keys)."""

    settings = models.ForeignKey(
        GlobalSettings, on_delete=models.CASCADE, related_name="extra_keys", default=1
    )
    provider = models.CharField(_("provider"), max_length=16, choices=KEYED_PROVIDERS)
    label = models.CharField(_("label"), max_length=40)
    # Encrypted (photochanger.encryption): never stored or shown in the clear.
    secret = models.CharField(max_length=1024)
    created_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        ordering = ["provider", "created_at", "pk"]
        verbose_name = _("more API keys")
        verbose_name_plural = _("more API keys")

    def __str__(self) -> str:
        return f"{self.provider}: {self.label}"


class ProviderKeyUse(models.Model):
    """What one key went through, under a keyed fingerprint of it (never the key): its calls,
    its 429s, whether it rests or was refused as invalid. Kept by fingerprint so the key on the
    settings page and one from the environment have theirs too."""

    provider = models.CharField(max_length=16)
    fingerprint = models.CharField(max_length=64)
    calls = models.PositiveIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    resting_until = models.DateTimeField(null=True, blank=True)
    invalid_at = models.DateTimeField(null=True, blank=True)
    invalid_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "fingerprint"], name="key_use_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.fingerprint[:8]}: {self.calls} calls"
