# Provider keys encrypted at rest, base_url gone from slot settings (provider addresses come only
# from the server's environment), and the permissions an event operator is given.

from django.db import migrations, models

from photochanger.encryption import ENCRYPTED_PREFIX, secret_encrypt

KEY_FIELDS = ("gemini_api_key", "turbotext_api_key", "openai_api_key")


def encrypt_stored_keys(apps, schema_editor):
    GlobalSettings = apps.get_model("slots", "GlobalSettings")
    for row in GlobalSettings.objects.all():
        for field in KEY_FIELDS:
            value = getattr(row, field)
            if value and not value.startswith(ENCRYPTED_PREFIX):
                setattr(row, field, secret_encrypt(value))
        row.save(update_fields=KEY_FIELDS)


def forget_slot_base_urls(apps, schema_editor):
    Slot = apps.get_model("slots", "Slot")
    for slot in Slot.objects.all():
        if isinstance(slot.settings, dict) and "base_url" in slot.settings:
            slot.settings = {k: v for k, v in slot.settings.items() if k != "base_url"}
            slot.save(update_fields=["settings"])


class Migration(migrations.Migration):
    dependencies = [
        ("slots", "0006_ingest_password_previous"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="slot",
            options={
                "ordering": ["id"],
                "permissions": [
                    ("operate_slot", "Can switch a slot on or off and edit its prompt"),
                    ("test_slot", "Can try a slot with a test photo"),
                ],
                "verbose_name": "slot",
                "verbose_name_plural": "slots",
            },
        ),
        *[
            migrations.AlterField(
                model_name="globalsettings",
                name=field,
                field=models.CharField(blank=True, max_length=1024),
            )
            for field in KEY_FIELDS
        ],
        migrations.RunPython(encrypt_stored_keys, migrations.RunPython.noop),
        migrations.RunPython(forget_slot_base_urls, migrations.RunPython.noop),
    ]
