"""Short pickup codes (ADR 0011): every pickup code gets a store and an 8-character short code; codes of
orders already finished are closed; attempts that found no code are counted per staff member and store."""

import secrets

import django.db.models.deletion
from django.db import migrations, models

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
ENDED = ("picked_up", "cancelled", "expired", "refunded")


def backfill(apps, schema_editor):
    PickupCode = apps.get_model("orders", "PickupCode")
    taken: set[tuple[int, str]] = set()
    for row in PickupCode.objects.select_related("order").order_by("pk").iterator():
        code = "".join(secrets.choice(ALPHABET) for _ in range(8))
        while (row.order.store_id, code) in taken:
            code = "".join(secrets.choice(ALPHABET) for _ in range(8))
        taken.add((row.order.store_id, code))
        row.store_id = row.order.store_id
        row.short_code = code
        if row.used_at is not None or row.order.status in ENDED:
            row.closed_at = row.used_at or row.order.updated_at
        row.save(update_fields=["store", "short_code", "closed_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("org", "0001_initial"),
        ("orders", "0003_order_adjustments_request_hash"),
    ]

    operations = [
        migrations.AddField(
            model_name="pickupcode",
            name="closed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="pickupcode",
            name="short_code",
            field=models.CharField(default="", max_length=8),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="pickupcode",
            name="store",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="org.store"
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="pickupcode",
            name="store",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="org.store"),
        ),
        migrations.AddConstraint(
            model_name="pickupcode",
            constraint=models.UniqueConstraint(
                condition=models.Q(("closed_at__isnull", True)),
                fields=("store", "short_code"),
                name="pickupcode_open_short_code_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(("pickup_window_end__gt", models.F("pickup_window_start"))),
                name="order_pickup_window_ordered",
            ),
        ),
        migrations.CreateModel(
            name="PickupAttemptCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("scope", models.CharField(choices=[("staff", "staff member"), ("store", "store")], max_length=8)),
                ("subject_id", models.BigIntegerField()),
                ("window_start", models.DateTimeField()),
                ("misses", models.PositiveIntegerField(default=0)),
            ],
            options={
                "indexes": [models.Index(fields=["window_start"], name="pickupattempt_window_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("scope", "subject_id", "window_start"), name="pickupattempt_window_unique"
                    )
                ],
            },
        ),
    ]
