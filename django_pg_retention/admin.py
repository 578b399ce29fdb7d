"""A read-only audit admin, shaped like Django's LogEntry admin, plus the report and run pages.

Every staff user may look; nobody may add, change or delete audit rows. Users with the
``preview_retentionrun`` permission may preview a run (a dry run computed by the procedure, which
yields to a real run that starts meanwhile). Only superusers may ask for a real run, and the database runs
it (``retention.drain_requests``, a pg_cron job), never the web request.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.sites import all_sites
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connections, router, transaction
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from django_pg_retention import config
from django_pg_retention.charts import daily_chart_svg
from django_pg_retention.display import human_duration, label
from django_pg_retention.graph import UncompilableRelation, build
from django_pg_retention.holds import HoldError, canonical_key, place_hold, place_holds, release_holds
from django_pg_retention.manager import call_run_cleanup
from django_pg_retention.models import (
    ATTENTION_ITEM_STATUSES,
    ItemStatus,
    RetentionAlert,
    RetentionDaily,
    RetentionHold,
    RetentionPolicy,
    RetentionPolicyHistory,
    RetentionReport,
    RetentionRequest,
    RetentionRun,
    RetentionRunItem,
    RunStatus,
)
from django_pg_retention.policies import get_model, model_path, policy_models
from django_pg_retention.sync import policy_drift

if TYPE_CHECKING:  # generic in django-types only, not at runtime
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


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


class RetentionMedia:
    css = {"all": ("django_pg_retention/admin.css",)}


class ChangeFormContext(_ModelAdmin):
    """An admin whose change page adds change_form_context(request, obj) to the template's context."""

    def change_form_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        return {}

    def render_change_form(
        self,
        request: HttpRequest,
        context: Mapping[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> TemplateResponse:
        extra = self.change_form_context(request, obj)
        return super().render_change_form(request, {**context, **extra}, add, change, form_url, obj)


class ReadOnlyAdmin(ReadOnlyPermissions, ChangeFormContext):
    Media = RetentionMedia

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, str] | None = None) -> TemplateResponse:
        # "Retention runs", not "Select retention run to view": nothing here is selected to change.
        title = str(self.model._meta.verbose_name_plural).capitalize()
        return super().changelist_view(request, {"title": title, **(extra_context or {})})

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)


def short_time(moment: datetime | None) -> str:
    """ "2026-11-28 14:12" in the current time zone: a column that stays narrow."""
    return "-" if moment is None else timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def time_column(field: str, description: str) -> Any:
    """A changelist column showing a timestamp field as short_time does, sortable by the field."""

    @admin.display(description=description, ordering=field)
    def column(model_admin: Any, obj: Model) -> str:
        return short_time(getattr(obj, field))

    return column


def breakable_path(path: str) -> SafeString:
    """ "app.Model" that may wrap after the dot in a narrow column."""
    app, _, name = path.partition(".")
    return format_html("{}.<wbr>{}", app, name) if name else format_html("{}", path)


def _item_status(item: RetentionRunItem) -> SafeString:
    attention = item.status in ATTENTION_ITEM_STATUSES or item.blocked > 0
    kind = "error" if item.status == ItemStatus.FAILED else "warning" if attention else "success"
    return format_html('<span class="retention-badge {}">{}</span>', kind, label(item.status))


HOLD_VIEW_PERMISSION = "django_pg_retention.view_retentionhold"
# "legal hold on app.Model 7: <reason>" (retention.held_keys, SQL 0.1), alone or inside a RETAINED reason.
_HOLD_REASON = re.compile(r"(legal hold on \S+(?: \S+)?): .*", re.DOTALL)


def visible_reasons(reasons: dict[str, int], show_hold_reasons: bool) -> list[tuple[str, str]]:
    """Blocked reasons, most frequent first; a hold's reason (why rows are kept: often a matter of
    litigation) only for users who may view holds, the others see which row is held."""
    counts: Counter[str] = Counter()
    for reason, count in reasons.items():
        counts[
            reason
            if show_hold_reasons
            else _HOLD_REASON.sub(r"\1 (reason shown to users who may view legal holds)", reason)
        ] += count
    return [(r, f"{n:,}") for r, n in counts.most_common()]


def item_rows(items: Iterable[RetentionRunItem], show_hold_reasons: bool = False) -> list[dict[str, Any]]:
    """A run's items as the per-model table of the run and preview pages shows them."""
    return [
        {
            "model_path": i.model_path,
            "model": breakable_path(i.model_path),
            "status": _item_status(i),
            "error": i.error,
            "days": f"{i.retention_days:,}",
            "cutoff": i.cutoff,
            "eligible": f"{i.eligible:,}",
            "deleted": f"{i.deleted:,}",
            "blocked": f"{i.blocked:,}",
            "reasons": visible_reasons(i.blocked_reasons, show_hold_reasons),
            "cascaded": f"{sum(i.cascaded.values()):,}",
            "tables": [(t, f"{n:,}") for t, n in sorted(i.cascaded.items())] if len(i.cascaded) > 1 else [],
            "batches": f"{i.batches:,}",
            "duration": human_duration(i.duration),
        }
        for i in items
    ]


PREVIEW_PERMISSION = "django_pg_retention.preview_retentionrun"


def outside_transactions(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A view that calls run_cleanup (which commits per batch, so refuses a transaction block): never
    wrapped in a transaction by ATOMIC_REQUESTS, on any database."""
    for alias in connections:
        view = transaction.non_atomic_requests(using=alias)(view)
    return view


class RunRequestForm(forms.Form):
    model = forms.ChoiceField(required=False, help_text="leave empty for every model")
    days = forms.IntegerField(
        required=False, min_value=1, max_value=config.MAX_DAYS, help_text="override the retention period"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "every model")] + [(model_path(m), model_path(m)) for m in policy_models()]
        self.fields["model"].choices = choices  # type: ignore[attr-defined]


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "started", "state", "by", "deleted", "took")
    list_filter = ("status", "triggered_by", "dry_run", "started_at")
    date_hierarchy = "started_at"
    search_fields = ("model_filter", "error", "requested_by")
    fieldsets = (
        (None, {"fields": ("state", "needs_attention", "mode", "started_at", "finished_at", "triggered_by")}),
        (None, {"fields": ("requested_by", "model_filter", "days_override", "deleted", "error")}),
        (
            "Proof (audit chain)",
            {
                "classes": ("collapse",),
                "fields": ("item_digests", "backend_pid", "chain_position", "prev_hash", "hash"),
            },
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
        "deleted",
        "error",
        "item_digests",
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
    def state(self, obj: RetentionRun) -> SafeString:
        attention = bool(self._attention(obj))
        text = label(obj.status) + (", needs attention" if attention else "")
        kind = (
            "error"
            if obj.status == RunStatus.FAILED
            else "warning"
            if attention
            else "success"
            if obj.status == RunStatus.SUCCEEDED
            else ""
        )
        mode = format_html('<div class="retention-note">{}</div>', "dry run: nothing deleted") if obj.dry_run else ""
        return format_html('<span class="retention-badge {}">{}</span>{}', kind, text, mode)

    @admin.display(description="digests of the deleted keys")
    def item_digests(self, obj: RetentionRun) -> SafeString:
        items: Any = getattr(obj, "items")  # noqa: B009 (the reverse accessor, prefetched)
        rows = [
            (i.model_path, table, f"{d.get('count', 0):,}", d.get("sha256", ""))
            for i in items.all()
            for table, d in sorted(i.digests.items())
        ]
        if not rows:
            return format_html("{}", "-")
        return format_html(
            '<table class="retention-table"><thead><tr><th>model</th><th>table</th><th class="num">keys</th>'
            "<th>SHA-256 of the sorted keys</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                '<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="retention-digest">{}</td></tr>',
                rows,
            ),
        )

    def change_form_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        if obj is None:
            return {"item_rows": []}
        items = RetentionRunItem.objects.filter(run=obj).order_by("id")
        return {"item_rows": item_rows(items, request.user.has_perm(HOLD_VIEW_PERMISSION))}

    @admin.display(description="needs attention")
    def needs_attention(self, obj: RetentionRun) -> str:
        return "; ".join(self._attention(obj)) or "-"

    @admin.display(description="mode", ordering="dry_run")
    def mode(self, obj: RetentionRun) -> str:
        return "dry run (nothing deleted)" if obj.dry_run else "real run"

    started = time_column("started_at", "started")

    @admin.display(description="by", ordering="triggered_by")
    def by(self, obj: RetentionRun) -> str:
        return f"{obj.triggered_by} ({obj.requested_by})" if obj.requested_by else obj.triggered_by

    @admin.display(description="duration")
    def took(self, obj: RetentionRun) -> str:
        return "-" if obj.finished_at is None else human_duration(obj.finished_at - obj.started_at)

    @admin.display(description="deleted", ordering="rows_deleted")
    def deleted(self, obj: RetentionRun) -> str:
        return f"{obj.rows_deleted:,}"

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("report/", wrap(self.report_view), name="django_pg_retention_report"),
            path("preview/", outside_transactions(wrap(self.preview_view)), name="django_pg_retention_preview"),
            path("request/", outside_transactions(wrap(self.request_view)), name="django_pg_retention_request"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta}

    def report_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        since = timezone.now().date() - timedelta(days=89)
        daily = list(RetentionDaily.objects.filter(day__gte=since))
        notes = {p.model_path: policy_note(p) for p in RetentionPolicy.objects.filter(is_active=True)}
        context = {
            **self._context(request, "Retention report"),
            "rows": [
                {
                    "report": r,
                    "model": breakable_path(r.model_path),
                    "days": f"{r.retention_days:,}",
                    "source": notes.get(r.model_path, label(r.policy_source)),
                    "soft_deleted": f"{r.soft_deleted:,}",
                    "purgeable": f"{r.purgeable:,}",
                    "blocked": f"{r.blocked_now:,}",
                    "last_deleted": "-" if r.last_deleted is None else f"{r.last_deleted:,}",
                    "last_status": label(r.last_run_status or "-"),
                }
                for r in RetentionReport.objects.all()
            ],
            "chart": daily_chart_svg(daily, since, timezone.now().date()),
            "total_deleted": f"{sum(d.rows_deleted for d in daily):,}",
        }
        return TemplateResponse(request, "admin/django_pg_retention/report.html", context)

    @staticmethod
    def _preview(request: HttpRequest, form: RunRequestForm) -> tuple[RetentionRun, list[RetentionRunItem]]:
        """A dry run of what the form asks for, computed by the procedure now."""
        run = call_run_cleanup(
            dry_run=True,
            model=form.cleaned_data["model"] or None,
            days=form.cleaned_data["days"],
            triggered_by="admin-preview",
            requested_by=request.user.get_username(),
        )
        return run, list(RetentionRunItem.objects.filter(run=run).order_by("id"))

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """What a run would do now, computed by the procedure with dry_run."""
        if not request.user.has_perm(PREVIEW_PERMISSION):
            raise PermissionDenied
        form = RunRequestForm(request.POST or None)
        run, items = self._preview(request, form) if request.method == "POST" and form.is_valid() else (None, [])
        context = {
            **self._context(request, "Preview a retention run"),
            "form": form,
            "run": run,
            "item_rows": item_rows(items, request.user.has_perm(HOLD_VIEW_PERMISSION)),
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
            preview, items = self._preview(request, form)
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
        try:
            with transaction.atomic(using=router.db_for_write(RetentionRequest)):
                queued = RetentionRequest.objects.create(
                    requested_by=request.user.get_username(), model_path=model, days=form.cleaned_data["days"]
                )
        except DatabaseError as exc:  # the database's own refusal (a days shorter than a policy, ...)
            messages.error(request, f"Not queued: {str(exc).splitlines()[0]}")
            return HttpResponseRedirect(reverse("admin:django_pg_retention_preview"))
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


# The retention_report rows of the policy changelist being rendered (per request, per thread).
_POLICY_REPORT: ContextVar[dict[str, RetentionReport] | None] = ContextVar("retention_policy_report", default=None)


def policy_note(policy: RetentionPolicy) -> str:
    """Where a policy's days come from, or for a timestamp policy the field that starts its clock."""
    if policy.kind == "timestamp":
        return f"timestamp {policy.deleted_at_column}"
    return label(policy.policy_source)


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ReadOnlyAdmin):
    list_display = ("policy_model", "days", "soft_deleted", "purgeable", "blocked", "next_eligible_at", "last_run")
    list_display_links = ("policy_model",)
    fields = (
        "model_path",
        "db_table",
        "retention_days",
        "policy_source",
        "kind",
        "deleted_at_column",
        "is_active",
        "position",
        "updated_at",
        "history",
    )
    readonly_fields = fields

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, str] | None = None) -> TemplateResponse:
        """The list, with a warning for each way the database's policies differ from the settings
        (pg_retention.W006), and the report's figures computed once for this request: the other
        pages of this admin do not show them, so they do not compute them."""
        using = router.db_for_read(RetentionPolicy)
        for problem in policy_drift(using):
            messages.warning(request, f"The policy in database {using!r} differs from the settings: {problem}.")
        token = _POLICY_REPORT.set({r.model_path: r for r in RetentionReport.objects.using(using).all()})
        try:
            response = super().changelist_view(request, extra_context)
            response.render()  # the columns read the report while the page renders
        finally:
            _POLICY_REPORT.reset(token)
        return response

    def _figure(self, obj: RetentionPolicy, name: str) -> Any:
        row = (_POLICY_REPORT.get() or {}).get(obj.model_path)
        return getattr(row, name) if row is not None else None

    @admin.display(description="model", ordering="model_path")
    def policy_model(self, obj: RetentionPolicy) -> SafeString:
        inactive = format_html('<div class="retention-note">{}</div>', "inactive (no longer in the settings)")
        return format_html("{}{}", breakable_path(obj.model_path), "" if obj.is_active else inactive)

    @admin.display(description="days", ordering="retention_days")
    def days(self, obj: RetentionPolicy) -> SafeString:
        return format_html('{}<div class="retention-note">{}</div>', f"{obj.retention_days:,}", policy_note(obj))

    @staticmethod
    def report_column(name: str, description: str) -> Any:
        """A column with a figure of the policy's retention_report row: counts with separators, times short."""

        @admin.display(description=description)
        def column(model_admin: RetentionPolicyAdmin, obj: RetentionPolicy) -> str:
            figure = model_admin._figure(obj, name)
            return f"{figure:,}" if isinstance(figure, int) else short_time(figure)

        return column

    soft_deleted = report_column("soft_deleted", "soft-deleted / timestamped")
    purgeable = report_column("purgeable", "purgeable now")
    blocked = report_column("blocked_now", "blocked (last run)")
    next_eligible_at = report_column("next_eligible_at", "next eligible")

    @admin.display(description="last run")
    def last_run(self, obj: RetentionPolicy) -> Any:
        run_id = self._figure(obj, "last_run_id")
        if run_id is None:
            return "-"
        url = reverse("admin:django_pg_retention_retentionrun_change", args=[run_id])
        return format_html(
            '<a href="{}">run {}</a> ({}, {} deleted)',
            url,
            run_id,
            label(self._figure(obj, "last_run_status") or ""),
            f"{self._figure(obj, 'last_deleted') or 0:,}",
        )

    @admin.display(description="change history")
    def history(self, obj: RetentionPolicy) -> SafeString:
        changes = RetentionPolicyHistory.objects.filter(model_path=obj.model_path)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    c.changed_at.strftime("%Y-%m-%d %H:%M"),
                    f"{c.change} ({c.detail})" if c.change == "updated" and c.detail else c.change,
                    f"{c.old_days or '-'} → {c.new_days or '-'}",
                    f"{c.old_source or '-'} → {c.new_source or '-'}",
                    c.changed_by or "-",
                )
                for c in changes
            ),
        )
        return format_html(
            "<table><tr><th>when</th><th>change</th><th>days</th><th>source</th><th>by (database role)</th></tr>{}"
            "</table>",
            rows,
        )


class RetentionHoldForm(forms.ModelForm):  # type: ignore[type-arg]
    # A select of the holdable models, validated by clean_model_path (which says why another is refused).
    model_path = forms.CharField(
        label="model", help_text="a model that a purge deletes rows of: a policy's model or one its cascades reach"
    )

    class Meta:
        model = RetentionHold
        fields = ("model_path", "object_pk", "reason", "until")
        labels = {"object_pk": "object (primary key)", "until": "held until"}
        help_texts = {
            "object_pk": "leave empty to hold every row of the model",
            "until": "leave empty to hold until released",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "model_path" in self.fields:  # not on a saved hold's (read-only) page
            choices = [("", "---------")] + [(path, path) for path in sorted(holdable_models())]
            self.fields["model_path"].widget = forms.Select(choices=choices)

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

    # Who places the hold (the admin's get_form sets it) and the hold placed by a valid form.
    placed_by = ""
    placed: RetentionHold | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["object_pk"] = str(cleaned.get("object_pk") or "").strip()
        return cleaned

    def _post_clean(self) -> None:
        """Once everything else is valid, place the hold (place_hold, on the database that holds the
        model's rows): a form is valid when its hold is in force, so a row that is gone, even one
        purged while the form was checked, is an error on the form, never a success."""
        super()._post_clean()  # type: ignore[misc]
        if self.errors or self.instance.pk is not None:
            return
        cleaned = self.cleaned_data
        model, pk = get_model(cleaned["model_path"]), cleaned["object_pk"]
        try:
            held: Model | type[Model] = model(pk=canonical_key(model, pk)) if pk else model
            self.placed = place_hold(held, cleaned["reason"], cleaned.get("until"), by=self.placed_by)
        except HoldError as exc:
            self.add_error("object_pk" if pk else None, str(exc))
        except ValueError as exc:  # a reason of blanks
            self.add_error("reason", str(exc))


class PlaceHoldForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="why these rows must be kept")
    until = forms.DateTimeField(required=False, label="held until", help_text="leave empty to hold until released")


def holdable_models() -> set[str]:
    """Every model a purge deletes rows of: the policies' models and what their cascades reach."""
    paths: set[str] = set()
    for model in policy_models():
        try:
            graph = build(model)
        except UncompilableRelation:  # pg_retention.E008 names it; the admin still starts
            continue
        paths.update(model_path(node.model) for node in graph.nodes)
    return paths


HOLD_PERMISSION = "django_pg_retention.add_retentionhold"


@admin.action(description="Place a legal hold on the selected rows")
def place_legal_hold(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
    """Added to the admin of every model a purge deletes rows of (attach_hold_actions): asks for the
    reason, then holds each selected row against every purge."""
    if not request.user.has_perm(HOLD_PERMISSION):
        messages.error(request, "You may not place legal holds (permission “Can add retention hold”).")
        return None
    form = PlaceHoldForm(request.POST if request.POST.get("post") == "yes" else None)
    if form.is_valid():
        try:
            held = place_holds(
                queryset, form.cleaned_data["reason"], form.cleaned_data["until"], by=request.user.get_username()
            )
        except HoldError as exc:  # a row purged since the page was shown, or locked too long
            messages.error(request, f"No legal hold was placed: {exc}")
            return None
        messages.success(request, f"{len(held):,} row(s) held: no purge deletes them until released.")
        return None
    opts = queryset.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Place a legal hold",
        "opts": opts,
        "form": form,
        "shown": queryset[:20],
        "count": queryset.count(),
        # "Select all" of a filtered list: posted back as such (the filters are in the URL), not as one
        # field per row, which beyond DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) the request refuses.
        "select_across": request.POST.get("select_across") == "1",
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/django_pg_retention/place_hold.html", context)


def attach_hold_actions() -> None:
    """Offer place_legal_hold on the changelist of every registered model a purge deletes rows of."""
    holdable = holdable_models()
    for site in list(all_sites):
        for model, model_admin in site._registry.items():  # pyright: ignore[reportPrivateUsage]
            if model is RetentionHold or model_path(model._meta.concrete_model) not in holdable:  # type: ignore[arg-type]
                continue
            actions = list(model_admin.actions or [])
            if place_legal_hold not in actions:
                model_admin.actions = [*actions, place_legal_hold]


@admin.register(RetentionHold)
class RetentionHoldAdmin(ChangeFormContext):
    """Holds are placed and released by users with the model's permissions; never edited or deleted."""

    form = RetentionHoldForm
    Media = RetentionMedia
    list_display = ("id", "model_path", "object_pk", "reason", "placed", "held_until", "state")
    list_filter = ("model_path",)
    search_fields = ("model_path", "object_pk", "reason")
    actions = ["release"]

    @admin.display(description="placed", ordering="created_at")
    def placed(self, obj: RetentionHold) -> str:
        return f"{short_time(obj.created_at)} by {obj.created_by or '-'}"

    @admin.display(description="held until", ordering="until")
    def held_until(self, obj: RetentionHold) -> str:
        return "until released" if obj.until is None else short_time(obj.until)

    @admin.display(description="state")
    def state(self, obj: RetentionHold) -> str:
        if obj.released_at is not None:
            return f"released by {obj.released_by} on {obj.released_at:%Y-%m-%d}"
        if not obj.is_active:
            return "lapsed"
        return "in force"

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None:
            return ()
        return ("model_path", "object_pk", "reason", "until", "created_by", "created_at", "released_at", "released_by")

    def get_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return self.get_readonly_fields(request, obj) or ("model_path", "object_pk", "reason", "until")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Existing holds are evidence: released (the action, the Release page), never edited.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, str] | None = None) -> TemplateResponse:
        return super().changelist_view(request, {"title": "Legal holds", **(extra_context or {})})

    def change_form_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        # A hold cannot be edited once saved: no "Save and continue editing" or "Save and add another".
        extra: dict[str, Any] = {"show_save_and_continue": False, "show_save_and_add_another": False}
        if obj is not None:
            extra["title"] = f"Legal hold {obj.pk}"
            extra["can_release"] = obj.released_at is None and super().has_change_permission(request)
        return extra

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"placed_by": request.user.get_username()})

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        # The form placed the hold while it was validated (RetentionHoldForm._post_clean).
        return form.placed if form.placed is not None else super().save_form(request, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # a hold has no relations or inlines

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if obj.pk is None:  # placed by the form, in the database that holds the model's rows
            raise RuntimeError("a legal hold is placed by its form (place_hold), never saved directly")

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        shown = router.db_for_read(RetentionHold)
        if obj._state.db != shown:  # held where the model's rows are: not in this admin's list
            messages.success(
                request,
                f"Legal hold {obj.pk} on {obj.model_path} {obj.object_pk or '(every row)'} placed in database "
                f"{obj._state.db!r}, where the model's rows and their purge are.",
            )
            return HttpResponseRedirect(reverse("admin:django_pg_retention_retentionhold_changelist"))
        return super().response_add(request, obj, post_url_continue)

    def get_urls(self) -> list[URLPattern]:
        release = self.admin_site.admin_view(self.release_view)
        return [path("<int:hold_id>/release/", release, name="django_pg_retention_release_hold"), *super().get_urls()]

    def release_view(self, request: HttpRequest, hold_id: int) -> HttpResponse:
        """Release one hold, after a confirmation page (like Django's delete)."""
        if not super().has_change_permission(request):
            raise PermissionDenied
        hold = RetentionHold.objects.filter(pk=hold_id).first()
        if hold is None:
            raise Http404(f"no legal hold {hold_id}")
        change_url = reverse("admin:django_pg_retention_retentionhold_change", args=[hold.pk])
        if hold.released_at is not None:
            messages.info(request, f"Legal hold {hold.pk} was already released by {hold.released_by}.")
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            release_holds(RetentionHold.objects.filter(pk=hold.pk), by=request.user.get_username())
            messages.success(request, f"Legal hold {hold.pk} released: the next run may purge what it kept.")
            return HttpResponseRedirect(change_url)
        context = {**self.admin_site.each_context(request), "title": "Release this legal hold?", "hold": hold}
        context["opts"] = self.model._meta
        return TemplateResponse(request, "admin/django_pg_retention/release_hold.html", context)

    @admin.action(description="Release the selected holds", permissions=["change"])
    def release(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = release_holds(queryset, by=request.user.get_username())
        messages.success(request, f"{count} hold(s) released.")


@admin.register(RetentionRequest)
class RetentionRequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "requested", "requested_by", "model_path", "days", "status", "run", "finished")

    requested = time_column("requested_at", "requested")
    finished = time_column("finished_at", "finished")

    list_filter = ("status",)


class AlertKindFilter(admin.SimpleListFilter):
    """The kinds that occur, in words ("needs confirmation", not needs_confirmation)."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        kinds = RetentionAlert.objects.order_by("kind").values_list("kind", flat=True).distinct()
        return [(kind, label(kind)) for kind in kinds]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(kind=self.value()) if self.value() else queryset


@admin.register(RetentionAlert)
class RetentionAlertAdmin(ReadOnlyAdmin):
    list_display = ("id", "created", "what", "run", "message", "sent")

    created = time_column("created_at", "created")
    sent = time_column("sent_at", "mailed")

    @admin.display(description="kind", ordering="kind")
    def what(self, obj: RetentionAlert) -> str:
        return label(obj.kind)

    list_filter = (AlertKindFilter,)
