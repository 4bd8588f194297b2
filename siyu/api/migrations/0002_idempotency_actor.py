"""Idempotency records are scoped to the actor that sent the key (ADR 0009): a token or a staff session."""

from django.db import migrations, models
from django.db.models import Value
from django.db.models.functions import Cast, Concat


def fill_actor(apps, schema_editor):
    IdempotencyRecord = apps.get_model("api", "IdempotencyRecord")
    IdempotencyRecord.objects.update(
        actor=Concat(Value("staff:"), Cast("staff_id", models.CharField(max_length=20)))
    )


class Migration(migrations.Migration):
    dependencies = [("api", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="actor",
            field=models.CharField(default="", max_length=40),
            preserve_default=False,
        ),
        migrations.RunPython(fill_actor, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="idempotencyrecord", name="idempotency_staff_key_unique"),
        migrations.AddConstraint(
            model_name="idempotencyrecord",
            constraint=models.UniqueConstraint(fields=("actor", "key"), name="idempotency_actor_key_unique"),
        ),
    ]
