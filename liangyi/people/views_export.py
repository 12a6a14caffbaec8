"""The person's file as a PDF to print for a meeting: what the user's role sees, stamped on every page.

Only the field groups the role sees are in the document (a group the role does not see is absent,
not blanked); the ID number, birth date, phone and addresses are masked as on the page and in
lists, with no way to reveal them here. Every page carries a diagonal watermark with the user's
name, username and the time; opening it is audited as a read of the file and as an export
(core/exports.py, docs/security.md "Exports").
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from liangyi.core import access, audit, exports, reauth
from liangyi.core.models import User
from liangyi.people import selectors
from liangyi.people.models import Person, Plan, mask_address

TIMELINE_ROWS = 30


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else (_("yes") if value else _("no"))


def _place(j) -> str:
    return f"{j.name} ({j.code})" if j else ""


def person_blocks(user: User, person: Person) -> tuple[list[exports.Block], list[str]]:
    """The blocks of the printed file for this user, and the field groups they include."""
    sees = {group: access.sees(user, group) for group in access.field_groups()}
    worker = person.responsible_worker
    blocks = [exports.Block(_("Status and place"), facts=[
        (_("Status"), person.get_status_display()),
        (_("Place of control"), _place(person.jurisdiction)),
        (_("Household registration"), _place(person.household_jurisdiction)),
        (_("Residence"), _place(person.residence_jurisdiction) or _("same as household registration")),
        (_("Responsible worker"), worker.display_name if worker else _("not assigned")),
        (_("Information verified"), f"{timezone.localtime(person.verified_at):%Y-%m-%d}" if person.verified_at
         else _("not yet")),
    ])]
    if sees["identity"]:
        blocks.append(exports.Block(_("Identity"), facts=[
            (_("ID number"), person.id_number_masked),
            (_("Gender"), person.get_gender_display()),
            (_("Birth date"), person.masked_birth_date),
            (_("Ethnicity"), person.ethnicity),
            (_("Aliases"), "、".join(person.aliases or [])),
            (_("Education"), person.get_education_display()),
            (_("Marital status"), person.get_marital_status_display()),
            (_("Employment"), person.get_employment_display()),
            (_("Has a skill or trade"), _yes_no(person.has_skill)),
        ]))
    if sees["contact"]:
        family = [f"{m.relation} {m.name} {m.masked_phone}" + (f" ({_('emergency contact')})"
                                                               if m.is_emergency_contact else "")
                  for m in person.family.all()]
        blocks.append(exports.Block(_("Contact"), facts=[
            (_("Phone"), person.masked_phone),
            (_("Household address"), mask_address(person.household_address)),
            (_("Residence address"), mask_address(person.residence_address)),
            (_("Family and contacts"), "\n".join(family)),
        ]))
    if sees["drug_history"]:
        measures = [f"{m.get_kind_display()} {m.start_on:%Y-%m-%d} – {f'{m.end_on:%Y-%m-%d}' if m.end_on else ''}"
                    f" {m.authority}".strip() for m in person.measures.all()]
        blocks.append(exports.Block(_("Drug history"), facts=[
            (_("Substances"), "、".join(person.substances or [])),
            (_("First-use year"), str(person.first_use_year or "")),
            (_("Manner of use"), person.get_manner_of_use_display()),
            (_("Measures"), "\n".join(measures)),
        ]))
    health = []
    if sees["medical"]:
        health.append((_("Health notes"), person.health_notes))
    if sees["infectious_disease"]:
        health.append((_("Infectious-disease status"), person.infectious_disease))
    if health:
        blocks.append(exports.Block(_("Health"), facts=health))
    if sees["police_notes"]:
        blocks.append(exports.Block(_("Police notes"), paragraphs=[person.police_notes or "—"]))
    plan = Plan.objects.filter(person=person).first()
    if plan:
        review = f"{plan.review_on:%Y-%m-%d}" if plan.review_on else ""
        blocks.append(exports.Block(_("Plan"), facts=[(_("Current plan"), plan.summary), (_("review on"), review)]))
    else:
        blocks.append(exports.Block(_("Plan"), paragraphs=[_("No individual plan yet.")]))
    events = list(selectors.timeline_for(user=user, person=person)[:TIMELINE_ROWS])  # filtered by field group
    blocks.append(exports.Block(_("Recently"), facts=[
        (f"{timezone.localtime(e.occurred_at):%Y-%m-%d}", e.summary) for e in events
    ], paragraphs=None if events else [_("Nothing recorded yet.")]))
    return blocks, [group for group, seen in sees.items() if seen]


@login_required
@require_GET
@reauth.required
def person_pdf(request: HttpRequest, person_id: UUID) -> HttpResponse:
    """The printable file (PDF), audited as a read of the file and as an export."""
    person = access.get_or_404(request, Person, pk=person_id)
    user = request.user
    st = exports.stamp(user)
    blocks, groups = person_blocks(user, person)
    title = _("Person file: %(name)s") % {"name": person.name}
    body = exports.pdf_bytes(st, title=title, subtitle=st.text, blocks=blocks)
    audit.viewed(request, person, section="pdf")
    return exports.deliver(request, user=user, action="person.exported", obj=person, fmt="pdf", body=body,
                           stem=f"person-{person.pk}", st=st, rows=1, persons=1, groups=groups)
