"""Timestamp policies (issue 26): a model's own timestamp starts the clock, third-party models
included (admin's LogEntry, sessions, django-celery-results, django-auditlog, django-axes). Django's own
``Model.objects.filter(field__lt=cutoff).delete()`` is the oracle; the rules graph's Visit checks
cascades, blockers and retained children against Django's Collector."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from auditlog.models import LogEntry as AuditLogEntry
from axes.models import AccessLog
from django.apps import apps
from django.contrib.admin.models import LogEntry as AdminLogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core import checks
from django.core.management import call_command
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone
from django_celery_results.models import TaskResult
from purge_helpers import (
    ELIGIBLE_AGE,
    YOUNG_AGE,
    build_rules_data,
    call_cleanup,
    expected_after_django_purge,
    purge_once,
    reset_rules_data,
    rules_tables,
    snapshot,
    state,
)
from rules import models as r
from test_engine import plans, scans_of, select_plan  # noqa: F401  (plans: a fixture)
from test_purge_differential import assert_same_tables
from users.models import User

from django_pg_retention import get_retention_manager
from django_pg_retention.audit import keys_digest, verify
from django_pg_retention.checks import check_keyset_indexes, check_retention
from django_pg_retention.keyset_index import INDEX_PREFIX, missing_indexes
from django_pg_retention.models import RetentionHold, RetentionPolicy, RetentionRun, RetentionRunItem
from django_pg_retention.sync import SyncResult, policy_drift, sync

pytestmark = pytest.mark.django_db(transaction=True)

THIRD_PARTY: dict[str, dict[str, Any]] = {
    "admin.LogEntry": {"field": "action_time", "days": 365},
    "sessions.Session": {"field": "expire_date", "days": 0},  # past its expiry
    "django_celery_results.TaskResult": {"field": "date_done", "days": 30},
    "auditlog.LogEntry": {"field": "timestamp", "days": 90},
    "axes.AccessLog": {"field": "attempt_time", "days": 30},
}
VISITS = {"rules.Visit": {"field": "seen_at", "days": 10}}  # shorter than rules.VisitNote's 30 days


@contextmanager
def timestamp_policies(policies: dict[str, dict[str, Any]], **more: Any) -> Iterator[SyncResult]:
    """The settings with these timestamp policies, synced; synced back to the test project's after."""
    try:
        with override_settings(RETENTION_TIMESTAMP_POLICIES=policies, **more):
            yield sync()
    finally:
        sync()


def scalar(query: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]  # type: ignore[index]


def ids(messages: list[checks.CheckMessage]) -> list[tuple[str, str]]:
    return [(m.id or "", m.msg) for m in messages if m.id and m.id >= "pg_retention.E014" and m.id < "pg_retention.W"]


# --- settings and checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "check_id", "words"),
    [
        ({"nope.Model": {"field": "at", "days": 1}}, "E015", "'nope.Model'] is not an installed model"),
        ({"admin.LogEntry": {"field": "acted_at", "days": 1}}, "E016", "admin.LogEntry has no such field"),
        (
            {"admin.LogEntry": {"field": "object_repr", "days": 1}},
            "E016",
            "['field'] = 'object_repr' must name a DateTimeField, not a CharField",
        ),
        ({"admin.LogEntry": {"field": "action_time", "days": -1}}, "E017", "must be at least 0 days, not -1"),
        ({"admin.LogEntry": {"field": "action_time", "days": "30"}}, "E017", "must be a whole number of days"),
        ({"admin.LogEntry": {"field": "action_time", "days": 36_501}}, "E017", "must be at most 36,500 days"),
        ({"admin.LogEntry": {"field": "action_time"}}, "E017", "LogEntry']['days'] is missing"),
        ({"admin.LogEntry": {"field": "action_time", "days": 1, "nulls": 1}}, "E014", "['nulls'] is not a known key"),
        ({"admin.LogEntry": 30}, "E014", "must be a dict such as"),
        ({"rules.Owner": {"field": "deleted_at", "days": 1}}, "E018", "rules.Owner is soft-deletable"),
        ({"rules.AuthorProxy": {"field": "deleted_at", "days": 1}}, "E015", "is a proxy or unmanaged model"),
    ],
)
def test_each_bad_entry_is_a_check_error_naming_its_key(entry: Any, check_id: str, words: str) -> None:
    with override_settings(RETENTION_TIMESTAMP_POLICIES=entry):
        found = ids(check_retention())
    key = next(iter(entry))
    assert [i for i, _ in found] == [f"pg_retention.{check_id}"], found
    assert f"RETENTION_TIMESTAMP_POLICIES[{key!r}]" in found[0][1] and words in found[0][1], found


def test_a_model_named_in_both_settings_and_a_setting_that_is_not_a_dict() -> None:
    with override_settings(
        RETENTION_TIMESTAMP_POLICIES={"sessions.Session": {"field": "expire_date", "days": 0}},
        SOFT_DELETE_RETENTION_POLICIES={"default": 90, "sessions.Session": 30},
    ):
        messages = check_retention()
    both = [m.msg for m in messages if m.id == "pg_retention.E018"]
    assert both == [
        "RETENTION_TIMESTAMP_POLICIES['sessions.Session'] sessions.Session is also named in "
        "SOFT_DELETE_RETENTION_POLICIES: a model has one policy."
    ]
    assert "pg_retention.E004" in {m.id for m in messages}  # and not soft-deletable, from that side
    with override_settings(RETENTION_TIMESTAMP_POLICIES=[("admin.LogEntry", 30)]):
        assert [i for i, _ in ids(check_retention())] == ["pg_retention.E014"]


def test_valid_policies_pass_the_checks_and_sync_writes_timestamp_rows() -> None:
    with timestamp_policies({**THIRD_PARTY, **VISITS}) as result:
        assert not [m for m in check_retention() if m.level >= checks.ERROR]
        assert set(result.created) == {*THIRD_PARTY, *VISITS}
        rows = {p.model_path: p for p in RetentionPolicy.objects.filter(kind="timestamp")}
        session = rows["sessions.Session"]
        assert (session.retention_days, session.deleted_at_column, session.flag_column) == (0, "expire_date", "")
        assert (rows["admin.LogEntry"].db_table, rows["admin.LogEntry"].policy_source) == (
            "django_admin_log",
            "model_specific",
        )
        listed = {p.model_path: p.kind for p in get_retention_manager().get_all_policies()}
        assert {listed[path] for path in (*THIRD_PARTY, *VISITS)} == {"timestamp"}
        assert listed["rules.Owner"] == "soft_delete"
        assert sync().changes == 0  # idempotent, indexes included
    assert not RetentionPolicy.objects.filter(kind="timestamp", is_active=True).exists()


def test_the_database_refuses_zero_days_for_a_soft_delete_policy_only() -> None:
    from django.db import IntegrityError

    with timestamp_policies(VISITS):
        with pytest.raises(IntegrityError, match="retention_policy_days_at_least_1"), transaction.atomic():
            RetentionPolicy.objects.filter(model_path="rules.Owner").update(retention_days=0)
        with pytest.raises(IntegrityError, match="retention_policy_timestamp_without_flag"), transaction.atomic():
            RetentionPolicy.objects.filter(model_path="rules.Visit").update(flag_column="is_deleted")
        RetentionPolicy.objects.filter(model_path="rules.Visit").update(retention_days=0)
        assert RetentionPolicy.objects.get(model_path="rules.Visit").retention_days == 0


# --- the keyset index, created for models we do not own ---------------------------------------------


def our_indexes() -> dict[str, str]:
    """Our keyset indexes: name -> definition, with their validity."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_get_indexdef(c.oid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END"
            "  FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE starts_with(c.relname, %s)",
            [INDEX_PREFIX],
        )
        return dict(cursor.fetchall())


def test_sync_creates_the_keyset_index_concurrently_and_drops_it_with_the_policy() -> None:
    assert our_indexes() == {}
    with timestamp_policies(THIRD_PARTY) as result:
        assert sorted(result.indexes_created) == sorted(THIRD_PARTY)
        columns = {d.split(" ON public.")[1].split(" ")[0]: d.split("btree (")[1] for d in our_indexes().values()}
        assert columns == {
            "django_admin_log": "action_time, id)",
            "django_session": "expire_date, session_key)",
            "django_celery_results_taskresult": "date_done, id)",
            "auditlog_logentry": '"timestamp", id)',
            "axes_accesslog": "attempt_time, id)",
        }
        comment = scalar(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c WHERE c.relname = %s",
            [next(n for n, d in our_indexes().items() if "django_session" in d)],
        )
        assert comment == "django-pg-retention keyset index of the timestamp policy sessions.Session"
        assert missing_indexes("default") == []
    assert our_indexes() == {}  # the policies went: so did their indexes


def test_inside_a_transaction_sync_leaves_the_index_and_the_check_says_what_to_run() -> None:
    with override_settings(RETENTION_TIMESTAMP_POLICIES=VISITS):
        with transaction.atomic():
            assert sync().indexes_created == []
        warnings = check_keyset_indexes(databases=["default"])
        assert [m.id for m in warnings] == ["pg_retention.W007"]
        hint = warnings[0].hint or ""
        statement = hint.split("or run: ")[1]
        assert statement.startswith('CREATE INDEX CONCURRENTLY "retention_ts_') and statement.endswith(
            'ON "rules_visit" ("seen_at", "id");'
        ), statement
        assert "rules.Visit" in warnings[0].msg and "(seen_at, id)" in warnings[0].msg
        with connection.cursor() as cursor:
            cursor.execute(statement)  # what a person runs by hand
        assert check_keyset_indexes(databases=["default"]) == []
        # An interrupted CREATE INDEX CONCURRENTLY leaves an invalid index: sync replaces it.
        name = next(iter(our_indexes()))
        with connection.cursor() as cursor:
            cursor.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", [name])
        assert [m.id for m in check_keyset_indexes(databases=["default"])] == ["pg_retention.W007"]
        result = sync()
        assert (result.indexes_dropped, result.indexes_created) == ([name], ["rules.Visit"])
        assert next(iter(our_indexes().values())).endswith("(seen_at, id)")
    sync()
    assert our_indexes() == {}


def test_migrate_syncs_outside_a_transaction_so_it_creates_the_index() -> None:
    """post_migrate runs after migrate's transactions: its sync creates the index CONCURRENTLY."""
    with override_settings(RETENTION_TIMESTAMP_POLICIES=VISITS):
        call_command("migrate", verbosity=0)
        assert [d.split(" USING btree ")[1] for d in our_indexes().values()] == ["(seen_at, id)"]
        assert RetentionPolicy.objects.get(model_path="rules.Visit").kind == "timestamp"
    sync()
    assert our_indexes() == {}


def test_a_database_migrated_back_before_timestamp_policies_syncs_the_soft_delete_ones() -> None:
    """Migration 0011 reversed (a downgrade in progress): sync writes no kind and no timestamp policy,
    and still creates and updates soft-delete policy rows."""
    try:
        with override_settings(RETENTION_TIMESTAMP_POLICIES=VISITS):
            call_command("migrate", "django_pg_retention", "0010", verbosity=0)
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM retention_policy WHERE model_path = 'rules.Visitor'")
            result = sync()
            assert (result.created, result.indexes_created) == (["rules.Visitor"], [])
            assert policy_drift("default") == []
            assert scalar("SELECT count(*) FROM retention_policy WHERE model_path = 'rules.Visit'") == 0
            assert our_indexes() == {}
    finally:
        call_command("migrate", "django_pg_retention", verbosity=0)
    assert RetentionPolicy.objects.get(model_path="rules.Visitor").kind == "soft_delete"


def test_an_index_of_the_table_in_that_order_is_used_instead_of_ours() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX visit_seen_id ON rules_visit (seen_at, id)")
    try:
        with timestamp_policies(VISITS) as result:
            assert result.indexes_created == [] and our_indexes() == {}
            assert check_keyset_indexes(databases=["default"]) == []
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX visit_seen_id")


# Rows sharing one timestamp, for the plan test.
BULK_ROWS: dict[str, str] = {
    "rules.Visit": "INSERT INTO rules_visit (seen_at) SELECT %(at)s FROM generate_series(1, %(n)s) g",
    "sessions.Session": "INSERT INTO django_session (session_key, session_data, expire_date)"
    " SELECT lpad(g::text, 12, '0'), 'x', %(at)s FROM generate_series(1, %(n)s) g",
}


@pytest.mark.parametrize("model_path", list(BULK_ROWS))
def test_batch_select_bounds_are_index_conditions_on_our_keyset_index(
    model_path: str,
    plans: list[dict[str, Any]],  # noqa: F811
) -> None:
    """As tests/test_engine.py for soft-delete models: 100,000 rows with one timestamp, the first
    half purged (dead, not vacuumed); both bounds of the next batch are Index Conds of our index."""
    policies = {**VISITS, "sessions.Session": THIRD_PARTY["sessions.Session"]}
    with timestamp_policies(policies):
        policy = RetentionPolicy.objects.get(model_path=model_path)
        column, pk, table = policy.deleted_at_column, policy.pk_column, policy.db_table
        at = timezone.now() - ELIGIBLE_AGE
        n, lim = 100_000, 1000
        with connection.cursor() as cursor:
            cursor.execute(BULK_ROWS[model_path], {"at": at, "n": n})
            cursor.execute(f'ANALYZE "{table}"')
            cursor.execute(
                f'SELECT "{column}", "{pk}"::text FROM "{table}" ORDER BY 1, 2 OFFSET %s LIMIT 1', [n // 2 - 1]
            )
            after_at, after_pk = cursor.fetchone()  # type: ignore[misc]
            cursor.execute(f'DELETE FROM "{table}" WHERE ("{column}", "{pk}") <= (%s, %s)', [after_at, after_pk])
        cutoff = timezone.now() - timedelta(days=policy.retention_days)
        for args, form in (([cutoff, None, None, lim], "first"), ([cutoff, after_at, after_pk, lim], "next")):
            found = select_plan(plans, policy.select_function, args)
            assert len(found["ids"]) == lim, form
            (scan,) = scans_of(found["plan"], table)
            condition = scan.get("Index Cond", "").replace('"', "")
            assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), (form, scan["Node Type"])
            assert scan["Index Name"].startswith(INDEX_PREFIX), scan["Index Name"]
            assert f"{column} < " in condition, (form, condition)
            if form == "next":
                assert "ROW(" in condition and ") > ROW(" in condition, condition
            assert scan.get("Filter") is None and scan.get("Rows Removed by Filter", 0) == 0, (form, scan)
            assert scan["Actual Rows"] == lim, (form, scan["Actual Rows"])


# --- third-party models, Django's QuerySet.delete() as the oracle -----------------------------------

THIRD_PARTY_TABLES = [
    "django_admin_log",
    "django_session",
    "django_celery_results_taskresult",
    "auditlog_logentry",
    "axes_accesslog",
]


def age(rng: random.Random, days: int) -> timedelta:
    """Past the policy by at least a day, or younger than it by at least a day (or not yet expired)."""
    if rng.random() < 0.55:
        return timedelta(days=days + 1, minutes=rng.randrange(100_000))
    return timedelta(days=days - 1, minutes=-rng.randrange(1000)) if days > 1 else -timedelta(days=1)


def build_third_party_rows(rng: random.Random, n: int = 40) -> dict[str, list[Any]]:
    """Rows of the five third-party models, their timestamps either side of each cutoff; returns
    the primary keys of one eligible row of each, to hold."""
    now = timezone.now()
    user = User.objects.create(username=f"staff{rng.randrange(10**9)}")
    user_type = ContentType.objects.get_for_model(User)
    days = {path: spec["days"] for path, spec in THIRD_PARTY.items()}
    for i in range(n):
        AdminLogEntry.objects.create(
            user=user,
            content_type=user_type,
            object_id=str(user.pk),
            object_repr="staff",
            action_flag=2,
            action_time=now - age(rng, days["admin.LogEntry"]),
        )
        Session.objects.create(
            session_key=f"s{i:04d}{rng.randrange(10**6)}",
            session_data="e30=",
            expire_date=now - age(rng, days["sessions.Session"]),
        )
        task = TaskResult.objects.create(task_id=f"task-{i}", status="SUCCESS")
        TaskResult.objects.filter(pk=task.pk).update(date_done=now - age(rng, days["django_celery_results.TaskResult"]))
        AuditLogEntry.objects.create(
            content_type=user_type,
            object_pk=str(user.pk),
            object_repr="staff",
            action=1,
            actor=user if rng.random() < 0.5 else None,
            timestamp=now - age(rng, days["auditlog.LogEntry"]),
        )
        access = AccessLog.objects.create(user_agent="pytest", ip_address="10.0.0.1", username="staff", path_info="/")
        AccessLog.objects.filter(pk=access.pk).update(attempt_time=now - age(rng, days["axes.AccessLog"]))
    held: dict[str, list[Any]] = {}
    for path, spec in THIRD_PARTY.items():
        model = apps.get_model(path)
        cutoff = now - timedelta(days=spec["days"])
        pks = list(
            model._base_manager.filter(**{f"{spec['field']}__lt": cutoff}).order_by("pk").values_list("pk", flat=True)
        )
        assert len(pks) > 3, path
        held[path] = [pks[1]]
        RetentionHold.objects.create(model_path=path, object_pk=str(pks[1]), reason="litigation")
    return held


def third_party_snapshot() -> dict[str, list[tuple[Any, ...]]]:
    return snapshot([*THIRD_PARTY_TABLES, "users_user", "django_content_type"])


def django_deletes(held: dict[str, list[Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """The oracle: each model's filter(field__lt=cutoff).delete(), held rows excluded, rolled back."""

    class Rollback(Exception):
        pass

    out: dict[str, Any] = {}
    try:
        with transaction.atomic():
            now = timezone.now()
            for path, spec in THIRD_PARTY.items():
                model = apps.get_model(path)
                eligible = model._base_manager.filter(**{f"{spec['field']}__lt": now - timedelta(days=spec["days"])})
                eligible.exclude(pk__in=held[path]).delete()
            out["state"] = third_party_snapshot()
            raise Rollback
    except Rollback:
        pass
    return out["state"]


def item_counts(run: RetentionRun) -> dict[str, tuple[int, int, int, dict[str, int]]]:
    return {i.model_path: (i.eligible, i.deleted, i.blocked, i.cascaded) for i in run.items.all()}


@pytest.mark.parametrize("seed", [1, 2])
def test_third_party_models_are_purged_as_django_deletes_them(seed: int) -> None:
    with timestamp_policies(THIRD_PARTY):
        held = build_third_party_rows(random.Random(seed))
        before = third_party_snapshot()
        expected = django_deletes(held)
        assert third_party_snapshot() == before, "the oracle was not rolled back"
        preview = call_cleanup(dry_run=True)
        assert third_party_snapshot() == before, "the dry run changed rows"
        run = purge_once()
        actual = third_party_snapshot()
        assert_same_tables(expected, actual)
        # The dry run announced exactly what the real run then did, model by model.
        assert item_counts(preview) == item_counts(run)
        items = {i.model_path: i for i in run.items.all()}
        for path, spec in THIRD_PARTY.items():
            item = items[path]
            table = apps.get_model(path)._meta.db_table
            assert item.blocked == 1 and "litigation" in " ".join(item.blocked_reasons), item.blocked_reasons
            assert (item.retention_days, item.policy_source) == (spec["days"], "model_specific")
            # The proof: the digest of the keys that disappeared, recomputed here.
            pk = apps.get_model(path)._meta.pk.column  # type: ignore[union-attr]
            position = [c.name for c in connection.introspection.get_table_description(connection.cursor(), table)]
            gone = {str(row[position.index(pk)]) for row in before[table]} - {
                str(row[position.index(pk)]) for row in actual[table]
            }
            assert gone and item.deleted == len(gone) == item.cascaded[table]
            digest = item.digests[table]
            assert digest["sha256"] == keys_digest(gone, digest["order"]), path
            assert apps.get_model(path)._base_manager.filter(pk__in=held[path]).count() == 1  # the hold kept it
        assert verify().ok
        out = StringIO()
        call_command("retention", "verify", stdout=out)  # raises on a broken chain
        assert "audit chain intact" in out.getvalue()


def test_cleanup_soft_deleted_model_and_a_null_timestamp_is_never_eligible() -> None:
    with timestamp_policies(VISITS):
        old = timezone.now() - ELIGIBLE_AGE
        kept = [r.Visit.objects.create(seen_at=None).pk, r.Visit.objects.create(seen_at=timezone.now()).pk]
        gone = [r.Visit.objects.create(seen_at=old).pk for _ in range(3)]
        assert set(get_retention_manager().get_eligible_records(r.Visit).values_list("pk", flat=True)) == set(gone)
        call_command(
            "cleanup_soft_deleted", "--model", "rules.Visit", "--execute", "--force", stdout=open("/dev/null", "w")
        )
        assert sorted(r.Visit.objects.values_list("pk", flat=True)) == sorted(kept)
        item = RetentionRunItem.objects.filter(model_path="rules.Visit").latest("id")
        assert (item.deleted, item.blocked, item.retention_days) == (3, 0, 10)


# --- the rules graph: cascades, SET_NULL, PROTECT, retained children, against Django's Collector ----


def build_visits(rng: random.Random, n: int = 30) -> None:
    """Visits either side of the 10-day cutoff (some without a timestamp), with details, marks,
    locks (PROTECT) and notes kept by their own 30-day policy; visitors (soft-delete, rules' 30
    days) whose purge cascades into visits the timestamp policy may still keep."""
    now = timezone.now()
    visitors = [r.Visitor.objects.create(**state(rng)) for _ in range(6)]
    for _ in range(n):
        x = rng.random()
        seen_at = (
            None if x < 0.1 else now - (ELIGIBLE_AGE if x < 0.6 else timedelta(days=20) if x < 0.75 else YOUNG_AGE)
        )
        visit = r.Visit.objects.create(seen_at=seen_at, visitor=rng.choice([*visitors, None, None]))
        for _ in range(rng.randrange(0, 3)):
            r.VisitDetail.objects.create(visit=visit)
        if rng.random() < 0.4:
            r.VisitMark.objects.create(visit=visit)
        if rng.random() < 0.1:
            r.VisitLock.objects.create(visit=visit)
        if rng.random() < 0.3:
            r.VisitNote.objects.create(visit=visit, **state(rng))
    # In every data set: an old visit kept by a live note, one whose eligible note goes with it,
    # one kept by a lock, and an old visitor kept by its young visit.
    old = {"seen_at": now - ELIGIBLE_AGE}
    r.VisitNote.objects.create(visit=r.Visit.objects.create(**old))
    r.VisitNote.objects.create(visit=r.Visit.objects.create(**old), is_deleted=True, deleted_at=now - ELIGIBLE_AGE)
    r.VisitLock.objects.create(visit=r.Visit.objects.create(**old))
    gone_visitor = r.Visitor.objects.create(is_deleted=True, deleted_at=now - ELIGIBLE_AGE)
    r.Visit.objects.create(seen_at=now - YOUNG_AGE, visitor=gone_visitor)


def rules_differential(seed: int) -> Counter[str]:
    reset_rules_data()
    rng = random.Random(seed)
    build_rules_data(rng, authors=6)
    build_visits(rng)
    before = snapshot(rules_tables())
    expected, _ = expected_after_django_purge()
    assert snapshot(rules_tables()) == before
    preview = call_cleanup(dry_run=True)
    run = purge_once()
    actual = snapshot(rules_tables())
    assert_same_tables(expected, actual)
    assert item_counts(preview) == item_counts(run)
    audited: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for item in RetentionRunItem.objects.filter(run=run):
        audited.update(item.cascaded)
        reasons.update(item.blocked_reasons)
    for table in before:
        assert audited.get(table, 0) == len(before[table]) - len(actual[table]), table
    assert audited["rules_visit"] > 0 and audited["rules_visitdetail"] > 0
    assert verify().ok
    return reasons


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_timestamp_policy_on_the_rules_graph_matches_django_collector(seed: int) -> None:
    with timestamp_policies(VISITS):
        reasons = " | ".join(rules_differential(seed))
    assert "PROTECT rules.VisitLock.visit" in reasons
    assert "RETAINED rules.VisitNote (live)" in reasons
    assert "RETAINED rules.Visit (10 days)" in reasons  # a visitor kept by its young visit


def test_with_on_retained_cascade_delete_the_graph_still_matches_django() -> None:
    cleanup = {"batch_size": 1000, "on_retained_cascade": "delete"}
    with timestamp_policies(VISITS, RETENTION_CLEANUP_CONFIG=cleanup):
        reasons = " | ".join(rules_differential(4))
    assert "RETAINED" not in reasons and "PROTECT rules.VisitLock.visit" in reasons


def test_retention_show_status_and_the_report_list_timestamp_policies(admin_client: Any) -> None:
    with timestamp_policies(VISITS):
        r.Visit.objects.create(seen_at=timezone.now() - ELIGIBLE_AGE)
        out = StringIO()
        call_command("retention", "status", stdout=out)
        assert "keyset index" not in out.getvalue()  # sync created it
        call_command("cleanup_soft_deleted", "--model", "rules.Visit", "--dry-run", stdout=out)
        call_command("retention", "show", stdout=out)
        assert "rules.Visit" in out.getvalue()
        report = {row["model_path"]: row for row in get_retention_manager().generate_cleanup_report()["models"]}
        assert (report["rules.Visit"]["eligible_for_cleanup"], report["rules.Visit"]["retention_days"]) == (1, 10)
        page = admin_client.get("/admin/django_pg_retention/retentionpolicy/").content.decode()
        assert "rules.Visit" in page.replace("<wbr>", "") and "timestamp seen_at" in page
        page = admin_client.get("/admin/django_pg_retention/retentionrun/report/").content.decode()
        assert "timestamp seen_at" in page


def test_pg_cron_purges_expired_sessions() -> None:
    """sessions.Session with 0 days, the cleanup scheduled every minute: pg_cron's tick (at most
    ~75 s) deletes the expired sessions, as `clearsessions` would, and keeps the others."""
    import time

    from django_pg_retention.schedule import sync_jobs

    policy = {"sessions.Session": THIRD_PARTY["sessions.Session"]}
    try:
        with timestamp_policies(policy, RETENTION_SCHEDULE={"cleanup": "* * * * *"}):
            now = timezone.now()
            for i in range(5):
                Session.objects.create(
                    session_key=f"expired{i}", session_data="e30=", expire_date=now - timedelta(hours=i + 1)
                )
            Session.objects.create(session_key="current", session_data="e30=", expire_date=now + timedelta(days=14))
            assert sync_jobs().updated
            deadline = time.monotonic() + 75
            run = None
            while run is None and time.monotonic() < deadline:
                time.sleep(1)
                run = RetentionRun.objects.filter(triggered_by="pg_cron").exclude(status="running").first()
            assert run is not None, "pg_cron did not run the purge within 75 s"
            assert run.status == "succeeded", run.error
            assert list(Session.objects.values_list("session_key", flat=True)) == ["current"]
            item = run.items.get(model_path="sessions.Session")
            assert (item.deleted, item.retention_days, item.cascaded) == (5, 0, {"django_session": 5})
    finally:
        sync_jobs()
