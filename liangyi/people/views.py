"""Pages of the person registry: search, the one file, forms, import."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from liangyi.core import access, audit
from liangyi.core.errors import ConflictError, DomainError
from liangyi.core.models import Level, Outcome
from liangyi.people import sections, selectors, services
from liangyi.people.forms import FamilyMemberForm, PersonForm, PlanForm
from liangyi.people.models import Person, Plan, Status, mask_address


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


def _file_context(request: HttpRequest, person: Person) -> dict[str, Any]:
    """What every page about one person shows at the top: whose file it is, and what the user may do."""
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
    }


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
    person = access.get_or_404(request, Person, pk=person_id)
    tabs = sections.for_user(request.user)
    key = request.GET.get("tab") or "overview"
    section = next((s for s in tabs if s.key == key), None)
    if section is None:
        raise Http404
    audit.viewed(request, person, section=section.key)
    context = {**_file_context(request, person), "tabs": tabs, "section": section}
    context.update(section.context(request, person) if section.context else _section_context(request, person))
    # A tab clicked in the page swaps the file's body; a history restore needs the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    response = render(request, "people/detail.html#file-body" if partial else "people/detail.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_POST
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
