"""rules.Shipment on a declaratively partitioned table, as a project would create one: Django's
state from CreateModel, the table from RunSQL (hash partitions by tenant; PostgreSQL 15 has no
identity columns on partitioned tables, hence a sequence; every unique key includes the partition
key, hence the primary key (id, tenant) and no foreign key constraint from Parcel)."""

import django.db.models.deletion
from django.db import migrations, models

PARTITIONS = 4

CREATE = [
    'CREATE SEQUENCE "rules_shipment_id_seq"',
    """CREATE TABLE "rules_shipment" (
        "id" bigint NOT NULL DEFAULT nextval('rules_shipment_id_seq'),
        "is_deleted" boolean NOT NULL,
        "deleted_at" timestamp with time zone NULL,
        "tenant" integer NOT NULL,
        "author_id" bigint NULL REFERENCES "rules_author" ("id") DEFERRABLE INITIALLY DEFERRED,
        "publisher_id" uuid NULL REFERENCES "rules_publisher" ("id") DEFERRABLE INITIALLY DEFERRED,
        PRIMARY KEY ("id", "tenant")
    ) PARTITION BY HASH ("tenant")""",
    'ALTER SEQUENCE "rules_shipment_id_seq" OWNED BY "rules_shipment"."id"',
    *(
        f'CREATE TABLE "rules_shipment_p{i}" PARTITION OF "rules_shipment"'
        f" FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {i})"
        for i in range(PARTITIONS)
    ),
    'CREATE INDEX "rules_shipment_author_id" ON "rules_shipment" ("author_id")',
    'CREATE INDEX "rules_shipment_publisher_id" ON "rules_shipment" ("publisher_id")',
    # SoftDeleteMixin's keyset index, on the partitioned table: PostgreSQL creates it on each partition.
    'CREATE INDEX "rules_shipm_deleted_a45a80_idx" ON "rules_shipment" ("deleted_at", "id") WHERE "is_deleted"',
]


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0008_retained_cascades"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Shipment",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("is_deleted", models.BooleanField(default=False)),
                        ("deleted_at", models.DateTimeField(blank=True, null=True)),
                        ("tenant", models.IntegerField()),
                        (
                            "author",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="shipments",
                                to="rules.author",
                            ),
                        ),
                        (
                            "publisher",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to="rules.publisher",
                            ),
                        ),
                    ],
                    options={"abstract": False},
                ),
                migrations.AddIndex(
                    model_name="shipment",
                    index=models.Index(
                        condition=models.Q(("is_deleted", True)),
                        fields=["deleted_at", "id"],
                        name="rules_shipm_deleted_a45a80_idx",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(CREATE, reverse_sql=['DROP TABLE "rules_shipment"']),
            ],
        ),
        migrations.CreateModel(
            name="Parcel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "shipment",
                    models.ForeignKey(
                        db_constraint=False, on_delete=django.db.models.deletion.CASCADE, to="rules.shipment"
                    ),
                ),
            ],
        ),
    ]
