"""Pages of the person registry: search, the one file, forms, import."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from liangyi.core import access
from liangyi.people import selectors
from liangyi.people.models import Status


@login_required
def person_list(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "view_persons")
    q = request.GET.get("q", "")
    status = request.GET.get("status", "")
    persons = selectors.persons_search(user=request.user, q=q, status=status,
                                       jurisdiction=request.GET.get("jurisdiction", ""))
    page = Paginator(persons, 50).get_page(request.GET.get("page"))
    template = "people/_list_rows.html" if request.htmx else "people/list.html"
    return render(request, template, {"page": page, "q": q, "status": status, "statuses": Status.choices})
