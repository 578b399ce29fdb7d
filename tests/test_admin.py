"""The audit admin, the report, run requests and notifications, through Django's test client."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from purge_helpers import call_cleanup, soft_deleted_places, unattended_run_over_the_limit
from rules.models import Place

from django_pg_retention.models import RetentionAlert, RetentionDaily, RetentionRequest, RetentionRun, RetentionRunItem
from django_pg_retention.sync import sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("reset_rules")]


def user_client(*, staff: bool, superuser: bool = False) -> tuple[Client, Any]:
    User = get_user_model()
    name = "root" if superuser else ("staff" if staff else "plain")
    user = User.objects.create_user(username=name, password="pw", is_staff=staff, is_superuser=superuser)
    client = Client()
    client.force_login(user)
    return client, user


def test_anonymous_users_are_sent_to_login() -> None:
    client = Client()
    for name in ("admin:django_pg_retention_retentionrun_changelist", "admin:django_pg_retention_report"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_staff_see_runs_items_policies_and_the_report_with_its_chart() -> None:
    soft_deleted_places(3)
    run = call_cleanup()
    client, _ = user_client(staff=True)
    runs = client.get(reverse("admin:django_pg_retention_retentionrun_changelist"))
    assert runs.status_code == 200 and f">{run.pk}<" in runs.content.decode()
    filtered = client.get(reverse("admin:django_pg_retention_retentionrun_changelist") + "?status__exact=succeeded")
    assert filtered.status_code == 200
    detail = client.get(reverse("admin:django_pg_retention_retentionrun_change", args=[run.pk]))
    page = detail.content.decode()
    assert detail.status_code == 200 and "rules.Place" in page and "rules_place" in page
    policies = client.get(reverse("admin:django_pg_retention_retentionpolicy_changelist"))
    assert policies.status_code == 200 and "rules.<wbr>Place" in policies.content.decode()  # may wrap at the dot
    policy = client.get(reverse("admin:django_pg_retention_retentionpolicy_changelist") + "?q=rules.Author")
    assert policy.status_code == 200
    report = client.get(reverse("admin:django_pg_retention_report"))
    html = report.content.decode()
    assert report.status_code == 200 and 'id="retention-report"' in html
    assert "<svg" in html and "rows deleted per day" in html and f"{timezone.now().date().isoformat()}: 3 rows" in html


def test_a_run_with_an_item_left_for_a_person_needs_attention(settings: Any) -> None:
    run = unattended_run_over_the_limit(settings, limit=1, eligible=3)
    assert run.status == "succeeded"  # the run itself went fine
    assert run.attention() == ["rules.Place needs confirmation"]
    client, _ = user_client(staff=True, superuser=True)
    runs = client.get(reverse("admin:django_pg_retention_retentionrun_changelist")).content.decode()
    assert "succeeded, needs attention" in runs and "dry run: nothing deleted" not in runs  # marks dry runs only
    detail = client.get(reverse("admin:django_pg_retention_retentionrun_change", args=[run.pk])).content.decode()
    assert "rules.Place needs confirmation" in detail and "Proof (audit chain)" in detail and "real run" in detail
    out = io.StringIO()
    call_command("retention", "show", str(run.pk), stdout=out)
    assert "succeeded, needs attention" in out.getvalue()
    assert "Needs attention: rules.Place needs confirmation" in out.getvalue()
    assert "needs_confirmation" not in out.getvalue()  # statuses in words on a terminal (JSON keeps the values)
    out = io.StringIO()
    call_command("retention", "show", str(run.pk), "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["needs_attention"] == ["rules.Place needs confirmation"]
    clean = call_cleanup(model="rules.Author")
    assert clean.attention() == []


def test_nobody_can_add_change_or_delete_audit_rows() -> None:
    run = call_cleanup()
    client, _ = user_client(staff=True, superuser=True)
    assert client.get(reverse("admin:django_pg_retention_retentionrun_add")).status_code == 403
    change = client.post(reverse("admin:django_pg_retention_retentionrun_change", args=[run.pk]), {"status": "failed"})
    assert change.status_code == 403
    assert (
        client.post(
            reverse("admin:django_pg_retention_retentionrun_delete", args=[run.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    run.refresh_from_db()
    assert run.status == "succeeded"


def grant_preview(user: Any) -> None:
    content_type = ContentType.objects.get_for_model(RetentionRun)
    permission, _ = Permission.objects.get_or_create(
        codename="preview_retentionrun", content_type=content_type, defaults={"name": "Can preview a retention run"}
    )
    user.user_permissions.add(permission)


def test_previews_need_their_own_permission_and_valid_days() -> None:
    soft_deleted_places(2)
    client, user = user_client(staff=True)
    url = reverse("admin:django_pg_retention_preview")
    assert client.post(url, {"model": "rules.Place", "days": ""}).status_code == 403
    assert client.get(url).status_code == 403
    runs = client.get(reverse("admin:django_pg_retention_retentionrun_changelist")).content.decode()
    assert "Preview a run" not in runs
    assert not RetentionRun.objects.exists()
    grant_preview(user)
    runs = client.get(reverse("admin:django_pg_retention_retentionrun_changelist")).content.decode()
    assert "Preview a run" in runs
    for days in ("0", "-3", "1.5", "x"):
        refused = client.post(url, {"model": "rules.Place", "days": days})
        assert refused.status_code == 200 and "errorlist" in refused.content.decode(), days
    assert not RetentionRun.objects.exists()
    assert client.post(url, {"model": "rules.Place", "days": "1"}).status_code == 200
    assert RetentionRun.objects.get().days_override == 1


def test_staff_preview_a_dry_run_but_cannot_request_a_real_one() -> None:
    soft_deleted_places(2)
    client, user = user_client(staff=True)
    grant_preview(user)
    preview = client.post(reverse("admin:django_pg_retention_preview"), {"model": "rules.Place", "days": ""})
    assert preview.status_code == 200 and 'id="retention-preview"' in preview.content.decode()
    dry = RetentionRun.objects.get(triggered_by="admin-preview")
    assert dry.dry_run and dry.requested_by == "staff"
    assert RetentionRunItem.objects.get(run=dry).deleted == 2 and Place.objects.count() == 2
    # The runs list and the dry run's page say what it was (format_html with no arguments was
    # deprecated in Django 5.2 and raises in 6.0: these pages answered 500 there).
    runs = client.get(reverse("admin:django_pg_retention_retentionrun_changelist"))
    detail = client.get(reverse("admin:django_pg_retention_retentionrun_change", args=[dry.pk]))
    for page in (runs, detail):
        assert page.status_code == 200 and "dry run: nothing deleted" in page.content.decode()
    assert client.post(reverse("admin:django_pg_retention_request"), {"model": "rules.Place"}).status_code == 403
    assert not RetentionRequest.objects.exists()


def test_a_superusers_request_is_queued_then_run_by_the_database() -> None:
    soft_deleted_places(2)
    client, _ = user_client(staff=True, superuser=True)
    url = reverse("admin:django_pg_retention_request")
    # First a confirmation page with what a run would purge now (a fresh preview); nothing queued.
    asked = client.post(url, {"model": "rules.Place", "days": ""})
    page = asked.content.decode()
    assert asked.status_code == 200 and "Are you sure?" in page and "rules.Place: 2 row(s) to delete" in page
    assert 'name="confirmed" value="yes"' in page
    assert not RetentionRequest.objects.exists() and Place.objects.count() == 2
    response = client.post(url, {"model": "rules.Place", "days": "", "confirmed": "yes"})
    assert response.status_code == 302
    queued = RetentionRequest.objects.get()
    assert (queued.requested_by, queued.model_path, queued.status) == ("root", "rules.Place", "pending")
    assert Place.objects.count() == 2  # not in the web request

    with connection.cursor() as cursor:
        cursor.execute("CALL retention.drain_requests()")  # what the pg_cron job "requests" runs
    queued.refresh_from_db()
    assert queued.status == "done" and queued.run is not None
    assert (queued.run.triggered_by, queued.run.requested_by, queued.run.dry_run) == ("admin", "root", False)
    assert not Place.objects.exists()
    bad = client.post(reverse("admin:django_pg_retention_request"), {"model": "rules.Nope"})
    assert bad.status_code == 302 and RetentionRequest.objects.count() == 1


def test_failed_and_large_runs_raise_one_alert_each_mailed_once(settings: Any) -> None:
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.RETENTION_CLEANUP_CONFIG = {**settings.RETENTION_CLEANUP_CONFIG, "notification_threshold": 3}
    sync()
    soft_deleted_places(2)
    assert call_cleanup().status == "succeeded"
    assert not RetentionAlert.objects.exists()  # 2 rows: under the threshold

    soft_deleted_places(5)
    large = call_cleanup()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$;"
            "CREATE TRIGGER test_boom BEFORE DELETE ON rules_place FOR EACH ROW EXECUTE FUNCTION test_boom();"
        )
    try:
        soft_deleted_places(1)
        failed = call_cleanup(model="rules.Place")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_boom ON rules_place; DROP FUNCTION test_boom();")
    alerts = {a.run_id: a.kind for a in RetentionAlert.objects.all()}
    assert alerts == {large.pk: "large_deletion", failed.pk: "failed"}

    mail.outbox.clear()
    call_command("retention_notify", stdout=io.StringIO())
    assert len(mail.outbox) == 2 and mail.outbox[0].to == ["ops@example.com"]
    assert any("boom" in m.body for m in mail.outbox) and any("deleted 5 rows" in m.body for m in mail.outbox)
    assert not RetentionAlert.objects.filter(sent_at__isnull=True).exists()
    out = io.StringIO()
    call_command("retention_notify", stdout=out)
    assert len(mail.outbox) == 2 and "0 alert(s) sent" in out.getvalue()


def test_a_request_shorter_than_a_policy_through_an_application_role_is_refused_with_the_reason() -> None:
    """Where Django connects as an application role (not the owner that migrated), the database
    queues no request that would shorten retention (only the owner's may): the admin says why."""
    sync()
    client, _ = user_client(staff=True, superuser=True)
    role = "retention_admin_app"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        cursor.execute(f"SET ROLE {role}")
    try:
        url = reverse("admin:django_pg_retention_request")
        response = client.post(url, {"model": "rules.Place", "days": "1", "confirmed": "yes"}, follow=True)
        longer = client.post(url, {"model": "rules.Place", "days": "400", "confirmed": "yes"})
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
    page = response.content.decode()
    assert "Not queued: a request with days 1 is shorter than the policy of rules.Place (30 days)" in page
    assert longer.status_code == 302
    assert list(RetentionRequest.objects.values_list("days", flat=True)) == [400]


def test_daily_view_and_report_command() -> None:
    soft_deleted_places(3)
    call_cleanup()
    soft_deleted_places(2)
    call_cleanup(dry_run=True)  # dry runs are not counted
    today = RetentionDaily.objects.get(model_path="rules.Place")
    assert (today.day, today.roots_deleted, today.rows_deleted) == (timezone.now().date(), 3, 3)

    out = io.StringIO()
    call_command("retention_report", "--format", "json", stdout=out)
    report = json.loads(out.getvalue())
    place = next(m for m in report["models"] if m["model_path"] == "rules.Place")
    assert (place["eligible_for_cleanup"], place["total_soft_deleted"], place["last_deleted"]) == (2, 2, 3)
    out = io.StringIO()
    call_command("retention_report", "--format", "csv", stdout=out)
    rows = {r["model_path"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert rows["rules.Place"]["eligible_for_cleanup"] == "2"
    out = io.StringIO()
    call_command("retention_report", stdout=out)
    assert "rules.Place" in out.getvalue() and "eligible now" in out.getvalue()


# --- issue 30, review items -----------------------------------------------------------------------


def test_the_policy_changelist_warns_of_a_policy_that_differs_from_the_settings() -> None:
    """pg_retention.W006 in the admin too: a policy changed in SQL is a warning on the policy list."""
    sync()
    client, _ = user_client(staff=True)
    url = reverse("admin:django_pg_retention_retentionpolicy_changelist")
    assert "differs from the settings" not in client.get(url).content.decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE retention_policy SET retention_days = 1 WHERE model_path = 'rules.Place'")
    page = client.get(url).content.decode()
    assert (
        "The policy in database &#x27;default&#x27; differs from the settings: "
        "rules.Place: retention_days is 1 in the database, 30 in the settings." in page
    )
    sync()
    assert "differs from the settings" not in client.get(url).content.decode()


def test_the_policy_admin_reads_the_report_once_on_its_list_and_not_on_its_pages() -> None:
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    from django_pg_retention.models import RetentionPolicy

    soft_deleted_places(2)
    sync()
    client, _ = user_client(staff=True)
    with CaptureQueriesContext(db) as listed:
        page = client.get(reverse("admin:django_pg_retention_retentionpolicy_changelist"))
    assert page.status_code == 200
    assert sum('"retention_report"' in q["sql"] for q in listed.captured_queries) == 1
    policy = RetentionPolicy.objects.get(model_path="rules.Place")
    with CaptureQueriesContext(db) as shown:
        detail = client.get(reverse("admin:django_pg_retention_retentionpolicy_change", args=[policy.pk]))
    assert detail.status_code == 200 and "rules.Place" in detail.content.decode()
    assert not [q for q in shown.captured_queries if '"retention_report"' in q["sql"]]


def test_preview_and_run_request_work_with_atomic_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """ATOMIC_REQUESTS wraps every view in a transaction, which run_cleanup refuses: the two views
    that call it are exempt (on every database)."""
    soft_deleted_places(2)
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    client, _ = user_client(staff=True, superuser=True)
    preview = client.post(reverse("admin:django_pg_retention_preview"), {"model": "rules.Place", "days": ""})
    assert preview.status_code == 200 and 'id="retention-preview"' in preview.content.decode()
    assert RetentionRunItem.objects.get(run__triggered_by="admin-preview").deleted == 2
    url = reverse("admin:django_pg_retention_request")
    asked = client.post(url, {"model": "rules.Place", "days": ""})
    assert asked.status_code == 200 and "rules.Place: 2 row(s) to delete" in asked.content.decode()
    assert client.post(url, {"model": "rules.Place", "days": "", "confirmed": "yes"}).status_code == 302
    assert RetentionRequest.objects.get().status == "pending"


def test_hold_reasons_on_run_and_preview_pages_need_the_permission_to_view_holds() -> None:
    from django_pg_retention import place_hold

    held, _ = soft_deleted_places(2)
    place_hold(Place.objects.get(pk=held), "litigation 2026-17 (sealed)", by="legal")
    run = call_cleanup(model="rules.Place")
    assert run.rows_deleted == 1
    client, user = user_client(staff=True)
    grant_preview(user)
    url = reverse("admin:django_pg_retention_retentionrun_change", args=[run.pk])
    page = client.get(url).content.decode()
    assert f"legal hold on rules.Place {held} (reason shown to users who may view legal holds)" in page
    assert "litigation 2026-17" not in page
    preview = client.post(reverse("admin:django_pg_retention_preview"), {"model": "rules.Place", "days": ""})
    assert "litigation 2026-17" not in preview.content.decode()
    user.user_permissions.add(Permission.objects.get(codename="view_retentionhold"))
    user = get_user_model().objects.get(pk=user.pk)  # permissions are cached per user object
    client.force_login(user)
    assert f"legal hold on rules.Place {held}: litigation 2026-17 (sealed)" in client.get(url).content.decode()
