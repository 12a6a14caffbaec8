"""Pages of the person registry: search, the one file, forms, import."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from liangyi.core import access, audit, glass, idnumber, reauth
from liangyi.core.errors import ConflictError, DomainError
from liangyi.core.models import AccessGrant, AuditEntry, GlassCategory, Level, Outcome, Role
from liangyi.people import sealing, sections, selectors, services
from liangyi.people.forms import FamilyMemberForm, PersonForm, PlanForm
from liangyi.people.models import Person, Plan, SealedBasis, Status, mask_address


@login_required
def person_list(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "view_persons")
    q = request.GET.get("q", "")
    status = request.GET.get("status", "")
    persons = selectors.persons_search(user=request.user, q=q, status=status,
                                       jurisdiction=request.GET.get("jurisdiction", ""))
    persons = persons.select_related("jurisdiction__parent")  # a village's township, in the same query
    page = Paginator(persons, 50).get_page(request.GET.get("page"))
    template = "people/_list_rows.html" if request.htmx else "people/list.html"
    response = render(request, template, {"page": page, "q": q, "status": status, "statuses": Status.choices})
    patch_vary_headers(response, ["HX-Request"])
    return response


def _file_context(request: HttpRequest, person: Person, grant: AccessGrant | None = None) -> dict[str, Any]:
    """What every page about one person shows at the top: whose file it is, and what the user may do.

    Under a break-the-glass ``grant`` every ``may`` is false (``can`` needs the person in reach):
    the file opens read only, with the field groups of the user's role and no more."""
    user = request.user
    sees = {group: access.sees(user, group) for group in access.field_groups()}
    may_edit = access.can(user, "edit", person)
    place = person.jurisdiction
    township, village = (place.parent, place) if place.level == Level.VILLAGE and place.parent_id else (place, None)
    twin_id = person.possible_duplicate_of_id
    masked = {}
    if sees["identity"]:
        masked.update(id_number=person.id_number_masked, birth_date=person.masked_birth_date)
    if sees["contact"]:
        masked.update(phone=person.masked_phone, household_address=mask_address(person.household_address),
                      residence_address=mask_address(person.residence_address))
    return {
        "person": person,
        "sees": sees,
        "may": {
            "edit": may_edit,
            "reveal": access.can(user, "reveal", person),
            "add_family": may_edit and sees["contact"],
        },
        "masked": masked,
        "township": township,
        "village": village,
        # The twin is linked only when it is in the user's reach; otherwise its file would 404.
        "twin_visible": bool(twin_id) and access.visible(user, Person).filter(pk=twin_id).exists(),
        "glass": grant,
        # Only a role that may open sealed records learns that there are any.
        "sealed_count": sealing.sealed_count(person) if access.has_action(user, "open_sealed") else 0,
    }


def _audit_read(request: HttpRequest, person: Person, grant: AccessGrant | None, **detail: Any) -> None:
    """A read of the file: as usual, and flagged with the grant when opened by break-the-glass."""
    if grant is None:
        audit.viewed(request, person, **detail)
    else:
        audit.record(request.user, "person.viewed", person, request=request, glass_grant=str(grant.pk), **detail)


def _section_context(request: HttpRequest, person: Person) -> dict[str, Any]:
    """The default context of a file section (querysets stay lazy: a tab runs only what it shows)."""
    plans = list(Plan.objects.filter(person=person).select_related("author"))
    return {
        "measures": person.measures.all(),
        "family": person.family.all(),
        "plan": plans[0] if plans else None,
        "older_plans": plans[1:],
        "timeline": selectors.timeline_for(user=request.user, person=person)[:200],
    }


@login_required
@require_GET
def person_detail(request: HttpRequest, person_id: UUID) -> HttpResponse:
    """The one file: a header saying whose file it is, and the tabs the user may see."""
    person, grant = access.read_or_404(request, Person, pk=person_id)
    tabs = sections.for_user(request.user)
    key = request.GET.get("tab") or "overview"
    section = next((s for s in tabs if s.key == key), None)
    if section is None:
        raise Http404
    _audit_read(request, person, grant, section=section.key)
    context = {**_file_context(request, person, grant), "tabs": tabs, "section": section}
    context.update(section.context(request, person) if section.context else _section_context(request, person))
    # A tab clicked in the page swaps the file's body; a history restore needs the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, "people/detail.html#file-body" if partial else "people/detail.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_POST
@reauth.required
def person_reveal(request: HttpRequest, person_id: UUID, field: str) -> HttpResponse:
    """The full value of one masked field, as a fragment replacing the masked one (audited)."""
    person = access.get_or_404(request, Person, pk=person_id)
    try:
        value = services.reveal(actor=request.user, person=person, field=field, request=request)
    except DomainError as exc:
        return render(request, "people/_reveal.html", {"field": field, "refused": str(exc)}, status=403)
    return render(request, "people/_reveal.html", {"field": field, "value": value, "revealed": True})


def _form_page(request: HttpRequest, form: Any, *, title: str, submit: str, person: Person | None = None,
               cancel: str = "") -> HttpResponse:
    context = {"form": form, "title": title, "submit": submit, "cancel": cancel}
    if person is not None:
        context.update(_file_context(request, person))
    return render(request, "people/form.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def person_create(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "create")
    form = PersonForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            person = services.person_create(actor=request.user, data=form.service_data(), request=request)
        except DomainError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("%(name)s is registered.") % {"name": person.name})
            if person.possible_duplicate_of_id:
                messages.warning(request, _("A person with the same name and birth date is already registered. "
                                            "Check whether both records are the same person."))
            return redirect("people:detail", person.pk)
    return _form_page(request, form, title=_("Register a person"), submit=_("Register"),
                      cancel=reverse("people:list"))


@login_required
@require_http_methods(["GET", "POST"])
def person_edit(request: HttpRequest, person_id: UUID) -> HttpResponse:
    person = access.get_or_404(request, Person, pk=person_id)
    access.require(request, request.user, "edit", person)
    detail = reverse("people:detail", args=[person.pk])
    if request.method == "GET":
        audit.viewed(request, person, section="edit")  # the form shows the record
        form = PersonForm(user=request.user, person=person)
    else:
        form = PersonForm(request.POST, user=request.user, person=person)
        if form.is_valid():
            try:
                changed = services.person_update(actor=request.user, person=person, data=form.service_data(),
                                                 request=request, expected_version=form.cleaned_data["version"])
            except ConflictError as exc:
                # Keep what was typed, but against the current version, so saving again works.
                person = Person.objects.get(pk=person.pk)
                data = request.POST.copy()
                data["version"] = str(person.version)
                form = PersonForm(data, user=request.user, person=person)
                form.is_valid()
                form.add_service_errors(exc)
            except DomainError as exc:
                form.add_service_errors(exc)
            else:
                if changed:
                    messages.success(request, _("Saved the changes to %(name)s's file.") % {"name": person.name})
                else:
                    messages.info(request, _("Nothing was changed."))
                return redirect(detail)
    return _form_page(request, form, title=_("Edit the file"), submit=_("Save"), person=person, cancel=detail)


def _require_group(request: HttpRequest, group: str, person: Person) -> None:
    if not access.sees(request.user, group):
        audit.record(request.user, "access.denied", person, request=request, outcome=Outcome.DENIED, group=group)
        raise PermissionDenied


@login_required
@require_http_methods(["GET", "POST"])
def family_add(request: HttpRequest, person_id: UUID) -> HttpResponse:
    person = access.get_or_404(request, Person, pk=person_id)
    access.require(request, request.user, "edit", person)
    _require_group(request, "contact", person)
    if request.method == "GET":
        audit.viewed(request, person, section="family_add")  # the form page shows whose file it is
    form = FamilyMemberForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.family_member_add(actor=request.user, person=person, request=request, **form.cleaned_data)
        except DomainError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Contact added."))
            return redirect(reverse("people:detail", args=[person.pk]) + "?tab=family")
    return _form_page(request, form, title=_("Add a family member or contact"), submit=_("Add"), person=person,
                      cancel=reverse("people:detail", args=[person.pk]) + "?tab=family")


@login_required
@require_http_methods(["GET", "POST"])
def plan_add(request: HttpRequest, person_id: UUID) -> HttpResponse:
    person = access.get_or_404(request, Person, pk=person_id)
    access.require(request, request.user, "edit", person)
    current = Plan.objects.filter(person=person).first()
    initial = {"summary": current.summary} if current else {}
    if request.method == "GET":
        audit.viewed(request, person, section="plan_add")  # shows whose file it is, and the current plan
    form = PlanForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.plan_set(actor=request.user, person=person, request=request, **form.cleaned_data)
        except DomainError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("The new plan is saved; the previous one is kept in the history."))
            return redirect(reverse("people:detail", args=[person.pk]) + "?tab=plan")
    return _form_page(request, form, title=_("Set a new individual plan"), submit=_("Save the plan"),
                      person=person, cancel=reverse("people:detail", args=[person.pk]) + "?tab=plan")


# --- break-the-glass ---------------------------------------------------------------------------


class GlassForm(forms.Form):
    id_number = forms.CharField(label=gettext_lazy("ID number of the person"), max_length=40, help_text=gettext_lazy(
        "The whole number, exactly: the file is found only by an exact match."))
    category = forms.ChoiceField(label=gettext_lazy("Why"), choices=[("", "—"), *GlassCategory.choices])
    reason = forms.CharField(label=gettext_lazy("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=gettext_lazy("Who asked, for what, and the case or event it concerns. "
                                                    "The auditor reads it."))

    def clean_id_number(self) -> str:
        try:
            return idnumber.parse(self.cleaned_data["id_number"]).number
        except idnumber.IdNumberError as exc:
            raise forms.ValidationError(str(exc)) from None


def _mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def _masked_number(number: str) -> str:
    return number[:6] + "*" * 8 + number[-4:] if len(number) == 18 else "*" * len(number)


@login_required
@require_http_methods(["GET", "POST"])
def glass_open(request: HttpRequest) -> HttpResponse:
    """Open the file of one person outside the user's jurisdiction, stating why (audited)."""
    user = request.user
    access.require(request, user, "break_glass")
    form = GlassForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        person = Person.objects.filter(id_number_hash=services.id_hash(data["id_number"])).first()
        if person is None:
            # Said plainly: the user stated an audited reason (docs/security.md).
            glass.no_match(user=user, masked_number=_masked_number(data["id_number"]), category=data["category"],
                           reason=data["reason"], request=request)
            form.add_error("id_number", _("No person with this ID number is registered. Check the number; "
                                          "the attempt is recorded in the audit log."))
        elif access.visible(user, Person).filter(pk=person.pk).exists():
            messages.info(request, _("This person is in your jurisdiction: the file opens as usual, no reason "
                                     "needed."))
            return redirect("people:detail", person.pk)
        else:
            try:
                grant = glass.grant_open(user=user, person=person, category=data["category"],
                                         reason=data["reason"], request=request)
            except DomainError as exc:
                exc.add_to(form)
            else:
                # The banner on the file says until when, and why.
                return redirect("people:detail", grant.person_id)
    mine = list(AccessGrant.objects.active().filter(user=user).order_by("-ends_at"))
    names = {p.pk: p for p in Person.objects.filter(pk__in=[g.person_id for g in mine])}
    for g in mine:
        g.person = names.get(g.person_id)  # type: ignore[attr-defined]
    return render(request, "people/glass.html", {
        "form": form, "mine": mine, "hours": glass.hours(), "min_chars": glass.reason_min_chars(),
    }, status=400 if form.errors else 200)


@login_required
@require_GET
def glass_grants(request: HttpRequest) -> HttpResponse:
    """Every break-the-glass grant in the user's subtree, for the auditor and the security administrator."""
    user = request.user
    if not (access.has_action(user, "view_audit") or access.has_action(user, "manage_security")):
        access.require(request, user, "view_audit")  # audits the refusal and answers 403
    state = request.GET.get("state", "")
    grants = selectors.glass_grants(user=user)
    if state == "active":
        grants = grants.active()
    page_number = request.GET.get("page") or "1"
    audit.record(user, "glass.grants_listed", None, request=request, state=state, page=page_number)
    page = Paginator(grants, 50).get_page(page_number)
    rows = list(page.object_list)
    persons = {p.pk: p for p in Person.objects.filter(pk__in=[g.person_id for g in rows])
               .select_related("jurisdiction")}
    ids = [str(g.pk) for g in rows]
    reads: dict[str, int] = {}
    for grant_id in AuditEntry.objects.filter(action="person.viewed", detail__glass_grant__in=ids).values_list(
            "detail__glass_grant", flat=True):
        reads[grant_id] = reads.get(grant_id, 0) + 1
    now = timezone.now()
    roles = dict(Role.choices)
    for g in rows:
        p = persons.get(g.person_id)
        g.person_masked = (f"{_mask_name(p.name)} {p.id_number_masked}" if p else "—")  # type: ignore[attr-defined]
        g.person_place = p.jurisdiction.name if p else ""  # type: ignore[attr-defined]
        g.reads = reads.get(str(g.pk), 0)  # type: ignore[attr-defined]
        g.active_now = g.is_active(now)  # type: ignore[attr-defined]
        g.role_label = roles.get(g.user.role, g.user.role)  # type: ignore[attr-defined]
    return render(request, "people/glass_grants.html", {
        "page": page, "rows": rows, "state": state, "may_revoke": access.has_action(user, "manage_security"),
    })


@login_required
@require_POST
def glass_revoke(request: HttpRequest, grant_id: UUID) -> HttpResponse:
    user = request.user
    access.require(request, user, "manage_security")
    grant = selectors.glass_grants(user=user).filter(pk=grant_id).first()
    if grant is None:
        raise Http404
    try:
        glass.grant_revoke(actor=user, grant=grant, request=request)
    except DomainError as exc:
        messages.info(request, str(exc))
    else:
        messages.success(request, _("The grant is revoked: the file is closed to %(name)s from now on.")
                         % {"name": grant.user.display_name})
    return redirect("people:glass_grants")


# --- sealed records ----------------------------------------------------------------------------


class SealedOpenForm(forms.Form):
    basis = forms.ChoiceField(label=gettext_lazy("Legal basis"), choices=[("", "—"), *SealedBasis.choices])
    reference = forms.CharField(label=gettext_lazy("Case or reference number"), max_length=100, help_text=gettext_lazy(
        "The case number (案件编号) or the reference of the query under national regulations."))
    note = forms.CharField(label=gettext_lazy("Note"), max_length=300, required=False)


@login_required
@require_http_methods(["GET", "POST"])
def sealed_records(request: HttpRequest, person_id: UUID) -> HttpResponse:
    """A person's sealed records: opened on a stated legal basis for a short time, each view audited."""
    person, grant = access.read_or_404(request, Person, pk=person_id)
    user = request.user
    access.require(request, user, "open_sealed", None)
    form = SealedOpenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            sealing.sealed_open(user=user, person=person, request=request, **form.cleaned_data)
        except DomainError as exc:
            exc.add_to(form)
        else:
            return redirect("people:sealed", person.pk)
    opening = sealing.opening_for(user, person)
    context = {**_file_context(request, person, grant), "form": form, "opening": opening}
    if opening is not None:
        audit.record(user, "sealed.viewed", opening, request=request, person_id=person.pk,
                     **({"glass_grant": str(grant.pk)} if grant else {}))
        context.update(sealed_measures=list(sealing.sealed_measures(person)),
                       sealed_events=list(sealing.sealed_events(person).filter(
                           group__in=[""] + [g for g in access.field_groups() if access.sees(user, g)])))
    else:
        _audit_read(request, person, grant, section="sealed")  # the form page shows whose file it is
    return render(request, "people/sealed.html", context, status=400 if form.errors else 200)
