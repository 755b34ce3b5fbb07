# Staff API tokens now belong to the project's base (photochanger/migrations/0001_api_token.py);
# the table stays, under its first name.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("slots", "0004_verbose_names"),
        ("photochanger", "0001_api_token"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ApiToken")],
            database_operations=[],
        ),
    ]
