"""Two workers editing the same file: the second never silently overwrites the first (version check)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from liangyi.core.errors import ConflictError
from liangyi.people import services
from liangyi.people.models import Person
from liangyi.people.tests.test_api import api_for, detail_url
from liangyi.people.tests.test_import import english
from liangyi.people.tests.test_views import edit_data


def test_both_read_version_1_and_the_second_save_is_a_conflict(personas, person):
    mine = Person.objects.get(pk=person.pk)
    theirs = Person.objects.get(pk=person.pk)
    services.person_update(actor=personas["worker"], person=mine, data={"phone": "13900001111"},
                           expected_version=1)
    with pytest.raises(ConflictError, match="Someone else changed this record"):
        services.person_update(actor=personas["colleague"], person=theirs, data={"phone": "13700002222"},
                               expected_version=1)
    stored = Person.objects.get(pk=person.pk)
    assert (stored.phone, stored.version) == ("13900001111", 2)


def test_a_stale_copy_cannot_overwrite_even_when_no_version_was_given(personas, person):
    # A caller that forgot the version still cannot write over a change it never saw: the write
    # itself only lands on the version the copy was read at.
    stale = Person.objects.get(pk=person.pk)
    services.person_update(actor=personas["worker"], person=Person.objects.get(pk=person.pk),
                           data={"status": "suspended"})
    with pytest.raises(ConflictError):
        services.person_update(actor=personas["colleague"], person=stale, data={"status": "completed"})
    assert Person.objects.get(pk=person.pk).status == "suspended"


def test_the_api_saves_first_the_form_second_and_the_form_keeps_the_input(client_as, personas, person):
    edit = reverse("people:edit", args=[person.pk])
    browser = english(client_as(personas["worker"]))
    assert 'name="version" value="1"' in browser.get(edit).content.decode()  # the page carries its version
    api = api_for(personas["colleague"])
    assert api.patch(detail_url(person), {"name": "王建设", "version": 1}, format="json").status_code == 200
    # the form, opened at version 1, saves after the API's change: refused, the input kept
    response = browser.post(edit, edit_data(person, name="王建民", version="1"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Someone else changed this record" in page
    assert 'value="王建民"' in page
    assert Person.objects.get(pk=person.pk).name == "王建设"
    # the API, sending the version it read, gets 409 and changes nothing
    conflict = api.patch(detail_url(person), {"name": "王五", "version": 1}, format="json")
    assert conflict.status_code == 409
    assert Person.objects.get(pk=person.pk).name == "王建设"
