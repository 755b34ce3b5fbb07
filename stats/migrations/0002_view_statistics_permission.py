from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("stats", "0001_initial"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="gallerysharing",
            options={
                "permissions": [("view_statistics", "Can view statistics and live jobs")],
                "verbose_name": "gallery sharing",
                "verbose_name_plural": "gallery sharing",
            },
        ),
    ]
