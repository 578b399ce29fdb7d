"""The admin in a real browser: Debian's Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from purge_helpers import call_cleanup, reset_rules_data
from rules.models import Place

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
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            yield page
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        # The live server's request threads are daemons that may keep an idle session on the test
        # database, which would stop pytest-django from dropping it at the end.
        with connection.cursor() as cursor:
            cursor.execute(
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
