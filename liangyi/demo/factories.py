"""Factories for tests and benchmarks: jurisdictions, users of every role, persons with valid IDs.

Factories write through the ORM directly (fast, no audit entries); tests of services call the
services themselves.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from liangyi.core import idnumber
from liangyi.core.models import Jurisdiction, Level, User
from liangyi.people.models import Person, Status
from liangyi.people.services import id_hash

PASSWORD = "correct-horse-battery-42"  # noqa: S105 (test and demo password)

_sequence = itertools.count(11)


def jurisdiction(code: str, name: str, parent: Jurisdiction | None = None) -> Jurisdiction:
    level = {2: Level.PROVINCE, 4: Level.CITY, 6: Level.COUNTY, 9: Level.TOWNSHIP, 12: Level.VILLAGE}[len(code)]
    obj, _ = Jurisdiction.objects.get_or_create(code=code, defaults={"name": name, "level": level, "parent": parent})
    return obj


def small_tree() -> dict[str, Jurisdiction]:
    """Yunnan › Qujing › Qilin district (two townships, one village) and Xuanwei (one township)."""
    yn = jurisdiction("53", "云南省")
    qj = jurisdiction("5303", "曲靖市", yn)
    ql = jurisdiction("530302", "麒麟区", qj)
    t1 = jurisdiction("530302001", "南宁街道", ql)
    t2 = jurisdiction("530302002", "建宁街道", ql)
    v1 = jurisdiction("530302001001", "南关社区", t1)
    xw = jurisdiction("530381", "宣威市", qj)
    t3 = jurisdiction("530381001", "宛水街道", xw)
    return {"province": yn, "city": qj, "county": ql, "township": t1, "neighbour": t2, "village": v1,
            "other_county": xw, "other_township": t3}


def user(username: str, role: str, where: Jurisdiction | None, **extra: Any) -> User:
    return User.objects.create_user(
        username=username, password=PASSWORD, role=role, jurisdiction=where,
        full_name=extra.pop("full_name", username), **extra,
    )


def id_number_for(address_code: str, birth: date, male: bool = True) -> str:
    seq = next(_sequence) % 500 * 2 + (1 if male else 0)
    return idnumber.build(address_code[:6], birth, seq % 1000)


def person(where: Jurisdiction, *, name: str = "测试人员", birth: date = date(1980, 5, 17), male: bool = True,
           status: str = Status.COMMUNITY_REHAB, **fields: Any) -> Person:
    number = fields.pop("id_number", None) or id_number_for(where.code, birth, male)
    return Person.objects.create(
        name=name, id_number=number, id_number_hash=id_hash(number), id_number_masked=idnumber.mask(number),
        gender="M" if int(number[16]) % 2 else "F", birth_date=idnumber.IdNumber(number).birth_date,
        household_jurisdiction=where, jurisdiction=fields.pop("jurisdiction", where), status=status, **fields,
    )
