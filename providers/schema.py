"""Every provider's slot settings, described for tools (JSON schema) and for staff (one line).

Both are read off the drivers' settings models, so the admin's help and the API's schema name the
same settings, bounds and defaults that a slot is checked against when it is saved.
"""

from __future__ import annotations

from providers.registry import provider_for, providers_by_name
from providers.settings import ProviderSettings


def provider_settings_schema() -> dict[str, dict]:
    """The JSON schema of each provider's settings, by provider name."""
    return {
        name: driver.settings_model.model_json_schema()
        for name, driver in providers_by_name().items()
    }


def provider_settings_help(provider: str) -> str:
    """One line naming each setting of ``provider``: whether it is required, what it is, its
    choices or bounds and its default. Empty for a provider that does not exist."""
    driver = provider_for(provider)
    if driver is None:
        return ""
    schema = driver.settings_model.model_json_schema()
    required = set(schema.get("required", ()))
    # The provider's own settings first, then those every provider has (min_seconds).
    shared = ProviderSettings.model_fields
    properties = sorted(schema["properties"].items(), key=lambda item: item[0] in shared)
    return "; ".join(
        _setting_help(name, described, required=name in required) for name, described in properties
    )


def _setting_help(name: str, described: dict, *, required: bool) -> str:
    # An optional setting's schema is anyOf [its own type, null]: its choices and bounds sit there.
    kinds = [described, *described.get("anyOf", ())]
    details = []
    choices = [str(value) for kind in kinds for value in kind.get("enum", ())]
    if choices:
        details.append(" / ".join(choices))
    low = next((kind["minimum"] for kind in kinds if "minimum" in kind), None)
    high = next((kind["maximum"] for kind in kinds if "maximum" in kind), None)
    if low is not None and high is not None:
        details.append(f"{_shown(low)} to {_shown(high)}")
    default = described.get("default")
    if default is not None and default != "":
        details.append(f"default {_shown(default)}")
    words = f"{name} (required)" if required else name
    words += f": {described['description']}"
    return f"{words} ({', '.join(details)})" if details else words


def _shown(value: object) -> str:
    # As staff write it in the settings JSON: true, 2 (not True, 2.0).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
