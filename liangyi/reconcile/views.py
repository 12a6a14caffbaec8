"""The comparison pages: upload a police export, follow its progress, work its findings, download it.

Who may use them is the access matrix's (``liangyi/core/access_matrix.toml``, docs/access.md):
the action ``run_reconcile`` to upload, run, view and download comparisons, ``work_findings`` to
work their findings. A run outside the user's jurisdiction is 404; a forbidden action on one in
reach is 403, audited.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from liangyi.core import access, exports, idnumber, reauth
from liangyi.core.errors import DomainError
from liangyi.people.fieldgroups import FIELD_GROUP
from liangyi.people.models import Status

from . import selectors, services
from .forms import DismissForm, LinkForm, NoteForm, UploadForm
from .matching import CATEGORIES
from .models import CATEGORY_LABELS, Finding, ReconcileRun, Resolution, RunState
from .report import HEADER

RUN = "run_reconcile"
WORK = "work_findings"
PAGE_SIZE = 100
FIELD_LABELS = {"status": _("status"), "jurisdiction": _("place of control"), "name": _("name"),
                "id_number": _("ID number")}
EXPORT_HEADER = (*HEADER, "resolution", "reason")
ACTIONS = ("accept", "keep", "link", "dismiss")


def _require(request: HttpRequest, action: str) -> None:
    """403 (audited) unless the user's role has ``action``."""
    access.require(request, request.user, action)


def may_work(user) -> bool:
    return user.is_authenticated and user.is_active and access.has_action(user, WORK)


def _full_numbers(user) -> bool:
    return access.has_action(user, "reveal")


def present(finding: Finding, user, reachable: set[str], *, full: bool = False) -> dict[str, Any]:
    """A finding as this user may see it: the person only if in reach, ID numbers masked unless ``full``."""
    person_id = str(finding.person_id) if finding.person_id else ""
    in_reach = person_id in reachable
    show_full = full and (not person_id or in_reach)
    number = finding.id_number if show_full else finding.id_number_masked
    registry_value, police_value, detail = finding.registry_value, finding.police_value, finding.detail
    if not show_full:
        if finding.field == "id_number":
            registry_value, police_value = idnumber.mask(registry_value), idnumber.mask(police_value)
        detail = services.mask_text(detail)
    return {
        "f": finding,
        "id_number": number,
        "person": finding.person if in_reach else None,
        "person_hidden": bool(person_id) and not in_reach,
        "person_id": person_id if in_reach else "",
        "registry_value": registry_value,
        "police_value": police_value,
        "detail": detail,
        "label": CATEGORY_LABELS.get(finding.category, finding.category),
        # for the page: a status code shown as its label, the field by its name (downloads keep codes)
        "field_label": FIELD_LABELS.get(finding.field, finding.field),
        "registry_label": (Status(registry_value).label if finding.field == "status"
                           and registry_value in Status.values else registry_value),
        "can_accept": finding.category in services.ACCEPTABLE and in_reach,
        "can_keep": finding.category in services.KEEPABLE and in_reach,
        "can_link": finding.category in services.LINKABLE,
        "can_dismiss": finding.category not in services.NOTHING_TO_DO,
    }


# --- upload and the list of runs -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    _require(request, RUN)
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if request.method == "POST" and form.is_valid():
        try:
            run = services.run_start(request.user, form.cleaned_data["file"], form.cleaned_data["scope"])
        except DomainError as exc:
            for field, messages in exc.errors.items():
                for message in messages:
                    form.add_error(field if field in form.fields else None, message)
        else:
            return redirect("reconcile:run", pk=run.pk)
    runs = selectors.runs(request.user)[:30]
    return render(request, "reconcile/index.html", {"form": form, "runs": runs})


# --- one run -------------------------------------------------------------------------------------


def _filters(request: HttpRequest) -> dict[str, str]:
    category = request.GET.get("category", "")
    resolution = request.GET.get("resolution", "")
    return {
        "category": category if category in CATEGORIES else "",
        "place": "".join(c for c in request.GET.get("place", "") if c.isdigit())[:12],
        "resolution": resolution if resolution in Resolution.values else "",
    }


@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, RUN)
    run = selectors.run_or_404(request.user, pk)
    services.run_expire(run=run)  # a run whose process was stopped is shown failed, to be retried
    filters = _filters(request)
    # A run not done has no findings to show (a running one stores them in batches as it goes).
    findings = selectors.findings(run, **filters) if run.state == RunState.DONE else Finding.objects.none()
    page = Paginator(findings, PAGE_SIZE).get_page(request.GET.get("page"))
    items = list(page.object_list)
    reachable = selectors.reachable_persons(request.user, [f.person_id for f in items])
    rows = [present(f, request.user, reachable) for f in items]
    counts = [(c, CATEGORY_LABELS[c], run.counts.get(c, 0)) for c in CATEGORIES] if run.counts else []
    open_count = run.findings.filter(resolution=Resolution.OPEN).exclude(
        category__in=services.NOTHING_TO_DO).count() if run.counts else 0
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    response = render(request, "reconcile/run.html", {
        "run": run, "page": page, "rows": rows, "counts": counts, "filters": filters, "query": query,
        "categories": [(c, CATEGORY_LABELS[c]) for c in CATEGORIES], "resolutions": Resolution.choices,
        "may_work": may_work(request.user), "open_count": open_count,
    })
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def run_progress(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, RUN)
    run = selectors.run_or_404(request.user, pk)
    services.run_expire(run=run)
    if not run.active and request.htmx:
        return HttpResponseClientRefresh()  # the run ended: show its result
    return render(request, "reconcile/_progress.html", {"run": run})


@login_required
@require_POST
def run_retry(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, RUN)
    run = selectors.run_or_404(request.user, pk)
    try:
        services.run_retry(run=run, actor=request.user, request=request)
    except DomainError as exc:
        for message in (m for ms in exc.errors.values() for m in ms):
            messages.error(request, message)
    return redirect("reconcile:run", pk=run.pk)


# --- working a finding ---------------------------------------------------------------------------


@login_required
@require_POST
def finding_work(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404
    _require(request, RUN)
    finding = selectors.finding_or_404(request.user, pk)
    _require(request, WORK)
    errors: list[str] = []
    user = request.user
    try:
        if action == "accept":
            finding = services.finding_accept_police(finding, user, request=request)
        elif action == "keep":
            form = NoteForm(request.POST)
            if form.is_valid():
                finding = services.finding_keep_ours(finding, user, form.cleaned_data["note"], request=request)
            else:
                errors = [m for ms in form.errors.values() for m in ms]
        elif action == "link":
            form = LinkForm(request.POST, user=user)
            if form.is_valid():
                finding = services.finding_link(finding, user, form.cleaned_data["person"], request=request)
            else:
                errors = [m for ms in form.errors.values() for m in ms]
        else:
            form = DismissForm(request.POST)
            if form.is_valid():
                finding = services.finding_dismiss(finding, user, form.cleaned_data["reason"], request=request)
            else:
                errors = [m for ms in form.errors.values() for m in ms]
    except DomainError as exc:
        errors = [m for ms in exc.errors.values() for m in ms]
    finding = selectors.finding_or_404(user, finding.pk)
    reachable = selectors.reachable_persons(user, [finding.person_id])
    context = {"row": present(finding, user, reachable), "may_work": may_work(user), "errors": errors,
               "run": finding.run}
    if request.htmx:
        return render(request, "reconcile/_finding_row.html", context, status=200)
    for message in errors:
        messages.error(request, message)
    return redirect("reconcile:run", pk=finding.run_id)


# --- downloads -----------------------------------------------------------------------------------


def _export_rows(run: ReconcileRun, user, filters: dict[str, str]):
    full = _full_numbers(user)
    qs = selectors.findings(run, **filters)
    chunk: list[Finding] = []
    for finding in qs.iterator(2000):
        chunk.append(finding)
        if len(chunk) == 2000:
            yield from _rows_of(chunk, user, full)
            chunk = []
    yield from _rows_of(chunk, user, full)


def _rows_of(chunk: list[Finding], user, full: bool):
    reachable = selectors.reachable_persons(user, [f.person_id for f in chunk])
    for finding in chunk:
        shown = present(finding, user, reachable, full=full)
        # a role without the identity group gets no ID number at all, not even masked
        group = FIELD_GROUP.get(finding.field)
        yield [finding.category, "" if finding.police_row is None else finding.police_row,
               exports.cell(user, "identity", shown["id_number"]), shown["person_id"], finding.field,
               exports.cell(user, group, shown["registry_value"]), exports.cell(user, group, shown["police_value"]),
               shown["detail"], finding.resolution, finding.reason]


@login_required
@require_GET
@reauth.required
def download(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The run's findings as the user may see them, stamped and audited (core/exports.py)."""
    if fmt not in ("csv", "xlsx"):
        raise Http404
    _require(request, RUN)
    run = selectors.run_or_404(request.user, pk)
    filters = _filters(request)
    rows = list(_export_rows(run, request.user, filters))
    st = exports.stamp(request.user)
    if fmt == "csv":
        body = exports.csv_bytes(EXPORT_HEADER, rows, st)
    else:
        body = exports.xlsx_bytes(EXPORT_HEADER, rows, st, title=f"reconcile {run.pk}", sheet_name="reconcile",
                                  text_columns=(3,), what=f"{run.file_name} ({run.pk})")
    return exports.deliver(request, user=request.user, action="reconcile.exported", obj=run, fmt=fmt, body=body,
                           stem=f"reconcile-{run.pk}", st=st, rows=len(rows),
                           persons=len({row[3] for row in rows if row[3]}), full_numbers=_full_numbers(request.user),
                           **{k: v for k, v in filters.items() if v})
