"""Each system check fires on its bad configuration and names the key or model; a valid one is silent."""

from __future__ import annotations

from typing import Any

import django
import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.db.models import Value
from django.db.models.signals import post_delete, pre_delete
from django.test.utils import isolate_apps
from hypothesis import given, settings
from hypothesis import strategies as st
from purge_helpers import rules_model
from rules.models import Chapter, Place

from django_pg_retention.checks import check_models, check_retention
from django_pg_retention.compiler import compile_model
from django_pg_retention.models import SoftDeleteMixin

VALID_POLICIES = {"default": 90, "leases": 2555, "leases.Lease": 2555}


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def only(messages: list[Any], check_id: str) -> Any:
    matching = [m for m in messages if m.id == check_id]
    assert len(matching) == 1, [str(m) for m in messages]
    return matching[0]


# The rules app keeps rules.Slot longer on purpose (retention-aware cascades): these two warnings.
RULES_W004 = {("pg_retention.W004", "rules.Owner"), ("pg_retention.W004", "rules.Shelf")}
if django.VERSION >= (6, 1):  # tests/dbrules: W004 follows a DB_CASCADE into a model kept longer
    RULES_W004.add(("pg_retention.W004", "dbrules.Root"))


def without_rules_w004(messages: list[Any]) -> list[Any]:
    return [m for m in messages if (m.id, m.obj._meta.label if m.obj else "") not in RULES_W004]


def test_the_test_projects_configuration_is_valid() -> None:
    messages = check_retention()
    assert {(m.id, m.obj._meta.label) for m in messages if m.id == "pg_retention.W004"} == RULES_W004
    assert without_rules_w004(messages) == []
    call_command("check", "--fail-level", "ERROR")


def test_policies_must_be_a_dict(settings: Any) -> None:
    settings.SOFT_DELETE_RETENTION_POLICIES = [("default", 90)]
    assert "pg_retention.E001" in ids(check_retention())


@pytest.mark.parametrize("days", ["90", 0, -5, 1.5, True, None])
def test_days_must_be_a_positive_whole_number(settings: Any, days: Any) -> None:
    settings.SOFT_DELETE_RETENTION_POLICIES = {**VALID_POLICIES, "leases.Lease": days}
    error = only(check_retention(), "pg_retention.E002")
    assert "SOFT_DELETE_RETENTION_POLICIES['leases.Lease']" in error.msg


@pytest.mark.parametrize("key", ["nosuchapp", "leases.NoSuchModel", "leases.Lease.extra"])
def test_unknown_app_or_model(settings: Any, key: str) -> None:
    settings.SOFT_DELETE_RETENTION_POLICIES = {**VALID_POLICIES, key: 30}
    error = only(check_retention(), "pg_retention.E003")
    assert repr(key) in error.msg


def test_a_key_naming_a_model_that_is_not_soft_deletable(settings: Any) -> None:
    settings.SOFT_DELETE_RETENTION_POLICIES = {**VALID_POLICIES, "properties.Amenity": 30}
    error = only(check_retention(), "pg_retention.E004")
    assert "properties.Amenity" in error.msg


def test_unknown_cleanup_key(settings: Any) -> None:
    settings.RETENTION_CLEANUP_CONFIG = {"batch_size": 100, "batchsize": 100}
    error = only(check_retention(), "pg_retention.E005")
    assert "RETENTION_CLEANUP_CONFIG['batchsize']" in error.msg


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_size", "1000"),
        ("batch_size", 0),
        ("max_execution_time", 2.5),
        ("dry_run_default", "yes"),
        ("require_confirmation", 1),
        ("max_deletions_per_run", "100"),
        ("max_deletions_per_run", {"leases.Lease": 0}),
        ("on_retained_cascade", "keep"),
        ("on_retained_cascade", True),
    ],
)
def test_wrong_cleanup_value(settings: Any, key: str, value: Any) -> None:
    settings.RETENTION_CLEANUP_CONFIG = {key: value}
    error = only(check_retention(), "pg_retention.E006")
    assert f"RETENTION_CLEANUP_CONFIG[{key!r}]" in error.msg
    if key == "on_retained_cascade":
        assert "must be 'block' or 'delete'" in error.msg and repr(value) in error.msg


@isolate_apps("rules")
def test_uncompilable_on_delete() -> None:
    def pick() -> int:
        return 1

    Parent = rules_model("Parent", SoftDeleteMixin)

    class ByCallable(models.Model):
        parent = models.ForeignKey(Parent, on_delete=models.SET(pick), null=True)

        class Meta:
            app_label = "rules"

    error = only(check_models([Parent]), "pg_retention.E008")
    assert "rules.Parent" in error.msg and "rules.ByCallable.parent" in error.msg and "SET(callable)" in error.msg


@isolate_apps("rules")
def test_custom_on_delete_handler() -> None:
    def archive(collector: Any, field: Any, sub_objs: Any, using: Any) -> None:
        pass

    Parent = rules_model("Parent", SoftDeleteMixin)

    class Custom(models.Model):
        parent = models.ForeignKey(Parent, on_delete=archive)

        class Meta:
            app_label = "rules"

    error = only(check_models([Parent]), "pg_retention.E008")
    assert "rules.Custom.parent" in error.msg and "custom function" in error.msg


@isolate_apps("rules")
def test_composite_primary_key() -> None:
    class Pair(SoftDeleteMixin):
        pk = models.CompositePrimaryKey("a", "b")
        a = models.IntegerField()
        b = models.IntegerField()

        class Meta:
            app_label = "rules"

    error = only(check_models([Pair]), "pg_retention.E007")
    assert "rules.Pair" in error.msg and "UniqueConstraint" in (error.hint or "")


@pytest.mark.parametrize("signal", [pre_delete, post_delete])
def test_delete_receivers_on_a_purged_model_warn(signal: Any) -> None:
    def receiver(**kwargs: Any) -> None:
        pass

    signal.connect(receiver, sender=Chapter)  # Chapter rows go with a purged Author's books
    try:
        warnings = [m for m in check_retention() if m.id == "pg_retention.W001"]
    finally:
        signal.disconnect(receiver, sender=Chapter)
    assert len(warnings) == 1 and "rules.Chapter" in warnings[0].msg and "rules.Author" in warnings[0].msg
    assert without_rules_w004(check_retention()) == []


def test_manage_py_check_fails_on_a_bad_policy(settings: Any) -> None:
    settings.SOFT_DELETE_RETENTION_POLICIES = {"default": "ninety"}
    with pytest.raises(SystemCheckError, match=r"pg_retention.E002.*'default'"):
        call_command("check")


# Malformed settings of any shape yield check errors naming the key, never a traceback.
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=False), st.text(max_size=5))
keys = st.one_of(
    st.sampled_from(["default", "rules", "rules.Author", "rules.Book", "nope", "a.b.c", ""]),
    st.text(max_size=8),
)


@settings(max_examples=150, deadline=None)
@given(
    policies=st.one_of(
        scalars,
        st.lists(scalars),
        st.dictionaries(keys, st.one_of(scalars, st.lists(scalars)), max_size=5),
    )
)
def test_property_malformed_policies_never_raise(policies: Any) -> None:
    from django.test import override_settings

    with override_settings(SOFT_DELETE_RETENTION_POLICIES=policies):
        messages = check_retention()
    for m in messages:
        assert m.id.startswith("pg_retention.E")
    if isinstance(policies, dict):
        for key, value in policies.items():
            bad_value = isinstance(value, bool) or not isinstance(value, int) or value < 1
            if bad_value:
                assert any(repr(key) in m.msg for m in messages), (key, value)


def test_place_is_purged_with_its_restaurant_children() -> None:
    """MTI children whose is_deleted lives in the parent table have no policy of their own."""
    from django_pg_retention.policies import soft_delete_models

    names = {m._meta.label for m in soft_delete_models()}
    assert "rules.Place" in names and "rules.Restaurant" not in names and Place._meta.label in names


@isolate_apps("rules")
def test_set_default_with_a_callable_default_is_refused_without_calling_it() -> None:
    calls: list[int] = []

    def current_owner() -> int:
        calls.append(1)  # a default like this may query the database: check must never call it
        return 1

    Parent = rules_model("Parent", SoftDeleteMixin)

    class Ticket(models.Model):
        parent = models.ForeignKey(Parent, on_delete=models.SET_DEFAULT, default=current_owner)

        class Meta:
            app_label = "rules"

    error = only(check_models([Parent]), "pg_retention.E008")
    assert "rules.Ticket.parent" in error.msg and "SET_DEFAULT with a callable default" in error.msg
    assert "constant default, a db_default, or SET(constant)" in error.msg
    assert calls == []


@isolate_apps("rules")
def test_set_default_compiles_a_constant_default_and_a_db_default() -> None:
    Parent = rules_model("Parent", SoftDeleteMixin)

    class Constant(models.Model):
        parent = models.ForeignKey(Parent, on_delete=models.SET_DEFAULT, default=7, null=True)

        class Meta:
            app_label = "rules"

    class Database(models.Model):
        parent = models.ForeignKey(Parent, on_delete=models.SET_DEFAULT, db_default=Value(1), null=True)

        class Meta:
            app_label = "rules"

    assert not [m for m in check_models([Parent]) if m.level >= checks.ERROR]
    text = compile_model(Parent, ["public"]).sql
    assert 'UPDATE "rules_constant" r SET "parent_id" = 7::bigint' in text
    assert 'UPDATE "rules_database" r SET "parent_id" = DEFAULT' in text


def test_a_missing_contrib_postgres_is_one_error_naming_the_fix_where_django_needs_it(settings: Any) -> None:
    """Django 6.1 refuses ArrayField without django.contrib.postgres (postgres.E005); our E013 says
    it once, with the INSTALLED_APPS line to add. Earlier Djangos do not need it: no E013 there."""
    from django_pg_retention.checks import check_retention
    from django_pg_retention.models import RetentionDeletedKeys

    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "django.contrib.postgres"]
    ours = [m for m in check_retention() if m.id == "pg_retention.E013"]
    djangos = [m for m in RetentionDeletedKeys._meta.get_field("keys").check() if m.id == "postgres.E005"]
    assert len(ours) == (1 if djangos else 0)
    if django.VERSION >= (6, 1):
        assert ours and '"django.contrib.postgres"' in (ours[0].hint or "")
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "django.contrib.postgres"]
    assert not [m for m in check_retention() if m.id == "pg_retention.E013"]
