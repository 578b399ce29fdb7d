"""Event on a table range-partitioned by ``at`` (primary key (id, at), a sequence; the keyset index
(at, id) on the parent, since CREATE INDEX CONCURRENTLY is refused on a partitioned table); a DEFAULT
partition. FlatEvent: an ordinary table."""

from django.db import migrations, models

CREATE = [
    'CREATE SEQUENCE "benchpart_event_id_seq"',
    """CREATE TABLE "benchpart_event" (
        "id" bigint NOT NULL DEFAULT nextval('benchpart_event_id_seq'),
        "at" timestamp with time zone NOT NULL,
        "payload" varchar(64) NOT NULL,
        PRIMARY KEY ("id", "at")
    ) PARTITION BY RANGE ("at")""",
    'ALTER SEQUENCE "benchpart_event_id_seq" OWNED BY "benchpart_event"."id"',
    'CREATE TABLE "benchpart_event_default" PARTITION OF "benchpart_event" DEFAULT',
    'CREATE INDEX "benchpart_event_at_id" ON "benchpart_event" ("at", "id")',
]


class Migration(migrations.Migration):
    initial = True

    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Event",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("at", models.DateTimeField()),
                        ("payload", models.CharField(max_length=64)),
                    ],
                ),
            ],
            database_operations=[migrations.RunSQL(CREATE, reverse_sql=['DROP TABLE "benchpart_event"'])],
        ),
        migrations.CreateModel(
            name="FlatEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField()),
                ("payload", models.CharField(max_length=64)),
            ],
            options={
                "indexes": [models.Index(fields=["at", "id"], name="benchpart_flat_at_id")],
            },
        ),
    ]
