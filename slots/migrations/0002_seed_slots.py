"""Create the 15 fixed slots and the settings row."""

from django.db import migrations

from slots.defaults import default_slots


def seed(apps, schema_editor):
    Slot = apps.get_model("slots", "Slot")
    GlobalSettings = apps.get_model("slots", "GlobalSettings")
    for values in default_slots():
        Slot.objects.get_or_create(id=values["id"], defaults=values)
    GlobalSettings.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("slots", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
