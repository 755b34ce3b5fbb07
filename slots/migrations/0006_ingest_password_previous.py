# The hash of the ingest password before the last change, so a booth that still sends the old
# one is told the password was changed (same 401 and code as any wrong password).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("slots", "0005_api_token_moved"),
    ]

    operations = [
        migrations.AddField(
            model_name="globalsettings",
            name="ingest_password_previous_hash",
            field=models.CharField(blank=True, max_length=256),
        ),
    ]
