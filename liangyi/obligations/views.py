"""The worklist: what each worker and office must do today, overdue, and within the week."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from liangyi.core import access
from liangyi.obligations import selectors
from liangyi.obligations.models import State


@login_required
def worklist_page(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "view_persons")
    today = timezone.localdate()
    items = selectors.worklist(request.user, today)
    mine = request.GET.get("mine") == "1"
    if mine:
        items = items.filter(worker=request.user)
    page = Paginator(items, 100).get_page(request.GET.get("page"))
    overdue_by_office = (
        items.filter(state=State.OVERDUE).order_by().values("office__code", "office__name")
        .annotate(n=Count("id")).order_by("-n", "office__code")
    )
    return render(request, "obligations/worklist.html", {
        "page": page, "today": today, "mine": mine, "days": selectors.WORKLIST_DAYS,
        "overdue_by_office": overdue_by_office if request.user.role in ("leader", "admin") else None,
    })
