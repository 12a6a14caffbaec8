"""The worklist: what each worker and office must do today, overdue, and within the week."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from liangyi.core import access, audit, exports
from liangyi.obligations import selectors
from liangyi.obligations.models import CalendarToken, Obligation


@login_required
def worklist_page(request: HttpRequest) -> HttpResponse:
    access.require(request, request.user, "view_persons")
    today = timezone.localdate()
    items = selectors.worklist(request.user, today)
    mine = request.GET.get("mine") == "1"
    if mine:
        items = items.filter(worker=request.user)
    page = Paginator(items, 100).get_page(request.GET.get("page"))
    # The worklist holds open obligations only, so "overdue" is just a due date before today (an
    # index range, where the computed state would read every listed row).
    overdue_by_office = (
        items.filter(due_on__lt=today).order_by().values("office__code", "office__name")
        .annotate(n=Count("id")).order_by("-n", "office__code")
    )
    return render(request, "obligations/worklist.html", {
        "page": page, "today": today, "mine": mine, "days": selectors.WORKLIST_DAYS,
        "overdue_by_office": overdue_by_office if request.user.role in ("leader", "admin") else None,
    })


# --- the calendar feed ---------------------------------------------------------------------

# How far the feed reaches back and ahead: a view setting, not a rule (the worklist is the record).
FEED_PAST_DAYS, FEED_AHEAD_DAYS = 30, 90


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@login_required
@require_http_methods(["GET", "POST"])
def calendar_page(request: HttpRequest) -> HttpResponse:
    """Issue (or replace) the user's secret feed URL; it is shown once, right after issuing."""
    access.require(request, request.user, "view_persons")
    url = ""
    if request.method == "POST":
        key = secrets.token_urlsafe(32)
        with transaction.atomic():
            CalendarToken.objects.update_or_create(user=request.user, defaults={"key_hash": _hash(key)})
            audit.record(request.user, "calendar_token.issued", request.user, request=request)
        url = request.build_absolute_uri(reverse("obligations:calendar_feed", args=[key]))
    has_token = CalendarToken.objects.filter(user=request.user).exists()
    return render(request, "obligations/calendar.html", {"url": url, "has_token": has_token})


def _ics_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def initials(name: str) -> str:
    """The surname alone (王某), or a Latin name's initials: all a calendar on a phone may show."""
    name = (name or "").strip()
    if not name:
        return "?"
    if name.isascii():
        return "".join(part[0].upper() for part in name.split() if part)
    return name[0] + "某"


@require_GET
def calendar_feed(request: HttpRequest, key: str) -> HttpResponse:
    """The worker's open obligations as an iCalendar feed: one all-day event per due date."""
    token = CalendarToken.objects.select_related("user").filter(key_hash=_hash(key)).first()
    if token is None or not token.user.is_active:
        raise Http404
    user = token.user
    today = timezone.localdate()
    items = (access.visible(user, Obligation).filter(worker=user, done_at=None,
                                                     due_on__gte=today - timedelta(days=FEED_PAST_DAYS),
                                                     due_on__lte=today + timedelta(days=FEED_AHEAD_DAYS))
             .select_related("person").order_by("due_on", "id"))
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    st = exports.stamp(user)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//liangyi//worklist//ZH", "CALSCALE:GREGORIAN",
             "X-WR-CALNAME:" + _ics_text(str(_("Worklist")))]
    persons = set()
    with translation.override(settings.LANGUAGE_CODE):
        lines += exports.ics_stamp_lines(st)
        for o in items:
            persons.add(o.person_id)
            lines += ["BEGIN:VEVENT", f"UID:obligation-{o.pk}@liangyi", f"DTSTAMP:{stamp}",
                      f"DTSTART;VALUE=DATE:{o.due_on:%Y%m%d}",
                      f"DTEND;VALUE=DATE:{o.due_on + timedelta(days=1):%Y%m%d}",
                      "SUMMARY:" + _ics_text(f"{initials(o.person.name)} · {o.get_kind_display()}"), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    # Each fetch by the calendar program is an export of the worker's list: audited like any other.
    return exports.deliver(request, user=user, action="calendar.exported", fmt="ics",
                           body=("\r\n".join(lines) + "\r\n").encode(), stem="worklist", st=st,
                           rows=sum(line == "BEGIN:VEVENT" for line in lines), persons=len(persons), inline=True)
