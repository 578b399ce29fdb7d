"""The admin in a real browser: Debian's Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import server_dsn
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from purge_helpers import call_cleanup, reset_rules_data
from rules.models import Place

from django_pg_retention.models import RetentionHold, RetentionPolicy, RetentionRequest

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Debian's chromium; installed here when missing and running as root on Debian."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env)
        found = shutil.which("chromium")
    assert found, "Chromium is not installed: apt-get install chromium (Debian) or your distribution's package"
    return found


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls in the test are ours.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            yield page
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session", autouse=True)
def no_idle_sessions_left(django_db_setup: None) -> Iterator[None]:
    """The live server's request threads are daemons that may keep an idle session on the test
    database, which would stop pytest-django from dropping it: ended after the last test (during
    the tests, the sessions of the tests' own thread could be among them)."""
    yield
    with psycopg.connect(server_dsn(connection.settings_dict["NAME"]), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state = 'idle'"
        )


def test_staff_browse_runs_a_run_and_the_report(live_server: Any, browser_page: Any) -> None:
    reset_rules_data()
    now = timezone.now()
    Place.objects.bulk_create(
        Place(name=f"p{i}", is_deleted=True, deleted_at=now - timedelta(days=100)) for i in range(4)
    )
    Place.objects.create(name="young", is_deleted=True, deleted_at=now - timedelta(days=3))
    run = call_cleanup()
    get_user_model().objects.create_user(username="auditor", password="s3cret-pass", is_staff=True)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/?next=/admin/django_pg_retention/retentionrun/")
    page.fill("#id_username", "auditor")
    page.fill("#id_password", "s3cret-pass")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/django_pg_retention/retentionrun/")
    assert page.locator("#result_list").is_visible()
    assert page.locator(f"#result_list a:text-is('{run.pk}')").count() == 1
    page.screenshot(path=str(ARTIFACTS / "admin-runs.png"), full_page=True)

    page.click(f"#result_list a:text-is('{run.pk}')")
    page.wait_for_url(f"**/retentionrun/{run.pk}/change/")
    body = page.inner_text("#content")
    assert "rules.Place" in body and "succeeded" in body
    page.screenshot(path=str(ARTIFACTS / "admin-run.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/django_pg_retention/retentionrun/")
    page.click(".object-tools a:text-is('Report')")
    page.wait_for_url("**/retentionrun/report/")
    table = page.inner_text("#retention-report")
    assert "rules.Place" in table
    chart = page.locator("#retention-daily svg.retention-daily-chart")
    assert chart.is_visible()
    today = timezone.now().date().isoformat()
    assert chart.locator("rect title", has_text=f"{today}: 4 rows").count() == 1
    heights = [float(h) for h in chart.locator("rect").evaluate_all("rs => rs.map(r => r.getAttribute('height'))")]
    assert max(heights) > 100  # today's bar is drawn at full height
    page.screenshot(path=str(ARTIFACTS / "admin-report.png"), full_page=True)


# Elements that scroll sideways inside the page (Django's changelist puts its table in one).
INNER_SCROLLERS = """Array.from(document.querySelectorAll('#content *'))
  .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth + 1)
  .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}`)"""


def fits(page: Any, name: str) -> str:
    """Nothing scrolls sideways at the viewport's width, neither the page nor a box in it; the
    page's screenshot is kept."""
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert width[0] <= width[1], f"{name}: {width[0]} px wide in a {width[1]} px window"
    assert page.evaluate(INNER_SCROLLERS) == [], name
    return str(page.inner_text("#content"))


def test_every_admin_page_fits_1280_px_and_a_real_run_needs_confirming(live_server: Any, browser_page: Any) -> None:
    reset_rules_data()
    now = timezone.now()
    Place.objects.bulk_create(
        Place(name=f"p{i}", is_deleted=True, deleted_at=now - timedelta(days=100)) for i in range(4)
    )
    RetentionPolicy.objects.filter(model_path="rules.Place").update(max_deletions_per_run=2)
    guarded = call_cleanup(triggered_by="browser")  # four eligible, two allowed: left for a person
    RetentionPolicy.objects.filter(model_path="rules.Place").update(max_deletions_per_run=None)
    held = Place.objects.create(name="kept")
    hold = RetentionHold.objects.create(model_path="rules.Place", object_pk=str(held.pk), reason="litigation")
    get_user_model().objects.create_superuser(username="root", password="s3cret-pass", email="root@example.com")
    ARTIFACTS.mkdir(exist_ok=True)
    page, base = browser_page, f"{live_server.url}/admin/django_pg_retention"
    page.goto(f"{live_server.url}/admin/login/?next=/admin/django_pg_retention/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "s3cret-pass")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/django_pg_retention/")
    assert "Report" in fits(page, "app-index")

    page.goto(f"{base}/retentionrun/")
    assert "needs attention" in fits(page, "runs")
    page.goto(f"{base}/retentionrun/{guarded.pk}/change/")
    body = fits(page, "run")
    assert "needs attention" in body and "needs confirmation" in body and "rules.Place" in body
    page.goto(f"{base}/retentionpolicy/")
    assert "rules.Place" in fits(page, "policies")
    place_policy = RetentionPolicy.objects.get(model_path="rules.Place").pk
    page.goto(f"{base}/retentionpolicy/{place_policy}/change/")
    assert "change history" in fits(page, "policy").lower()
    page.goto(f"{base}/retentionrun/report/")
    assert "purgeable now" in fits(page, "report").lower()
    page.emulate_media(color_scheme="dark")
    colours = page.evaluate(
        "[getComputedStyle(document.querySelector('#retention-daily svg text')).fill,"
        " getComputedStyle(document.body).color, getComputedStyle(document.body).backgroundColor]"
    )
    page.screenshot(path=str(ARTIFACTS / "report-dark.png"), full_page=True)
    assert colours[0] == colours[1] and colours[0] != colours[2], colours  # axis labels in the text colour
    page.emulate_media(color_scheme="light")

    page.goto(f"{base}/retentionrun/preview/")
    page.select_option("#id_model", "rules.Place")
    page.click("input[value='Preview (dry run)']")
    page.wait_for_selector("#retention-preview")
    assert "would delete" in fits(page, "preview").lower()  # a table header, upper case on screen
    page.click("input[value='Request a real run…']")
    page.wait_for_url("**/retentionrun/request/")
    assert "Are you sure" in fits(page, "request-confirmation")
    assert not RetentionRequest.objects.exists()  # asking is not queueing

    RetentionRequest.objects.create(requested_by="root", model_path="rules.Place", days=30)
    page.goto(f"{base}/retentionrequest/")
    assert "rules.Place" in fits(page, "requests")
    page.goto(f"{base}/retentionalert/")
    alerts = fits(page, "alerts")
    assert "needs confirmation" in alerts and "needs_confirmation" not in alerts  # words, not enum values

    page.goto(f"{base}/retentionhold/")
    assert "Legal holds" in fits(page, "holds")
    page.goto(f"{base}/retentionhold/add/")
    fits(page, "hold-add")
    assert page.locator("input[name=_continue]").count() == 0  # a saved hold cannot be edited
    page.goto(f"{base}/retentionhold/{hold.pk}/change/")
    assert "litigation" in fits(page, "hold")
    page.click("#retention-release")
    assert "cannot be undone" in fits(page, "hold-release")
    assert page.locator("input[value='Yes, release it']").count() == 1
    assert RetentionHold.objects.get(pk=hold.pk).released_at is None  # asking is not releasing
    page.goto(f"{live_server.url}/admin/rules/place/")
    page.check(f"input[name=_selected_action][value='{held.pk}']")
    page.select_option("select[name=action]", "place_legal_hold")
    page.click("button[name=index]")
    assert "from every retention purge" in fits(page, "place-hold")
    page.fill("#id_reason", "subpoena 7")
    page.click("input[value='Place the hold']")
    page.wait_for_selector(".messagelist")
    assert RetentionHold.objects.filter(object_pk=str(held.pk), reason="subpoena 7", created_by="root").count() == 1
