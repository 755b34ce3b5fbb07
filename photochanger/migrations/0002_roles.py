# The "Event operator" and "Event admin" groups (photochanger.roles). Permissions are created
# here when missing, as Django would after migrating, so the groups are complete at once.

from django.db import migrations

from photochanger.roles import (
    ADMIN_EXTRA_PERMISSIONS,
    ADMIN_MODELS,
    EVENT_ADMIN,
    EVENT_OPERATOR,
    OPERATOR_PERMISSIONS,
)

ACTIONS = ("add", "change", "delete", "view")
# The custom permissions' names, as the models declare them (Meta.permissions).
CUSTOM_NAMES = {
    "slots.operate_slot": "Can switch a slot on or off and edit its prompt",
    "slots.test_slot": "Can try a slot with a test photo",
    "stats.view_statistics": "Can view statistics and live jobs",
}
# The models' verbose names, which Django's own permission names use.
VERBOSE_NAMES = {
    "slot": "slot",
    "templateimage": "template image",
    "globalsettings": "settings",
    "job": "job",
    "storedmedia": "stored media",
    "gallerysharing": "gallery sharing",
    "apitoken": "API token",
}
# The models of the custom permissions.
CUSTOM_MODELS = {
    "slots.operate_slot": "slot",
    "slots.test_slot": "slot",
    "stats.view_statistics": "gallerysharing",
}


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")

    def permission(app_label, model, codename, name):
        content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
        found, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        return found

    def named(dotted):
        app_label, codename = dotted.split(".")
        if dotted in CUSTOM_MODELS:
            return permission(app_label, CUSTOM_MODELS[dotted], codename, CUSTOM_NAMES[dotted])
        action, model = codename.split("_", 1)
        return permission(app_label, model, codename, f"Can {action} {VERBOSE_NAMES[model]}")

    operator, _ = Group.objects.get_or_create(name=EVENT_OPERATOR)
    operator.permissions.add(*[named(dotted) for dotted in OPERATOR_PERMISSIONS])

    admin, _ = Group.objects.get_or_create(name=EVENT_ADMIN)
    everything = [
        named(f"{app_label}.{action}_{model}")
        for app_label, models in ADMIN_MODELS.items()
        for model in models
        for action in ACTIONS
    ]
    admin.permissions.add(*everything, *[named(dotted) for dotted in ADMIN_EXTRA_PERMISSIONS])


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=[EVENT_OPERATOR, EVENT_ADMIN]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("photochanger", "0001_api_token"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("slots", "0007_crew_ready"),
        ("ingest", "0003_verbose_names"),
        ("media", "0001_initial"),
        ("stats", "0002_view_statistics_permission"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
