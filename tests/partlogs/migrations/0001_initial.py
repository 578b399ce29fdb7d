"""partlogs: PartLog and PartTrash on tables range-partitioned by day (Django's state from CreateModel,
the tables from RunSQL, as tests/rules/migrations/0009_partitioned_shipment.py does for a hash-partitioned
one). Each has a DEFAULT partition here; tests/test_partitions.py creates the daily partitions around
its own now. PostgreSQL 15 has no identity column on a partitioned table (a sequence, then) and no
unique key without the partition key: PartLog's primary key is (id, at); PartTrash, partitioned on
the nullable deleted_at, has none (an index on id)."""

import django.db.models.deletion
from django.db import migrations, models

CREATE = [
    'CREATE SEQUENCE "partlogs_partlog_id_seq"',
    """CREATE TABLE "partlogs_partlog" (
        "id" bigint NOT NULL DEFAULT nextval('partlogs_partlog_id_seq'),
        "at" timestamp with time zone NOT NULL,
        "note" varchar(40) NOT NULL,
        PRIMARY KEY ("id", "at")
    ) PARTITION BY RANGE ("at")""",
    'ALTER SEQUENCE "partlogs_partlog_id_seq" OWNED BY "partlogs_partlog"."id"',
    'CREATE TABLE "partlogs_partlog_default" PARTITION OF "partlogs_partlog" DEFAULT',
    # The timestamp policy's keyset index (at, id): CREATE INDEX CONCURRENTLY, which sync would run,
    # is refused on a partitioned table, so the table brings it; sync then uses it.
    'CREATE INDEX "partlogs_partlog_at_id" ON "partlogs_partlog" ("at", "id")',
    'CREATE SEQUENCE "partlogs_parttrash_id_seq"',
    """CREATE TABLE "partlogs_parttrash" (
        "id" bigint NOT NULL DEFAULT nextval('partlogs_parttrash_id_seq'),
        "is_deleted" boolean NOT NULL,
        "deleted_at" timestamp with time zone NULL,
        "name" varchar(40) NOT NULL
    ) PARTITION BY RANGE ("deleted_at")""",
    'ALTER SEQUENCE "partlogs_parttrash_id_seq" OWNED BY "partlogs_parttrash"."id"',
    'CREATE TABLE "partlogs_parttrash_default" PARTITION OF "partlogs_parttrash" DEFAULT',
    'CREATE INDEX "partlogs_parttrash_id" ON "partlogs_parttrash" ("id")',
    'CREATE INDEX "partlogs_pa_deleted_063174_idx" ON "partlogs_parttrash" ("deleted_at", "id") WHERE "is_deleted"',
]


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PartLog",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("at", models.DateTimeField()),
                        ("note", models.CharField(default="", max_length=40)),
                    ],
                ),
                migrations.CreateModel(
                    name="PartTrash",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("is_deleted", models.BooleanField(default=False)),
                        ("deleted_at", models.DateTimeField(blank=True, null=True)),
                        ("name", models.CharField(default="", max_length=40)),
                    ],
                    options={
                        "abstract": False,
                        "indexes": [
                            models.Index(
                                condition=models.Q(("is_deleted", True)),
                                fields=["deleted_at", "id"],
                                name="partlogs_pa_deleted_063174_idx",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    CREATE, reverse_sql=['DROP TABLE "partlogs_parttrash"', 'DROP TABLE "partlogs_partlog"']
                ),
            ],
        ),
        migrations.CreateModel(
            name="PartLogChild",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "log",
                    models.ForeignKey(
                        db_constraint=False, on_delete=django.db.models.deletion.CASCADE, to="partlogs.partlog"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PartLogLock",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "log",
                    models.ForeignKey(
                        db_constraint=False, on_delete=django.db.models.deletion.PROTECT, to="partlogs.partlog"
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PartLogMark",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "log",
                    models.ForeignKey(
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to="partlogs.partlog",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PartTrashChild",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "trash",
                    models.ForeignKey(
                        db_constraint=False, on_delete=django.db.models.deletion.CASCADE, to="partlogs.parttrash"
                    ),
                ),
            ],
        ),
    ]
