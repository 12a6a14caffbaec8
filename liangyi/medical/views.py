"""The Insurance section of the one file and its recording form."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from liangyi.core import access
from liangyi.core.errors import DomainError
from liangyi.medical import plans, selectors, services
from liangyi.medical.forms import YearForm
from liangyi.obligations.models import Obligation
from liangyi.obligations.selectors import state_of
from liangyi.people.models import Person


def _file_url(person: Person) -> str:
    return reverse("people:detail", args=[person.pk]) + "?tab=insurance"


def _initial() -> dict[str, Any]:
    today = timezone.localdate()
    return {"year": today.year + 1 if today.month >= 9 else today.year, "paid_on": today}


def section_context(request: HttpRequest, person: Person) -> dict[str, Any]:
    years = list(selectors.years_of(user=request.user, person=person))
    today = timezone.localdate()
    this_year = today.year
    current = next((y for y in years if y.year == this_year), None)
    return {
        "ins_years": years,
        "ins_current": current,
        "ins_this_year": this_year,
        "ins_renewals": [(o, state_of(o, today)) for o in
                         Obligation.objects.filter(person=person, source=plans.SOURCE).order_by("-due_on")[:10]],
        "ins_may": access.can(request.user, "edit", person),
        "ins_form": YearForm(initial=_initial()),
    }


@login_required
@require_http_methods(["GET", "POST"])
def record(request: HttpRequest, person_id: UUID) -> HttpResponse:
    """Record a year of insurance; errors keep what was typed."""
    person = access.get_or_404(request, Person, pk=person_id)
    access.require(request, request.user, "edit", person)
    form = YearForm(request.POST or None, initial=_initial())
    if request.method == "POST" and form.is_valid():
        try:
            services.year_record(person=person, actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            exc.add_to(form)
        else:
            messages.success(request, _("The insurance year is recorded."))
            return redirect(_file_url(person))
    from liangyi.people.views import _file_context

    return render(request, "supervision/form.html", {**_file_context(request, person), "form": form,
                                                     "title": _("Record a year of medical insurance"),
                                                     "cancel": _file_url(person)},
                  status=400 if request.method == "POST" else 200)
