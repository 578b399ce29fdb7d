"""A read-only audit admin, shaped like Django's LogEntry admin, plus the report and run pages.

Every staff user may look; nobody may add, change or delete audit rows. Users with the
``preview_retentionrun`` permission may preview a run (a dry run computed by the procedure, which
yields to a real run that starts meanwhile). Only superusers may ask for a real run, and the database runs
it (``retention.drain_requests``, a pg_cron job), never the web request.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from django_pg_retention.graph import build
from django_pg_retention.manager import call_run_cleanup
from django_pg_retention.models import (
    RetentionAlert,
    RetentionDaily,
    RetentionHold,
    RetentionPolicy,
    RetentionPolicyHistory,
    RetentionReport,
    RetentionRequest,
    RetentionRun,
    RetentionRunItem,
)
from django_pg_retention.policies import get_model, model_path, soft_delete_models

if TYPE_CHECKING:  # generic in django-types only, not at runtime
    _ModelAdmin = admin.ModelAdmin[Any]
    _TabularInline = admin.TabularInline[Any]
else:
    _ModelAdmin = admin.ModelAdmin
    _TabularInline = admin.TabularInline


class ReadOnlyPermissions:
    """Audit rows are evidence: visible to staff, changed by nobody (for admins and inlines)."""

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyPermissions, _ModelAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)


class RetentionRunItemInline(ReadOnlyPermissions, _TabularInline):
    model = RetentionRunItem
    extra = 0
    can_delete = False
    fields = (
        "model_path",
        "retention_days",
        "policy_source",
        "cutoff",
        "eligible",
        "deleted",
        "blocked",
        "skipped_locked",
        "cascaded",
        "updated",
        "blocked_reasons",
        "batches",
        "duration",
        "status",
        "error",
        "digests",
    )
    readonly_fields = fields


PREVIEW_PERMISSION = "django_pg_retention.preview_retentionrun"


class RunRequestForm(forms.Form):
    model = forms.ChoiceField(required=False, help_text="leave empty for every model")
    days = forms.IntegerField(required=False, min_value=1, help_text="override the retention period")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "every model")] + [(model_path(m), model_path(m)) for m in soft_delete_models()]
        self.fields["model"].choices = choices  # type: ignore[attr-defined]


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "started_at", "state", "triggered_by", "requested_by", "mode", "rows_deleted", "took")
    list_filter = ("status", "triggered_by", "dry_run", "started_at")
    date_hierarchy = "started_at"
    search_fields = ("model_filter", "error", "requested_by")
    inlines = [RetentionRunItemInline]
    fieldsets = (
        (None, {"fields": ("state", "needs_attention", "mode", "started_at", "finished_at", "triggered_by")}),
        (None, {"fields": ("requested_by", "model_filter", "days_override", "rows_deleted", "error")}),
        (
            "Proof (audit chain)",
            {"classes": ("collapse",), "fields": ("backend_pid", "chain_position", "prev_hash", "hash")},
        ),
    )
    readonly_fields = (
        "state",
        "needs_attention",
        "mode",
        "started_at",
        "finished_at",
        "triggered_by",
        "requested_by",
        "model_filter",
        "days_override",
        "rows_deleted",
        "error",
        "backend_pid",
        "chain_position",
        "prev_hash",
        "hash",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).prefetch_related("items")

    def _attention(self, obj: RetentionRun) -> list[str]:
        items: Any = getattr(obj, "items")  # noqa: B009 (the reverse accessor, prefetched above)
        return obj.attention(list(items.all()))

    @admin.display(description="status", ordering="status")
    def state(self, obj: RetentionRun) -> str:
        return f"{obj.status}, needs attention" if self._attention(obj) else obj.status

    @admin.display(description="needs attention")
    def needs_attention(self, obj: RetentionRun) -> str:
        return "; ".join(self._attention(obj)) or "-"

    @admin.display(description="mode", ordering="dry_run")
    def mode(self, obj: RetentionRun) -> str:
        return "dry run (nothing deleted)" if obj.dry_run else "real run"

    @admin.display(description="duration")
    def took(self, obj: RetentionRun) -> str:
        if obj.finished_at is None:
            return "-"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.1f}s"

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("report/", wrap(self.report_view), name="django_pg_retention_report"),
            path("preview/", wrap(self.preview_view), name="django_pg_retention_preview"),
            path("request/", wrap(self.request_view), name="django_pg_retention_request"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta}

    def report_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        since = timezone.now().date() - timedelta(days=89)
        daily = list(RetentionDaily.objects.filter(day__gte=since))
        context = {
            **self._context(request, "Retention report"),
            "rows": list(RetentionReport.objects.all()),
            "chart": daily_chart_svg(daily, since, timezone.now().date()),
            "total_deleted": sum(d.rows_deleted for d in daily),
        }
        return TemplateResponse(request, "admin/django_pg_retention/report.html", context)

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """What a run would do now, computed by the procedure with dry_run."""
        if not request.user.has_perm(PREVIEW_PERMISSION):
            raise PermissionDenied
        form = RunRequestForm(request.POST or None)
        run, items = None, []
        if request.method == "POST" and form.is_valid():
            run = call_run_cleanup(
                dry_run=True,
                model=form.cleaned_data["model"] or None,
                days=form.cleaned_data["days"],
                triggered_by="admin-preview",
                requested_by=request.user.get_username(),
            )
            items = list(RetentionRunItem.objects.filter(run=run))
        context = {
            **self._context(request, "Preview a retention run"),
            "form": form,
            "run": run,
            "items": items,
            "can_request": request.user.is_superuser,
        }
        return TemplateResponse(request, "admin/django_pg_retention/preview.html", context)

    def request_view(self, request: HttpRequest) -> HttpResponse:
        """Superusers: queue a real run for the database to execute."""
        if not request.user.is_superuser:
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:django_pg_retention_preview"))
        form = RunRequestForm(request.POST)
        if not form.is_valid():
            messages.error(request, f"Not queued: {form.errors.as_text()}")
            return HttpResponseRedirect(reverse("admin:django_pg_retention_preview"))
        model = form.cleaned_data["model"]  # one of the form's choices: a policy's model
        if request.POST.get("confirmed") != "yes":
            # Like Django's delete confirmation: what a run would purge now, then "Yes, I'm sure".
            preview = call_run_cleanup(
                dry_run=True,
                model=model or None,
                days=form.cleaned_data["days"],
                triggered_by="admin-preview",
                requested_by=request.user.get_username(),
            )
            items = list(RetentionRunItem.objects.filter(run=preview).order_by("id"))
            context = {
                **self._context(request, "Are you sure?"),
                "form": form,
                "run": preview,
                "lines": [
                    f"{i.model_path}: {i.deleted:,} row(s) to delete"
                    + (f", {i.blocked:,} blocked" if i.blocked else "")
                    + ("" if i.status == "succeeded" else f" ({i.status.replace('_', ' ')})")
                    for i in items
                    if i.deleted or i.blocked or i.status != "succeeded"
                ],
                "total": f"{sum(i.deleted for i in items):,}",
                "rows": f"{sum(sum(i.cascaded.values()) for i in items):,}",
            }
            return TemplateResponse(request, "admin/django_pg_retention/request_confirmation.html", context)
        queued = RetentionRequest.objects.create(
            requested_by=request.user.get_username(), model_path=model, days=form.cleaned_data["days"]
        )
        from django_pg_retention.schedule import scheduler

        reason = scheduler().unavailable_reason()
        if reason:
            messages.warning(
                request,
                f"Request {queued.pk} is queued, but pg_cron is not available ({reason}): run "
                "`CALL retention.drain_requests()` from psql or any scheduler to execute it.",
            )
        else:
            messages.success(request, f"Request {queued.pk} is queued: pg_cron runs it within a minute.")
        return HttpResponseRedirect(reverse("admin:django_pg_retention_retentionrequest_changelist"))


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ReadOnlyAdmin):
    list_display = (
        "model_path",
        "retention_days",
        "policy_source",
        "is_active",
        "soft_deleted",
        "eligible",
        "next_eligible_at",
        "last_run",
    )
    list_filter = ("policy_source", "is_active")
    fields = (
        "model_path",
        "db_table",
        "retention_days",
        "policy_source",
        "is_active",
        "position",
        "updated_at",
        "history",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        self._report = {r.model_path: r for r in RetentionReport.objects.all()}
        return super().get_queryset(request)

    def _figure(self, obj: RetentionPolicy, name: str) -> Any:
        row = getattr(self, "_report", {}).get(obj.model_path)
        return getattr(row, name) if row is not None else None

    @admin.display(description="soft-deleted")
    def soft_deleted(self, obj: RetentionPolicy) -> Any:
        return self._figure(obj, "soft_deleted")

    @admin.display(description="eligible now")
    def eligible(self, obj: RetentionPolicy) -> Any:
        return self._figure(obj, "eligible")

    @admin.display(description="next eligible")
    def next_eligible_at(self, obj: RetentionPolicy) -> Any:
        return self._figure(obj, "next_eligible_at")

    @admin.display(description="last run")
    def last_run(self, obj: RetentionPolicy) -> Any:
        run_id = self._figure(obj, "last_run_id")
        if run_id is None:
            return "-"
        url = reverse("admin:django_pg_retention_retentionrun_change", args=[run_id])
        return format_html(
            '<a href="{}">{} ({}, {} deleted)</a>',
            url,
            run_id,
            self._figure(obj, "last_run_status"),
            self._figure(obj, "last_deleted"),
        )

    @admin.display(description="change history")
    def history(self, obj: RetentionPolicy) -> SafeString:
        changes = RetentionPolicyHistory.objects.filter(model_path=obj.model_path)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    c.changed_at.strftime("%Y-%m-%d %H:%M"),
                    c.change,
                    f"{c.old_days or '-'} → {c.new_days or '-'}",
                    f"{c.old_source or '-'} → {c.new_source or '-'}",
                )
                for c in changes
            ),
        )
        return format_html("<table><tr><th>when</th><th>change</th><th>days</th><th>source</th></tr>{}</table>", rows)


class RetentionHoldForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = RetentionHold
        fields = ("model_path", "object_pk", "reason", "until")

    def clean_model_path(self) -> str:
        value = str(self.cleaned_data["model_path"]).strip()
        try:
            model = get_model(value)
        except LookupError as exc:
            raise forms.ValidationError(str(exc)) from exc
        path = model_path(model._meta.concrete_model)  # type: ignore[arg-type]
        if path not in holdable_models():
            raise forms.ValidationError(
                f"{path} is not purged by any retention policy (neither soft-deletable nor reached by a "
                "purge's cascade), so a hold on it would protect nothing."
            )
        return path

    def clean(self) -> dict[str, Any]:
        """A hold names a row that exists (or, with no primary key, every row of the model)."""
        cleaned = super().clean() or {}
        target, pk = cleaned.get("model_path"), str(cleaned.get("object_pk") or "").strip()
        if target and pk:
            rows: Any = get_model(target)._meta.base_manager  # soft-deleted rows too: those are the ones held
            try:
                found = rows.filter(pk=pk).exists()
            except (ValueError, TypeError, ValidationError):
                found = False
            if not found:
                self.add_error("object_pk", f"{target} has no row with primary key {pk!r}.")
        cleaned["object_pk"] = pk
        return cleaned


def holdable_models() -> set[str]:
    """Every model a purge deletes rows of: the policies' models and what their cascades reach."""
    paths: set[str] = set()
    for model in soft_delete_models():
        paths.update(model_path(node.model) for node in build(model).nodes)
    return paths


@admin.register(RetentionHold)
class RetentionHoldAdmin(_ModelAdmin):
    """Holds are placed and released by users with the model's permissions; never edited or deleted."""

    form = RetentionHoldForm
    list_display = (
        "id",
        "model_path",
        "object_pk",
        "reason",
        "created_by",
        "created_at",
        "until",
        "released_at",
        "released_by",
        "active",
    )
    list_filter = ("model_path",)
    search_fields = ("model_path", "object_pk", "reason")
    actions = ["release"]

    @admin.display(boolean=True, description="active")
    def active(self, obj: RetentionHold) -> bool:
        return obj.is_active

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None:
            return ()
        return ("model_path", "object_pk", "reason", "until", "created_by", "created_at", "released_at", "released_by")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Existing holds are evidence: released by the action, never edited.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)

    @admin.action(description="Release the selected holds", permissions=["change"])
    def release(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = queryset.filter(released_at__isnull=True).update(
            released_at=timezone.now(), released_by=request.user.get_username()
        )
        messages.success(request, f"{count} hold(s) released.")


@admin.register(RetentionRequest)
class RetentionRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "requested_at", "requested_by", "model_path", "days", "status", "run", "finished_at")
    list_filter = ("status",)


@admin.register(RetentionAlert)
class RetentionAlertAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "run", "message", "sent_at")
    list_filter = ("kind",)


def daily_chart_svg(rows: list[RetentionDaily], first: date, last: date) -> SafeString:
    """Rows deleted per day as a bar chart, drawn on the server (nothing loaded from the internet)."""
    totals: dict[date, int] = {}
    for r in rows:
        totals[r.day] = totals.get(r.day, 0) + r.rows_deleted
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    width, height, left, bottom = 720, 180, 56, 24
    bar = (width - left) / max(len(days), 1)
    peak = max(totals.values(), default=0) or 1
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#417690"><title>{}: {} rows</title></rect>',
        (
            (
                f"{left + i * bar:.1f}",
                f"{height - bottom - (totals.get(d, 0) / peak) * (height - bottom - 8):.1f}",
                f"{max(bar - 1, 1):.1f}",
                f"{(totals.get(d, 0) / peak) * (height - bottom - 8):.1f}",
                d.isoformat(),
                totals.get(d, 0),
            )
            for i, d in enumerate(days)
        ),
    )
    axis = format_html(
        '<text x="{}" y="14" font-size="11" text-anchor="end">{}</text>'
        '<text x="{}" y="{}" font-size="11" text-anchor="end">0</text>'
        '<text x="{}" y="{}" font-size="11">{}</text>'
        '<text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>',
        left - 6,
        f"{peak:,}",
        left - 6,
        height - bottom,
        left,
        height - 6,
        first.isoformat(),
        width,
        height - 6,
        last.isoformat(),
        left,
        height - bottom,
        width,
        height - bottom,
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="rows deleted per day" '
        'width="{}" height="{}" viewBox="0 0 {} {}" class="retention-daily-chart">{}{}</svg>',
        width,
        height,
        width,
        height,
        axis,
        bars,
    )
