from django.db import migrations, models


class Migration(migrations.Migration):
    """The purge order's new rule (graph.purge_order): a model with a CASCADE foreign key to another
    policy's model comes after it. Only the field's help text; the positions are written by sync."""

    dependencies = [
        ("django_pg_retention", "0012_partitions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="retentionpolicy",
            name="position",
            field=models.PositiveIntegerField(
                help_text="purge order: a model before the models it references, after those it references with CASCADE"
            ),
        ),
    ]
