"""PostgreSQL: leave room in statement pages so that generation's totals UPDATE (no indexed column changes) is
a HOT update — no index writes for 40,000 statements a run. Nothing to do on SQLite."""

from django.db import migrations


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE incentives_staffstatement SET (fillfactor = 50)")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE incentives_staffstatement RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("incentives", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
