"""Access proven from the outside: every URL that takes an object id, for every role, with the
object inside and outside the user's jurisdiction (ASVS 8.2.2, 8.2.3; GB/T 22239 8.1.4.2).

The routes are discovered from the URL configuration, so a new app's routes are covered as soon
as they land: a route that takes an object id and has no builder in ``KWARGS`` below fails
``test_every_route_with_an_object_id_has_a_builder`` with the list of missing routes.

For each route, role and method:
- an object outside the user's subtree answers exactly as a missing object does (404, or 403 when
  the role may not do the action at all), never 200, never 500, and never shows the object;
- an object inside never answers 500, and shows no value of a field group the role may not see.
Every page and API list without an id (lists, searches, exports, reports) is fetched by every
role, with a search for the outside person's name, and must not contain that person.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from liangyi.core import access, glass
from liangyi.core.models import AccessGrant, Role, User
from liangyi.demo import factories

# --- the objects ----------------------------------------------------------------------------------

INSIDE_NAME = "王建国"
OUTSIDE_NAME = "外乡赵某某"
# Values of each field group of the inside person: a role without the group must never get them.
SECRETS = {
    "contact": ["13812345678", "幸福路1号"],
    "medical": ["乙肝携带"],
    "infectious_disease": ["HIV阳性"],
    "police_notes": ["曾有贩毒前科"],
}


def build(place, actor: User, name: str) -> dict[str, Any]:
    """One object of each kind in ``place``."""
    from liangyi.obligations.models import Obligation
    from liangyi.people.models import ImportRun
    from liangyi.reconcile.matching import CATEGORIES
    from liangyi.reconcile.models import Finding, ReconcileRun
    from liangyi.supervision import services as supervision
    from liangyi.supervision.models import Escalation, EscalationReason, OrderKind

    person = factories.person(
        place, name=name, phone="13812345678" if name == INSIDE_NAME else "13900000000",
        household_address="南宁街道幸福路1号" if name == INSIDE_NAME else "别处路9号",
        residence_address="南宁街道幸福路1号" if name == INSIDE_NAME else "别处路9号",
        infectious_disease="HIV阳性" if name == INSIDE_NAME else "",
        health_notes="乙肝携带" if name == INSIDE_NAME else "",
        police_notes="曾有贩毒前科" if name == INSIDE_NAME else "",
        substances=["海洛因"], first_use_year=2005,
    )
    today = timezone.localdate()
    reported = today - timedelta(days=40)
    order = supervision.order_create(person=person, kind=OrderKind.COMMUNITY_DRUG_REHAB, decided_on=reported,
                                     received_on=reported, actor=actor)
    order = supervision.report_receive(order=order, reported_on=reported, actor=actor)
    leave = supervision.leave_request(order=order, from_on=today + timedelta(days=1),
                                      to_on=today + timedelta(days=3), destination="昆明", actor=actor)
    absence = supervision.absence_record(order=order, left_on=today - timedelta(days=2), actor=actor)
    escalation = Escalation.objects.create(order=order, person=person, reason=EscalationReason.values[0],
                                           opened_on=today)
    run = ReconcileRun.objects.create(uploaded_by=actor, file_name="police.xlsx", file_sha256=uuid.uuid4().hex * 2,
                                      scope=place.code, state="done")
    finding = Finding.objects.create(run=run, category=CATEGORIES[2], person=person, id_number=person.id_number,
                                     id_number_masked=person.id_number_masked, police_value=name,
                                     jurisdiction_code=place.code, fingerprint=uuid.uuid4().hex)
    import_run = ImportRun.objects.create(actor=actor, file_name="persons.xlsx", state="done")
    # A break-the-glass grant made by a user of the place (the security administrator's revoke route).
    grant = AccessGrant.objects.create(user=actor, person_id=person.pk, category="case", reason="案件需要核查",
                                       starts_at=timezone.now(), ends_at=timezone.now() + timedelta(hours=1))
    return {"person": person, "order": order, "leave": leave, "absence": absence, "escalation": escalation,
            "obligation": Obligation.objects.filter(person=person).order_by("id").first(), "run": run,
            "finding": finding, "import_run": import_run, "grant": grant,
            **build_handover(place, person, order, actor)}


def build_handover(place, person, order, actor: User) -> dict[str, Any]:
    """A compulsory-isolation stay (of a second person of the place), its handover, an agreement."""
    from liangyi.handover import services as handover
    from liangyi.handover.models import AgreementReason, Handover
    from liangyi.people.models import Status

    officer = factories.user(f"facility_{place.code}", "facility", place)
    inmate = factories.person(place, name=person.name + "戒", status=Status.ISOLATION)
    today = timezone.localdate()
    stay = handover.stay_record(person=inmate, decision_number="曲公强戒决字〔2024〕1号",
                                decided_on=today - timedelta(days=100), authority="曲靖市公安局麒麟分局",
                                facility="曲靖市强制隔离戒毒所", admitted_on=today - timedelta(days=100), actor=officer)
    agreement = handover.agreement_prepare(order=order, actor=actor, reason=AgreementReason.INITIAL)
    return {"stay": stay, "handover": Handover.objects.get(stay=stay), "agreement": agreement}


def _pk(kind: str) -> Callable[[dict], Any]:
    return lambda objs: objs[kind].pk


# Route name -> {URL parameter: value from the objects of one place}. One obvious table: add a
# line here for each new route that takes an object id.
KWARGS: dict[str, dict[str, Callable[[dict], Any]]] = {
    **{name: {"id": _pk("person")} for name in (
        "api-person", "api-person-timeline", "api-person-obligations", "api-person-supervision",
        "api-person-decisions", "api-person-reports", "api-person-tests", "api-person-escalations",
        "api-person-suspensions", "api-person-resumption", "api-person-termination", "api-person-completion",
        "api-person-transfers", "api-person-leave", "api-person-absences", "api-person-contacts",
        "api-person-risk", "api-person-risk-override", "api-person-assessments")},
    "api-leave-approval": {"pk": _pk("leave")},
    "api-absence-return": {"pk": _pk("absence")},
    "api-escalation-decision": {"pk": _pk("escalation")},
    "people:import_run": {"run_id": _pk("import_run")},
    "people:detail": {"person_id": _pk("person")},
    "people:edit": {"person_id": _pk("person")},
    "people:reveal": {"person_id": _pk("person"), "field": lambda o: "phone"},
    "people:family_add": {"person_id": _pk("person")},
    "people:plan_add": {"person_id": _pk("person")},
    "people:sealed": {"person_id": _pk("person")},
    "people:pdf": {"person_id": _pk("person")},
    "medical:record": {"person_id": _pk("person")},
    "api-person-insurance": {"id": _pk("person")},
    "people:glass_revoke": {"grant_id": _pk("grant")},
    "reconcile:run": {"pk": _pk("run")},
    "reconcile:progress": {"pk": _pk("run")},
    "reconcile:retry": {"pk": _pk("run")},
    "reconcile:download": {"pk": _pk("run"), "fmt": lambda o: "csv"},
    "reconcile:work": {"pk": _pk("finding"), "action": lambda o: "dismiss"},
    "risk:assess": {"person_id": _pk("person"), "instrument": lambda o: "general"},
    "risk:grade": {"person_id": _pk("person")},
    "risk:override": {"person_id": _pk("person")},
    "supervision:decide": {"pk": _pk("escalation")},
    "api-person-stays": {"id": _pk("person")},
    **{name: {"pk": _pk("stay")} for name in (
        "api-stay-events", "api-stay-assessments", "api-stay-early-release", "api-stay-extension",
        "api-stay-release")},
    **{name: {"pk": _pk("handover")} for name in (
        "api-handover", "api-handover-packet", "api-handover-acknowledge", "api-handover-pickup",
        "api-handover-decision", "api-handover-report", "handover:packet", "handover:acknowledge")},
    "handover:record": {"pk": _pk("handover"), "action": lambda o: "pickup"},
    "handover:stay_new": {"person_id": _pk("person")},
    "handover:stay_record": {"pk": _pk("stay"), "action": lambda o: "release"},
    "api-agreement": {"pk": _pk("agreement")},
    "api-agreement-sign": {"pk": _pk("agreement")},
    "handover:agreement": {"pk": _pk("agreement")},
    "handover:agreement_sign": {"pk": _pk("agreement")},
    "supervision:worklist_record": {"obligation_id": _pk("obligation")},
    "supervision:record": {"person_id": _pk("person"), "action": lambda o: "test"},
    "supervision:record_pk": {"person_id": _pk("person"), "action": lambda o: "leave-approve",
                              "pk": _pk("leave")},
}
# Routes whose parameter is not an object id of a place, with the reason.
NOT_OBJECT_ROUTES = {
    "obligations:calendar_feed": "the key is a per-user secret (the credential itself), tested in obligations",
}
# Converters and parameter names that name an object.
ID_CONVERTERS = {"UUIDConverter", "IntConverter"}


def _routes(patterns=None, prefix: str = "", namespace: str = "") -> list[tuple[str, str, dict]]:
    found = []
    for p in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(p, URLResolver):
            ns = namespace + (f"{p.namespace}:" if p.namespace else "")
            found += _routes(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern) and p.name:
            found.append((namespace + p.name, prefix + str(p.pattern), getattr(p.pattern, "converters", {})))
    return found


def _takes_an_object(converters: dict) -> bool:
    return any(type(c).__name__ in ID_CONVERTERS or name in ("key", "token") or name.endswith("_id")
               for name, c in converters.items())


def object_routes() -> list[str]:
    return sorted({name for name, _route, conv in _routes() if _takes_an_object(conv)} - set(NOT_OBJECT_ROUTES))


def list_routes() -> list[str]:
    skip = {"core:logout", "core:login", "core:login_code", "core:two_factor", "healthz", "set_language"}
    return sorted({name for name, route, conv in _routes() if not conv and name not in skip
                   and not route.startswith(("static", "api/docs", "api/schema"))})


# --- the tests -------------------------------------------------------------------------------------


def test_every_route_with_an_object_id_has_a_builder():
    missing = [name for name in object_routes() if name not in KWARGS]
    assert not missing, "add a factory for these routes to KWARGS in test_outside_in.py: " + ", ".join(missing)


def test_the_table_names_no_route_that_does_not_exist():
    assert not set(KWARGS) - set(object_routes())


@pytest.fixture
def world(places, personas):
    inside = build(places["township"], personas["worker"], INSIDE_NAME)
    outside = build(places["neighbour"], personas["neighbour"], OUTSIDE_NAME)
    users = {role: factories.user(f"in_{role}", role, places["township"]) for role in Role.values}
    return {"inside": inside, "outside": outside, "users": users}


def url_for(name: str, objs: dict) -> str:
    return reverse(name, kwargs={param: make(objs) for param, make in KWARGS[name].items()})


def missing_url(name: str, objs: dict) -> str:
    """The same route with ids that exist nowhere."""
    kwargs = {}
    for param, make in KWARGS[name].items():
        value = make(objs)
        kwargs[param] = uuid.uuid4() if isinstance(value, uuid.UUID) else 987654321 if isinstance(value, int) else value
    return reverse(name, kwargs=kwargs)


def call(client: Client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    if url.startswith("/api/"):
        return client.post(url, {}, content_type="application/json")
    return client.post(url, {})


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def test_outside_answers_like_missing_and_inside_never_fails(world):
    problems: list[str] = []
    for role, user in world["users"].items():
        client = Client()
        client.force_login(user)
        unseen = [v for group, values in SECRETS.items() if not access.sees(user, group) for v in values]
        for name in sorted(KWARGS):
            for method in ("GET", "POST"):
                outside = call(client, method, url_for(name, world["outside"]))
                missing = call(client, method, missing_url(name, world["inside"]))
                if outside.status_code not in (403, 404, 405) or outside.status_code != missing.status_code:
                    problems.append(f"{role} {method} {name} outside: {outside.status_code} "
                                    f"(missing: {missing.status_code})")
                if OUTSIDE_NAME in _body(outside) or world["outside"]["person"].id_number in _body(outside):
                    problems.append(f"{role} {method} {name} outside shows the person")
            inside = call(client, "GET", url_for(name, world["inside"]))
            body = _body(inside)
            if inside.status_code >= 500:
                problems.append(f"{role} GET {name} inside: {inside.status_code}")
            leaked = [v for v in unseen if v in body]
            if leaked:
                problems.append(f"{role} GET {name} inside shows field groups it may not see: {leaked}")
    assert not problems, "\n".join(problems)


def test_lists_searches_exports_and_reports_never_show_the_outside_person(world):
    problems: list[str] = []
    outside_id = world["outside"]["person"].id_number
    # A search page echoes what was searched for: it leaks only if the outside value shows up more
    # often than a value that exists nowhere, searched for the same way.
    controls = {OUTSIDE_NAME: "无此人某某", outside_id: "110101190001010000"}
    for role, user in world["users"].items():
        client = Client()
        client.force_login(user)
        unseen = [v for group, values in SECRETS.items() if not access.sees(user, group) for v in values]
        for name in list_routes():
            url = reverse(name)
            for query in ("", "?format=csv", OUTSIDE_NAME, outside_id):
                if query.startswith("?") or not query:
                    response, control = client.get(url + query), None
                else:
                    response, control = client.get(url, {"q": query}), client.get(url, {"q": controls[query]})
                if response.status_code >= 500:
                    problems.append(f"{role} GET {name} {query}: {response.status_code}")
                    continue
                body = _body(response)
                for value in (OUTSIDE_NAME, outside_id):
                    echoed = _body(control).count(controls[value]) if control is not None and value == query else 0
                    if body.count(value) > echoed:
                        problems.append(f"{role} GET {name} {query} shows the outside person")
                leaked = [v for v in unseen if v in body]
                if leaked:
                    problems.append(f"{role} GET {name} {query} shows field groups it may not see: {leaked}")
    assert not problems, "\n".join(problems)


def test_the_auditor_changes_nothing(world):
    """Separation of duties: every write, on every route, refused to the auditor (403 or 404)."""
    auditor = world["users"][Role.AUDITOR]
    client = Client()
    client.force_login(auditor)
    refused = []
    for name in sorted(KWARGS):
        response = call(client, "POST", url_for(name, world["inside"]))
        if response.status_code not in (403, 404, 405):
            refused.append(f"POST {name}: {response.status_code}")
    # The token endpoint is the API's login (anyone may post a password); home only redirects.
    # Confirming who one is (page and API) and the "My account" actions act on the caller's own
    # credentials and sessions, never on the system's data: test_account.py and
    # test_account_password.py prove they reach no other account.
    not_writes = {"api-token", "core:home", "core:reauth", "api-reauth", "core:recovery_codes",
                  "core:sessions_end_others", "core:password_change"}
    for name in list_routes():
        if name in not_writes:
            continue
        response = call(client, "POST", reverse(name))
        if response.status_code not in (403, 404, 405):
            refused.append(f"POST {name}: {response.status_code}")
    assert not refused, "\n".join(refused)


# --- break-the-glass: a grant opens the file of its person, and nothing else --------------------

# The routes a grant opens (read only): the file, and one person's record and timeline in the API;
# `people:sealed` opens too, but only to a role with `open_sealed` (403 for the others).
GLASS_OPENS = {"people:detail", "api-person", "api-person-timeline", "people:sealed"}


def _break_the_glass(world) -> list[User]:
    users = [u for u in world["users"].values() if access.has_action(u, "break_glass")]
    for user in users:
        glass.grant_open(user=user, person=world["outside"]["person"], category="emergency",
                         reason="在本辖区突发疾病送医，需核实身份联系家属")
    return users


def test_a_grant_opens_only_its_persons_file(world):
    problems: list[str] = []
    users = _break_the_glass(world)
    assert {u.role for u in users} == {"police", "community_worker", "facility", "health"}
    for user in users:
        client = Client()
        client.force_login(user)
        unseen = [v for group, values in SECRETS.items() if not access.sees(user, group) for v in values]
        for name in sorted(KWARGS):
            for method in ("GET", "POST"):
                outside = call(client, method, url_for(name, world["outside"]))
                missing = call(client, method, missing_url(name, world["inside"]))
                opens = method == "GET" and name in GLASS_OPENS and (
                    name != "people:sealed" or access.has_action(user, "open_sealed"))
                if name == "people:sealed" and not opens:
                    # The person reads as if in reach: the action decides (403), an empty form is a 400.
                    expected = 400 if access.has_action(user, "open_sealed") else 403
                    if outside.status_code != expected:
                        problems.append(f"{user.role} {method} {name} under a grant: {outside.status_code}")
                elif opens:
                    if outside.status_code != 200:
                        problems.append(f"{user.role} GET {name} under a grant: {outside.status_code}")
                    leaked = [v for v in unseen if v in _body(outside)]
                    if leaked:
                        problems.append(f"{user.role} GET {name} under a grant shows {leaked}")
                elif outside.status_code not in (403, 404, 405) or outside.status_code != missing.status_code:
                    problems.append(f"{user.role} {method} {name} under a grant: {outside.status_code} "
                                    f"(missing: {missing.status_code})")
    assert not problems, "\n".join(problems)


def test_lists_never_show_a_person_opened_by_break_the_glass(world):
    _break_the_glass(world)
    test_lists_searches_exports_and_reports_never_show_the_outside_person(world)
