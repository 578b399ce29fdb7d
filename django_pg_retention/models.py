"""The soft-delete contract that retention policies act on."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from django_pg_retention.config import MAX_DAYS

# Class attributes by which a model names its soft-delete fields (see policies.SoftDeleteColumns).
DELETED_AT_ATTR = "retention_deleted_at_field"
FLAG_ATTR = "retention_flag_field"


class PurgeIndex(models.Index):
    """The purge's keyset index, ``(deleted_at, pk) WHERE is_deleted``, named per concrete model.

    Its order is exactly the order in which the purge takes batches, so that each batch starts
    where the last one ended (an index bound) instead of scanning past the rows already purged.
    ``"pk"`` in ``fields`` stands for the concrete model's primary key column.

    An abstract model cannot give a conditional index a unique name that fits PostgreSQL's
    limits, and Django refuses a conditional index without a name, so the name starts empty
    and Django's ``set_name_with_model`` fills in a hashed one for each subclass. Migrations
    record a plain ``models.Index``.
    """

    def set_name_with_model(self, model: type[models.Model]) -> None:
        pk_name: str = model._meta.pk.name  # type: ignore[union-attr]
        self.fields = [pk_name if f == "pk" else f for f in self.fields]
        self.fields_orders = [(pk_name if f == "pk" else f, order) for f, order in self.fields_orders]
        super().set_name_with_model(model)

    def __init__(self, *expressions: Any, name: str = "", **kwargs: Any) -> None:
        super().__init__(*expressions, name=name or "pending", **kwargs)
        self.name = name

    def deconstruct(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        _, args, kwargs = super().deconstruct()
        return "django.db.models.Index", args, kwargs

    def clone(self) -> models.Index:
        # Once named (per concrete model), hand out the plain Index that migrations record:
        # the autodetector compares indexes by class.
        _, args, kwargs = self.deconstruct()
        return models.Index(*args, **kwargs) if self.name else PurgeIndex(*args, **kwargs)


class SoftDeleteQuerySet(models.QuerySet[Any]):
    def alive(self) -> SoftDeleteQuerySet:
        return self.filter(is_deleted=False)

    def deleted(self) -> SoftDeleteQuerySet:
        return self.filter(is_deleted=True)


class SoftDeleteManager(models.Manager.from_queryset(SoftDeleteQuerySet)):  # type: ignore[misc]
    """Opt-in: ``objects = SoftDeleteManager()`` gives ``.alive()`` and ``.deleted()``."""


class SoftDeleteMixin(models.Model):
    """Rows are marked deleted first; retention policies purge them later.

    The mixin declares no manager, so a model keeps its own (a custom user model keeps its
    UserManager) and ``objects`` still returns soft-deleted rows until the purge.
    """

    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    retention_deleted_at_field: ClassVar[str] = "deleted_at"
    retention_flag_field: ClassVar[str | None] = "is_deleted"

    class Meta:
        abstract = True
        indexes = [PurgeIndex(fields=["deleted_at", "pk"], condition=Q(is_deleted=True))]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A multi-table child of a soft-deletable model would otherwise pick up this mixin's
        # Meta through the MRO, with an index on a column that lives in its parent's table.
        for base in cls.__mro__[1:]:
            meta = base.__dict__.get("_meta")
            if meta is not None and not meta.abstract and issubclass(base, SoftDeleteMixin):
                cls.Meta = type("Meta", (), {})  # type: ignore[attr-defined]
                break

    def soft_delete(self) -> None:
        """Mark the row deleted now; the retention clock starts from ``deleted_at``."""
        self.is_deleted = True
        self.deleted_at = timezone.now()
        self.save(update_fields=["is_deleted", "deleted_at"])

    def restore(self) -> None:
        """Undo a soft delete; the row is no longer eligible for purging."""
        self.is_deleted = False
        self.deleted_at = None
        self.save(update_fields=["is_deleted", "deleted_at"])


POLICY_KINDS = [("soft_delete", "soft delete"), ("timestamp", "timestamp")]


class RetentionPolicy(models.Model):
    """One row per model with a policy (soft-delete or timestamp), synced from settings; read by the
    SQL purge. A timestamp policy's deleted_at_column is its field, and it has no flag column."""

    model_path = models.CharField(max_length=200, unique=True)
    db_table = models.CharField(max_length=200)
    pk_column = models.CharField(max_length=200)
    retention_days = models.PositiveIntegerField()
    policy_source = models.CharField(max_length=32)
    purge_function = models.CharField(max_length=200)
    select_function = models.CharField(max_length=200)
    position = models.PositiveIntegerField(
        help_text="purge order: a model before the models it references, after those it references with CASCADE"
    )
    max_deletions_per_run = models.PositiveIntegerField(null=True, blank=True, help_text="unattended-run limit")
    deleted_at_column = models.CharField(max_length=200, default="deleted_at", db_default="deleted_at")
    flag_column = models.CharField(
        max_length=200, blank=True, default="is_deleted", db_default="is_deleted", help_text="empty: no flag column"
    )
    is_active = models.BooleanField(default=True)
    sql_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)
    kind = models.CharField(
        max_length=16,
        choices=POLICY_KINDS,
        default="soft_delete",
        db_default="soft_delete",
        help_text="what starts the clock: the soft delete, or the timestamp in deleted_at_column",
    )
    partition_refs = models.TextField(
        blank=True,
        default="",
        db_default="",
        help_text="the function retention.drop_partition calls to find a partition's referenced rows",
    )
    blocking_tables: models.JSONField[list[str] | None] = models.JSONField(
        null=True,
        blank=True,
        help_text=(
            "tables whose rows can block this model's purge by reference (PROTECT, RESTRICT, DO_NOTHING): a run"
            " gives blocked rows another pass only after a purge deleted rows of one (NULL: after any purge)"
        ),
    )

    class Meta:
        db_table = "retention_policy"
        ordering = ["position", "model_path"]
        verbose_name_plural = "retention policies"
        # What the settings checks enforce, held by the database too: a row written by hand with
        # retention_days 0 would make every soft-deleted row eligible. A timestamp policy may have 0
        # (a session past its expire_date): its timestamp is not a soft delete.
        constraints = [
            models.CheckConstraint(
                condition=Q(retention_days__gte=1) | Q(kind="timestamp"), name="retention_policy_days_at_least_1"
            ),
            models.CheckConstraint(condition=Q(kind__in=["soft_delete", "timestamp"]), name="retention_policy_kind"),
            models.CheckConstraint(
                condition=~Q(kind="timestamp") | Q(flag_column=""), name="retention_policy_timestamp_without_flag"
            ),
            # now() - retention_days must stay a timestamp: a run's item would fail before its count.
            models.CheckConstraint(condition=Q(retention_days__lte=MAX_DAYS), name="retention_policy_days_at_most_max"),
            models.CheckConstraint(
                condition=Q(max_deletions_per_run__isnull=True) | Q(max_deletions_per_run__gte=1),
                name="retention_policy_max_deletions_at_least_1",
            ),
            models.CheckConstraint(condition=~Q(deleted_at_column=""), name="retention_policy_deleted_at_column_set"),
        ]

    def __str__(self) -> str:
        return f"{self.model_path}: {self.retention_days} days"


class RetentionPolicyHistory(models.Model):
    """Every change of a policy row: created, days_changed, source_changed, deactivated, reactivated,
    updated (another column), deleted. Written by the database trigger retention_policy_history,
    whichever role and path changed the row (retention sync, the admin, psql)."""

    model_path = models.CharField(max_length=200, db_index=True)
    change = models.CharField(max_length=32)
    old_days = models.PositiveIntegerField(null=True)
    new_days = models.PositiveIntegerField(null=True)
    old_source = models.CharField(max_length=32, blank=True)
    new_source = models.CharField(max_length=32, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)
    changed_by = models.CharField(
        max_length=200, blank=True, default="", db_default="", help_text="the database role that made the change"
    )
    detail = models.CharField(
        max_length=1000, blank=True, default="", db_default="", help_text="the columns an update changed"
    )
    actor = models.CharField(
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text="the Django user or command the application said it acted for (retention.actor), if any",
    )

    class Meta:
        db_table = "retention_policy_history"
        ordering = ["-changed_at", "-id"]
        verbose_name_plural = "retention policy history"

    def __str__(self) -> str:
        return f"{self.model_path} {self.change} at {self.changed_at:%Y-%m-%d %H:%M}"


class RetentionConfigRow(models.Model):
    """RETENTION_CLEANUP_CONFIG as the SQL procedure reads it (a single row)."""

    # The synced keys of config.CleanupConfig (defaults and meanings there): sync writes every
    # column, and the SQL reads them through retention.config(), with no defaults of its own.
    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    batch_size = models.PositiveIntegerField()
    max_execution_time = models.PositiveIntegerField(help_text="seconds")
    lock_timeout_ms = models.PositiveIntegerField()
    target_batch_ms = models.PositiveIntegerField()
    min_batch_size = models.PositiveIntegerField()
    max_batch_size = models.PositiveIntegerField()
    enable_notifications = models.BooleanField()
    notification_threshold = models.PositiveIntegerField()
    audit_retention_days = models.PositiveIntegerField()
    max_replica_lag_bytes = models.BigIntegerField(null=True)
    replica_slots = ArrayField(models.TextField(), default=list, blank=True)
    batch_pause_ms = models.PositiveIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "retention_config"
        constraints = [
            models.CheckConstraint(
                condition=Q(batch_size__gte=1)
                & Q(max_execution_time__gte=1)
                & Q(lock_timeout_ms__gte=1)
                & Q(target_batch_ms__gte=1)
                & Q(min_batch_size__gte=1)
                & Q(max_batch_size__gte=models.F("min_batch_size"))
                & Q(notification_threshold__gte=1),
                name="retention_config_values_in_range",
            ),
            models.CheckConstraint(
                condition=Q(audit_retention_days__gte=1), name="retention_config_audit_days_at_least_1"
            ),
            models.CheckConstraint(
                condition=Q(max_replica_lag_bytes__isnull=True) | Q(max_replica_lag_bytes__gte=1),
                name="retention_config_replica_lag_at_least_1",
            ),
        ]

    def __str__(self) -> str:
        return f"batch_size={self.batch_size} max_execution_time={self.max_execution_time}s"


class RunStatus(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


class ItemStatus(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    NEEDS_CONFIRMATION = "needs_confirmation"  # over max_deletions_per_run: left for a person


class RequestStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# Item states a person has to act on (or look at); "succeeded" and "running" are not among them.
ATTENTION_ITEM_STATUSES = (
    ItemStatus.NEEDS_CONFIRMATION,
    ItemStatus.FAILED,
    ItemStatus.TIMED_OUT,
    ItemStatus.INTERRUPTED,
)


class RetentionRun(models.Model):
    """One call of ``retention.run_cleanup``; written by the database, read by Python."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices)
    triggered_by = models.CharField(max_length=64)
    dry_run = models.BooleanField()
    model_filter = models.CharField(max_length=200, blank=True, default="")
    days_override = models.PositiveIntegerField(null=True)
    rows_deleted = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    backend_pid = models.IntegerField(null=True)
    requested_by = models.CharField(max_length=150, blank=True, default="", db_default="")
    # The audit chain: each finished run is sealed with sha256(prev_hash || its canonical record);
    # `manage.py retention verify` recomputes it.
    chain_position = models.BigIntegerField(null=True, unique=True)
    prev_hash = models.CharField(max_length=64, blank=True, default="", db_default="")
    hash = models.CharField(max_length=64, blank=True, default="", db_default="")
    record_format = models.PositiveSmallIntegerField(
        default=1,
        db_default=1,
        help_text=(
            "the format of the record its hash covers (1: release 0.1.0's; 2: 0.2's, each digest with its chunk);"
            " verify recomputes that one"
        ),
    )

    class Meta:
        db_table = "retention_run"
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["status"], name="retention_run_status_idx")]
        # A preview runs the procedure (a dry run, with its row locks) from a web request.
        permissions = [("preview_retentionrun", "Can preview a retention run")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"

    def attention(self, items: list[RetentionRunItem] | None = None) -> list[str]:
        """What a person should look at: a run that did not succeed, and items left for a person
        (over max_deletions_per_run), failed, cut short, or with rows still blocked. A "succeeded"
        run can carry all of these but a failure."""
        reasons = [f"run {self.status}"] if self.status not in (RunStatus.SUCCEEDED, RunStatus.RUNNING) else []
        if items is None:
            items = list(RetentionRunItem.objects.filter(run=self).order_by("id"))
        for item in items:
            if item.status in ATTENTION_ITEM_STATUSES:
                reasons.append(f"{item.model_path} {item.status.replace('_', ' ')}")
            elif item.blocked:
                reasons.append(f"{item.model_path}: {item.blocked:,} blocked")
        return reasons


class RetentionAuditPrune(models.Model):
    """What one housekeeping run removed from the start of the audit chain: written by
    ``retention.prune_audit`` in the transaction that prunes, chained, append-only. ``retention
    verify`` accepts a chain that starts after position 1 only when the latest record covers it."""

    id = models.BigIntegerField(primary_key=True)  # 1, 2, ... in order, under the chain's lock
    pruned_at = models.DateTimeField()
    older_than_days = models.PositiveIntegerField()
    through_position = models.BigIntegerField(help_text="the last chain position removed")
    through_hash = models.CharField(max_length=64, help_text="its hash: the next run's prev_hash")
    runs_removed = models.BigIntegerField()
    newest_removed_at = models.DateTimeField(help_text="when the newest removed run finished")
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)
    at_upgrade = models.BooleanField(
        default=False,
        help_text="written by the upgrade to SQL 0.2 for runs pruned before records existed: their age is unknown",
    )

    class Meta:
        db_table = "retention_audit_prune"
        ordering = ["id"]
        verbose_name = "audit pruning record"

    def __str__(self) -> str:
        when = "before 0.2 (noted at the upgrade" if self.at_upgrade else "on ("
        return f"positions 1-{self.through_position} pruned {when}{self.pruned_at:%Y-%m-%d})"


class RetentionRunItem(models.Model):
    """One model's share of a run: what was eligible, deleted, blocked and cascaded."""

    run = models.ForeignKey(RetentionRun, on_delete=models.CASCADE, related_name="items")
    run_id: int
    model_path = models.CharField(max_length=200)
    db_table = models.CharField(max_length=200)
    retention_days = models.PositiveIntegerField()
    policy_source = models.CharField(max_length=32)
    cutoff = models.DateTimeField()
    eligible = models.BigIntegerField(default=0)
    deleted = models.BigIntegerField(default=0)
    blocked = models.BigIntegerField(default=0)
    skipped_locked = models.BigIntegerField(default=0)
    cascaded: models.JSONField[dict[str, int]] = models.JSONField(
        default=dict, help_text="rows deleted per table, roots included"
    )
    updated: models.JSONField[dict[str, int]] = models.JSONField(
        default=dict, help_text="rows set to NULL/default per table.column"
    )
    blocked_reasons: models.JSONField[dict[str, int]] = models.JSONField(default=dict)
    batches = models.PositiveIntegerField(default=0)
    batch_sizes: models.JSONField[list[int]] = models.JSONField(default=list, help_text="rows asked per batch")
    batch_durations_ms: models.JSONField[list[int]] = models.JSONField(default=list, help_text="per batch")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True)
    duration = models.DurationField(null=True)
    status = models.CharField(max_length=24, choices=ItemStatus.choices)
    error = models.TextField(blank=True, default="")
    digests: models.JSONField[dict[str, dict[str, Any]]] = models.JSONField(
        default=dict, help_text="per table: count and SHA-256 of the sorted deleted primary keys"
    )
    throttled_ms = models.BigIntegerField(default=0, db_default=0, help_text="waited for standbys to catch up")
    replica_lag_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="the largest standby replay lag seen before a batch (when throttled)"
    )
    partitions_dropped: models.JSONField[list[dict[str, Any]] | None] = models.JSONField(
        null=True, blank=True, help_text="whole partitions dropped: [{partition, rows}] (not in the run's hash)"
    )

    class Meta:
        db_table = "retention_run_item"
        ordering = ["run_id", "id"]

    def __str__(self) -> str:
        return f"{self.model_path} in run {self.run_id}"


class RetentionDeletedKeys(models.Model):
    """Primary keys a running item has deleted, one row per table per batch.

    Written by the purge functions in each batch's transaction; digested into
    ``RetentionRunItem.digests`` and removed when the item finishes.
    """

    run_item_id = models.BigIntegerField()
    db_table = models.CharField(max_length=200)
    keys = ArrayField(models.TextField())
    key_order = models.CharField(
        max_length=8,
        choices=[("numeric", "numeric"), ("bytewise", "bytewise")],
        db_default="bytewise",
        help_text="how the digest orders these keys: numeric for an integer primary key, else bytewise",
    )
    ascending = models.BooleanField(
        db_default=False, help_text="the purge function wrote the keys in ascending numeric order"
    )

    class Meta:
        db_table = "retention_deleted_keys"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(key_order__in=["numeric", "bytewise"]), name="retention_deleted_keys_order_known"
            )
        ]

    def __str__(self) -> str:
        return f"{len(self.keys)} keys of {self.db_table} for item {self.run_item_id}"


class RetentionReport(models.Model):
    """The retention_report view: live figures per policy (unmanaged, read-only)."""

    model_path = models.CharField(max_length=200, primary_key=True)
    db_table = models.CharField(max_length=200)
    retention_days = models.IntegerField()
    policy_source = models.CharField(max_length=32)
    soft_deleted = models.BigIntegerField()
    eligible = models.BigIntegerField()
    oldest_deleted_at = models.DateTimeField(null=True)
    next_eligible_at = models.DateTimeField(null=True)
    last_run_id = models.BigIntegerField(null=True)
    last_run_at = models.DateTimeField(null=True)
    last_run_status = models.CharField(max_length=16, null=True)  # noqa: DJ001  (a view: NULL before any run)
    last_deleted = models.BigIntegerField(null=True)
    last_blocked = models.BigIntegerField(null=True)

    class Meta:
        managed = False
        db_table = "retention_report"

    def __str__(self) -> str:
        return f"{self.model_path}: {self.eligible} eligible"

    @property
    def blocked_now(self) -> int:
        """Eligible rows the last run found blocked (PROTECT, RESTRICT, a hold): not overdue work."""
        return min(self.last_blocked or 0, self.eligible)

    @property
    def purgeable(self) -> int:
        """Eligible rows the next run can be expected to delete."""
        return self.eligible - self.blocked_now


class RetentionDaily(models.Model):
    """The retention_daily view: rows deleted per model per day by real runs (unmanaged)."""

    id = models.CharField(max_length=220, primary_key=True)  # day|model_path
    day = models.DateField()
    model_path = models.CharField(max_length=200)
    roots_deleted = models.BigIntegerField()
    rows_deleted = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "retention_daily"
        ordering = ["day", "model_path"]

    def __str__(self) -> str:
        return f"{self.day} {self.model_path}: {self.rows_deleted}"


class RetentionRequest(models.Model):
    """A real run asked for in the admin: the database runs it (retention.drain_requests), not the web request."""

    requested_by = models.CharField(max_length=150)
    requested_at = models.DateTimeField(auto_now_add=True)
    model_path = models.CharField(max_length=200, blank=True, default="")
    days = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    run = models.ForeignKey(RetentionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    backend_pid = models.IntegerField(null=True, blank=True, help_text="the drain's backend while running")
    added_by = models.CharField(
        max_length=63,
        blank=True,
        default="",
        db_default="",
        help_text="the database role that added it (written by the database; requested_by is what it said)",
    )

    class Meta:
        db_table = "retention_request"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(days__isnull=True) | Q(days__gte=1), name="retention_request_days_at_least_1"
            ),
            # What run_cleanup accepts (retention.max_days()): a request it refuses would fail the drain.
            models.CheckConstraint(
                condition=Q(days__isnull=True) | Q(days__lte=MAX_DAYS), name="retention_request_days_at_most_max"
            ),
        ]

    def __str__(self) -> str:
        return f"request {self.pk} by {self.requested_by} ({self.status})"


class RetentionAlert(models.Model):
    """A run worth telling someone about (failed, timed out, or above notification_threshold).

    Written by a trigger on retention_run; ``manage.py retention_notify`` mails and marks it sent.
    """

    run = models.ForeignKey(RetentionRun, on_delete=models.CASCADE, related_name="alerts")
    run_id: int
    kind = models.CharField(max_length=32)
    message = models.TextField()
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "retention_alert"
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["sent_at"], name="retention_alert_unsent_idx", condition=models.Q(sent_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} alert for run {self.run_id}"


class RetentionHold(models.Model):
    """A legal hold: the purge never deletes a held row, nor a row whose cascade reaches one.

    ``object_pk`` empty holds the whole model. A hold is released, never deleted, so the table is
    its own history (who placed and released it, when).
    """

    model_path = models.CharField(max_length=200, db_index=True, help_text="app_label.ModelName")
    object_pk = models.CharField(max_length=200, blank=True, default="", help_text="empty: the whole model")
    reason = models.TextField()
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    until = models.DateTimeField(null=True, blank=True, help_text="the hold lapses then (empty: until released)")
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        db_table = "retention_hold"
        ordering = ["-id"]

    def __str__(self) -> str:
        target = f"{self.model_path} {self.object_pk}" if self.object_pk else f"all of {self.model_path}"
        return f"hold on {target}: {self.reason}"

    @property
    def is_active(self) -> bool:
        from django.utils import timezone

        return self.released_at is None and (self.until is None or self.until > timezone.now())


class RetentionOutbox(models.Model):
    """What must happen in Python after a purge: files to remove, hooks to call.

    Written by the purge in the same transaction as the delete, so a committed delete always has
    its row here, and a rolled-back one never does. ``manage.py retention_drain`` works it off.
    """

    model_path = models.CharField(max_length=200)
    object_pk = models.CharField(max_length=200)
    files: models.JSONField[dict[str, str]] = models.JSONField(default=dict, help_text="file field -> stored name")
    snapshot: models.JSONField[dict[str, Any]] = models.JSONField(default=dict, help_text="columns the model asks for")
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, db_default=0)
    last_error = models.TextField(blank=True, default="", db_default="")

    class Meta:
        db_table = "retention_outbox"
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], name="retention_outbox_pending_idx", condition=models.Q(done_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.model_path} {self.object_pk} ({'done' if self.done_at else 'pending'})"
