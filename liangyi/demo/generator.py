"""The synthetic demo city: Qujing's real counties, invented townships, villages, staff and persons.

Everything random comes from one ``random.Random(seed)`` and every date from the ``today`` passed
in, so a seed gives the same city on any machine and any database. The jurisdiction tree and the
staff usernames do not depend on the seed at all, so the demo logins stay the same. No person
here is real: names, ID numbers, phones and addresses are made up (the ID numbers are valid in
form only, for Qujing's address codes).

The persons' profile follows the Qujing survey (DOMAIN.md): among persons in community rehab or
community drug rehab, 49.06 % are not employed, 58.49 % have no skill and 44.65 % are aged 50 or
over. Those shares are allocated exactly (not drawn), so even a small city shows the survey's
figures; the other persons draw from similar odds.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from liangyi.core import idnumber, rules
from liangyi.core.models import Jurisdiction, Level, Role, User
from liangyi.demo.factories import PASSWORD
from liangyi.people.models import (
    Education,
    Employment,
    FamilyMember,
    Gender,
    MannerOfUse,
    Marital,
    Measure,
    MeasureKind,
    Person,
    Plan,
    Status,
    TimelineEvent,
)
from liangyi.people.services import id_hash, timeline_add, timeline_clock

DEFAULT_SEED = 5303
DEFAULT_PERSONS = 300

# The survey figures of DOMAIN.md, as shares of the persons in these statuses.
SURVEY_STATUSES = (Status.COMMUNITY_DRUG_REHAB, Status.COMMUNITY_REHAB)
SURVEY_NOT_EMPLOYED = 0.4906
SURVEY_NO_SKILL = 0.5849
SURVEY_AGED_50_PLUS = 0.4465
MALE_SHARE = 0.85
HIV_SHARE = 0.05
RESIDE_ELSEWHERE_SHARE = 0.15

# Persons under community measures: they have a responsible worker and (mostly) a plan.
COMMUNITY_STATUSES = (
    Status.AWAITING_REPORT, Status.COMMUNITY_DRUG_REHAB, Status.COMMUNITY_REHAB, Status.SUSPENDED,
    Status.WHEREABOUTS_UNKNOWN,
)

# Relative weights of the statuses; each status gets at least one person.
STATUS_WEIGHTS = (
    (Status.COMMUNITY_REHAB, 33),
    (Status.COMMUNITY_DRUG_REHAB, 24),
    (Status.ISOLATION, 11),
    (Status.AWAITING_REPORT, 5),
    (Status.SUSPENDED, 4),
    (Status.COMPLETED, 9),
    (Status.ABSTINENT_3Y, 8),
    (Status.IMPRISONED, 2),
    (Status.DECEASED, 2),
    (Status.WHEREABOUTS_UNKNOWN, 2),
)

FACILITY_NAME = "曲靖市强制隔离戒毒所"
_LONG_HISTORY = (Status.COMPLETED, Status.ABSTINENT_3Y)

# --- the jurisdiction tree (fixed; only the county names and codes are real) -------------------

PROVINCE = ("53", "云南省")
CITY = ("5303", "曲靖市")
# Qujing's nine counties and districts, each with invented townships. Township codes follow the
# national convention: streets 001–099, towns 101–199, townships 201–299.
COUNTIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("530302", "麒麟区", ("翠峰街道", "望城街道", "南屏街道", "白塔街道", "东岭镇")),
    ("530303", "沾益区", ("松林街道", "清溪街道", "花坪镇", "云岭乡")),
    ("530304", "马龙区", ("泉源街道", "金马镇", "青松乡")),
    ("530322", "陆良县", ("同乐街道", "田园镇", "三岔镇", "龙海乡")),
    ("530323", "师宗县", ("凤鸣街道", "彩云镇", "高原乡")),
    ("530324", "罗平县", ("罗山街道", "金鸡镇", "花海镇", "多依乡")),
    ("530325", "富源县", ("胜境街道", "黄坡镇", "云龙镇", "石门乡")),
    ("530326", "会泽县", ("钟灵街道", "铜源镇", "礼乐镇", "五星镇", "银山乡")),
    ("530381", "宣威市", ("宛溪街道", "双龙街道", "田坝镇", "羊场镇", "杨柳乡")),
)
_COMMUNITY_NAMES = ("和平", "文昌", "团结", "光明", "新华", "东风", "建设", "朝阳", "青年", "振兴", "龙泉", "太和")
_VILLAGE_NAMES = (
    "大坡", "小河", "长田", "松林", "梨园", "石龙", "营上", "花红", "黑土", "沙坝", "瓦窑", "水井",
    "杨家", "李家营", "白水", "青山", "新村", "塘子", "马场", "田心", "老厂", "箐口", "坝心", "红岩",
)
_STREETS = ("建设路", "民族路", "文化路", "胜利路", "新华街", "人民路", "南环路", "北城路", "幸福路", "学府路")


@dataclass(frozen=True)
class Place:
    code: str
    name: str
    level: str
    parent: str | None


def tree() -> list[Place]:
    """The whole jurisdiction tree, parents before children."""
    places = [Place(PROVINCE[0], PROVINCE[1], Level.PROVINCE, None), Place(CITY[0], CITY[1], Level.CITY, PROVINCE[0])]
    village_no = 0
    for county_code, county_name, townships in COUNTIES:
        places.append(Place(county_code, county_name, Level.COUNTY, CITY[0]))
        next_no = {"街道": 1, "镇": 101, "乡": 201}
        for t_index, township in enumerate(townships):
            suffix = "街道" if township.endswith("街道") else township[-1]
            township_code = f"{county_code}{next_no[suffix]:03d}"
            next_no[suffix] += 1
            places.append(Place(township_code, township, Level.TOWNSHIP, county_code))
            urban = suffix == "街道"
            # Communities (居委会) are numbered from 001, villages (村委会) from 201.
            for v in range(2 + (t_index + len(townships)) % 2):
                pool = _COMMUNITY_NAMES if urban else _VILLAGE_NAMES
                name = pool[village_no % len(pool)] + ("社区" if urban else "村")
                village_no += 1
                places.append(Place(f"{township_code}{(1 if urban else 201) + v:03d}", name, Level.VILLAGE,
                                    township_code))
    return places


def county_codes() -> list[str]:
    return [code for code, _name, _t in COUNTIES]


# --- staff -------------------------------------------------------------------------------------

ROLE_ZH = {
    Role.ADMIN: "系统管理员",
    Role.LEADER: "禁毒办领导",
    Role.FACILITY: "强戒所民警",
    Role.COMMUNITY_WORKER: "社区戒毒社区康复专职人员",
    Role.SOCIAL_WORKER: "禁毒社工",
    Role.POLICE: "公安民警",
    Role.HEALTH: "卫生健康人员",
    Role.HR: "人社专员",
    Role.CIVIL_AFFAIRS: "民政专员",
    Role.EDUCATION: "禁毒宣传教育",
    Role.AUDITOR: "审计员",
    Role.SECURITY_ADMIN: "安全管理员",
}

# Per county: username prefix and role. Per township: the community worker and the social worker.
_COUNTY_ROLES = (
    ("leader", Role.LEADER), ("police", Role.POLICE), ("health", Role.HEALTH), ("hr", Role.HR),
    ("civil", Role.CIVIL_AFFAIRS), ("edu", Role.EDUCATION),
)
_TOWNSHIP_ROLES = (("worker", Role.COMMUNITY_WORKER), ("social", Role.SOCIAL_WORKER))


@dataclass(frozen=True)
class StaffMember:
    username: str
    role: str
    jurisdiction: str | None


def staff() -> list[StaffMember]:
    """Every demo user. Usernames: ``admin``, ``leader``, ``facility``, ``auditor``, ``security`` (city level),
    ``<leader|police|health|hr|civil|edu>_<county code>``, ``<worker|social>_<township code>``."""
    members = [
        StaffMember("admin", Role.ADMIN, None),
        StaffMember("leader", Role.LEADER, CITY[0]),
        StaffMember("facility", Role.FACILITY, CITY[0]),
        StaffMember("auditor", Role.AUDITOR, CITY[0]),
        StaffMember("security", Role.SECURITY_ADMIN, CITY[0]),
    ]
    places = tree()
    for county_code in county_codes():
        members += [StaffMember(f"{prefix}_{county_code}", role, county_code) for prefix, role in _COUNTY_ROLES]
    for place in places:
        if place.level == Level.TOWNSHIP:
            members += [StaffMember(f"{prefix}_{place.code}", role, place.code) for prefix, role in _TOWNSHIP_ROLES]
    return members


@dataclass(frozen=True)
class DemoLogin:
    username: str
    role: str
    jurisdiction: str  # code, "" for every jurisdiction
    jurisdiction_name: str
    look_at: str  # a lazily translated hint


def demo_logins() -> list[DemoLogin]:
    """A short list of accounts worth trying, each with what to look at (all share PASSWORD)."""
    names = {p.code: p.name for p in tree()}
    rows = [
        ("admin", Role.ADMIN, "", gettext_lazy("Users, jurisdictions, the audit log; everything in the city")),
        ("leader", Role.LEADER, "5303", gettext_lazy("City dashboards and KPIs across all nine counties")),
        ("leader_530302", Role.LEADER, "530302", gettext_lazy("One county's persons and figures (Qilin)")),
        ("worker_530302001", Role.COMMUNITY_WORKER, "530302001",
         gettext_lazy("A township worklist: reports due, tests, visits, plans")),
        ("worker_530302002", Role.COMMUNITY_WORKER, "530302002",
         gettext_lazy("The neighbouring township: cannot see the first one's persons")),
        ("social_530302001", Role.SOCIAL_WORKER, "530302001",
         gettext_lazy("Case work and individual plans in one township")),
        ("police_530302", Role.POLICE, "530302", gettext_lazy("Control status, violations, police notes")),
        ("health_530302", Role.HEALTH, "530302", gettext_lazy("Health notes and infectious-disease status")),
        ("hr_530302", Role.HR, "530302", gettext_lazy("Employment and skills; no medical data")),
        ("civil_530302", Role.CIVIL_AFFAIRS, "530302", gettext_lazy("Persons who may need minimum-living help")),
        ("edu_530302", Role.EDUCATION, "530302", gettext_lazy("Publicity and school lessons")),
        ("facility", Role.FACILITY, "5303", gettext_lazy("Persons in compulsory isolation and releases due")),
        ("worker_530381001", Role.COMMUNITY_WORKER, "530381001", gettext_lazy("Another county's township (Xuanwei)")),
        ("auditor", Role.AUDITOR, "5303", gettext_lazy("The audit log: who saw and changed what")),
        ("security", Role.SECURITY_ADMIN, "5303",
         gettext_lazy("Second factors and sessions of the city's users (separate from the system admin)")),
    ]
    return [DemoLogin(u, r, code, names.get(code, "全市 / all") if code else "全部 / all", hint)
            for u, r, code, hint in rows]


# --- names, places, phones ---------------------------------------------------------------------

ETHNICITIES = (("汉族", 880), ("彝族", 50), ("回族", 30), ("苗族", 20), ("布依族", 20))
_SURNAMES = {
    "汉族": "李王张杨刘陈赵黄周吴徐孙朱胡郭何高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏"
            "魏吕丁沈姚卢钟谭陆范金石廖贾夏付方白邹孟熊秦江尹段雷侯龙史陶贺毛郝龚邵",
    "彝族": "李罗普毕杨张王鲁",
    "回族": "马纳沙丁白保",
    "苗族": "杨王熊陶张项",
    "布依族": "王岑韦班黄罗",
}
_MALE_CHARS = "建国华明伟军强勇平文斌辉林杰涛兵刚成亮波云龙海东红忠荣祥福贵昌发德学志永春光金俊鹏飞超磊"
_FEMALE_CHARS = "芳丽娟敏燕霞梅琴兰英萍玲红艳秀翠凤云慧洁琳静雪莉娜桂珍美丹春"
_PHONE_PREFIXES = ("133", "135", "138", "139", "150", "151", "153", "158", "159", "180", "187", "188", "189", "199")

SUBSTANCES_OLD = (("海洛因", 70), ("鸦片", 10), ("冰毒", 15), ("麻古", 5))
SUBSTANCES_YOUNG = (("冰毒", 42), ("麻古", 25), ("海洛因", 20), ("K粉", 6), ("大麻", 4), ("摇头丸", 3))
_HEALTH_NOTES = (
    "高血压", "慢性胃炎", "抑郁症状，已转介心理咨询", "肺结核已治愈", "2型糖尿病", "慢性支气管炎", "腰椎间盘突出",
)
_POLICE_NOTES = ("曾因吸毒被行政拘留", "曾因盗窃被判处有期徒刑", "有以贩养吸嫌疑，已核查排除", "曾因容留他人吸毒被处罚")


def _weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _given_name(rng: random.Random, male: bool) -> str:
    chars = _MALE_CHARS if male else _FEMALE_CHARS
    return "".join(rng.choice(chars) for _ in range(1 if rng.random() < 0.3 else 2))


def _phone(rng: random.Random) -> str:
    return f"{rng.choice(_PHONE_PREFIXES)}{rng.randrange(10**8):08d}"


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _allocate(rng: random.Random, n: int, share: float) -> list[bool]:
    """Exactly round(n * share) True values, shuffled."""
    k = round(n * share)
    flags = [True] * k + [False] * (n - k)
    rng.shuffle(flags)
    return flags


def _status_counts(n: int) -> list[tuple[str, int]]:
    """Split n over the statuses by weight (largest remainder), at least one each when n allows."""
    total = sum(w for _s, w in STATUS_WEIGHTS)
    floor = 1 if n >= len(STATUS_WEIGHTS) else 0
    counts = {s: max(floor, n * w // total) for s, w in STATUS_WEIGHTS}
    order = sorted(STATUS_WEIGHTS, key=lambda sw: (-(n * sw[1] % total), STATUS_WEIGHTS.index(sw)))
    i = 0
    while sum(counts.values()) < n:
        counts[order[i % len(order)][0]] += 1
        i += 1
    while sum(counts.values()) > n:  # the floor of one each overshot: take from the largest
        largest = max(counts, key=lambda s: counts[s])
        counts[largest] -= 1
    return [(s, counts[s]) for s, _w in STATUS_WEIGHTS]


# --- the drafts the generator builds before writing --------------------------------------------


@dataclass
class _Event:
    on: date
    kind: str
    summary: str
    actor: str  # "worker", "social", "police", "facility"
    ref: int | str | None = None  # index into the draft's measures, or "plan"


@dataclass(eq=False)
class _Draft:
    index: int
    status: str
    male: bool
    old: bool
    pk: uuid.UUID | None = None
    name: str = ""
    birth: date = date(1980, 1, 1)
    id_number: str = ""
    ethnicity: str = "汉族"
    household: Place | None = None
    residence: Place | None = None
    fields: dict = field(default_factory=dict)
    measures: list[dict] = field(default_factory=list)
    family: list[dict] = field(default_factory=list)
    plan: dict | None = None
    events: list[_Event] = field(default_factory=list)
    duplicate_of: int | None = None

    def measure(self, kind: str, start: date, end: date | None, authority: str, notes: str = "") -> int:
        self.measures.append({"kind": kind, "start_on": start, "end_on": end, "authority": authority, "notes": notes})
        return len(self.measures) - 1

    def event(self, on: date, kind: str, summary: str, actor: str, ref: int | str | None = None) -> None:
        self.events.append(_Event(on, kind, summary, actor, ref))


# Which field group a reader must see for each kind of demo event (people.TimelineEvent.group).
EVENT_GROUPS = {
    "person.measure_added": "drug_history",
    "test.recorded": "drug_history",
    "escalation.opened": "drug_history",
    "isolation.assessed": "medical",
}


@dataclass
class Summary:
    seed: int
    persons: int
    jurisdictions_created: int = 0
    users_created: int = 0
    users_existing: list[str] = field(default_factory=list)
    family_members: int = 0
    measures: int = 0
    plans: int = 0
    timeline_events: int = 0
    duplicates: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    handover: dict = field(default_factory=dict)
    supervision: dict = field(default_factory=dict)
    risk: dict = field(default_factory=dict)
    medical: dict = field(default_factory=dict)
    security: dict = field(default_factory=dict)


class _City:
    def __init__(self, *, seed: int, today: date):
        self.rng = random.Random(seed)
        self.today = today
        self.places = tree()
        self.by_code = {p.code: p for p in self.places}
        self.townships = [p for p in self.places if p.level == Level.TOWNSHIP]
        self.villages_of = {t.code: [p for p in self.places if p.parent == t.code] for t in self.townships}
        self.used_ids: set[str] = set()
        self.used_name_births: set[tuple[str, date]] = set()
        self.report_days = rules.current().value("report_deadline_days")

    # -- helpers --
    def days_ago(self, low: int, high: int) -> date:
        return self.today - timedelta(days=self.rng.randint(low, high))

    def until_yesterday(self, day: date) -> date:
        return min(day, self.today - timedelta(days=1))

    def county_of(self, code: str) -> Place:
        return self.by_code[code[:6]]

    def township_of(self, code: str) -> Place:
        return self.by_code[code[:9]]

    def police_authority(self, code: str) -> str:
        county = self.county_of(code)
        if county.name.endswith("区"):
            return f"曲靖市公安局{county.name[:-1]}分局"
        return f"{county.name}公安局"

    def person_name(self, ethnicity: str, male: bool) -> str:
        return self.rng.choice(_SURNAMES[ethnicity]) + _given_name(self.rng, male)

    def address(self, place: Place) -> str:
        rng = self.rng
        county = self.county_of(place.code)
        township = self.township_of(place.code)
        if place.level == Level.VILLAGE and place.name.endswith("村"):
            return f"云南省曲靖市{county.name}{township.name}{place.name}{rng.randint(1, 12)}组{rng.randint(1, 90)}号"
        where = place.name if place.level == Level.VILLAGE else ""
        return (f"云南省曲靖市{county.name}{township.name}{where}{rng.choice(_STREETS)}{rng.randint(1, 300)}号"
                + (f"{rng.randint(1, 12)}栋{rng.randint(1, 4)}单元{rng.randint(1, 7)}0{rng.randint(1, 4)}室"
                   if rng.random() < 0.5 else ""))

    def place_in(self, township: Place) -> Place:
        """The township itself (1 in 5) or one of its villages."""
        if self.rng.random() < 0.2:
            return township
        return self.rng.choice(self.villages_of[township.code])

    def birth_date(self, age_low: int, age_high: int) -> date:
        """A birth date for an age (in whole years, today) between the bounds."""
        age = self.rng.randint(age_low, age_high)
        latest = _years_before(self.today, age)
        earliest = _years_before(self.today, age + 1) + timedelta(days=1)
        return earliest + timedelta(days=self.rng.randint(0, (latest - earliest).days))

    def new_id_number(self, county_code: str, birth: date, male: bool) -> str:
        while True:
            sequence = self.rng.randrange(500) * 2 + (1 if male else 0)
            number = idnumber.build(county_code, birth, sequence)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    # -- persons --
    def drafts(self, n: int) -> list[_Draft]:
        rng = self.rng
        statuses = [s for s, count in _status_counts(n) for _ in range(count)]
        rng.shuffle(statuses)
        survey_idx = [i for i, s in enumerate(statuses) if s in SURVEY_STATUSES]
        other_idx = [i for i, s in enumerate(statuses) if s not in SURVEY_STATUSES]
        males = _allocate(rng, n, MALE_SHARE)
        old = [False] * n
        unemployed = [False] * n
        no_skill = [False] * n
        shares = ((old, SURVEY_AGED_50_PLUS), (unemployed, SURVEY_NOT_EMPLOYED), (no_skill, SURVEY_NO_SKILL))
        for flags, share in shares:
            for i, flag in zip(survey_idx, _allocate(rng, len(survey_idx), share), strict=True):
                flags[i] = flag
            for i in other_idx:
                flags[i] = rng.random() < share * 0.95
        drafts = [_Draft(index=i, status=statuses[i], male=males[i], old=old[i]) for i in range(n)]

        # A few probable duplicates: a second record with the same name and birth date as an
        # earlier person (of the same sex and age group, so the allocated shares still hold).
        # Long histories need older persons: a young twin cannot stand for a long-closed case.
        n_duplicates = max(2, n // 75) if n >= 20 else 0
        duplicate_idx = sorted(rng.sample(range(n // 2, n), n_duplicates)) if n_duplicates else []
        for i in duplicate_idx:
            me = drafts[i]
            twins = [d.index for d in drafts[:i] if d.male == me.male and d.old == me.old
                     and d.index not in duplicate_idx
                     and (me.old or me.status not in _LONG_HISTORY or d.status in _LONG_HISTORY)]
            if twins:
                me.duplicate_of = rng.choice(twins)

        for d in drafts:
            d.pk = uuid.UUID(int=rng.getrandbits(128), version=4)
            self.identity(d, drafts)
            self.profile(d, unemployed=unemployed[d.index], no_skill=no_skill[d.index])
            self.history(d)
            self.drug_history(d)
            self.family(d)
        self.infections(drafts)
        return drafts

    def identity(self, d: _Draft, drafts: list[_Draft]) -> None:
        rng = self.rng
        township = rng.choice(self.townships)
        d.household = self.place_in(township)
        if rng.random() < RESIDE_ELSEWHERE_SHARE:
            same_county = [t for t in self.townships if t.parent == township.parent and t != township]
            others = [t for t in self.townships if t != township]
            d.residence = self.place_in(rng.choice(same_county if rng.random() < 0.7 else others))
        else:
            d.residence = d.household
        if d.duplicate_of is not None:
            twin = drafts[d.duplicate_of]
            d.name, d.birth, d.ethnicity = twin.name, twin.birth, twin.ethnicity
        else:
            d.ethnicity = _weighted(rng, ETHNICITIES)
            young_low = 32 if d.status in _LONG_HISTORY else 24
            while True:
                d.name = self.person_name(d.ethnicity, d.male)
                d.birth = self.birth_date(50, 68) if d.old else self.birth_date(young_low, 49)
                if (d.name, d.birth) not in self.used_name_births:
                    break
            self.used_name_births.add((d.name, d.birth))
        d.id_number = self.new_id_number(d.household.code[:6], d.birth, d.male)

    def profile(self, d: _Draft, *, unemployed: bool, no_skill: bool) -> None:
        rng = self.rng
        age = _age(d.birth, self.today)
        if unemployed:
            employment = Employment.UNEMPLOYED
        elif age >= 58 and rng.random() < 0.35:
            employment = Employment.RETIRED
        else:
            employment = Employment.EMPLOYED if rng.random() < 0.45 else Employment.SELF_EMPLOYED
        education = _weighted(rng, (
            (Education.NONE, 8 if d.old else 2), (Education.PRIMARY, 40 if d.old else 20),
            (Education.JUNIOR, 40 if d.old else 50), (Education.SENIOR, 10 if d.old else 22),
            (Education.COLLEGE, 2 if d.old else 6),
        ))
        marital = _weighted(rng, (
            (Marital.SINGLE, 8 if d.old else 35), (Marital.MARRIED, 60 if d.old else 45),
            (Marital.DIVORCED, 26 if d.old else 19), (Marital.WIDOWED, 6 if d.old else 1),
        ))
        household_address = self.address(d.household)
        residence_address = household_address if d.residence == d.household else self.address(d.residence)
        community = d.status in COMMUNITY_STATUSES
        verified_days = rng.randint(1, 25) if community and rng.random() < 0.88 else rng.randint(40, 400)
        d.fields = {
            "gender": Gender.MALE if d.male else Gender.FEMALE,
            "employment": employment,
            "has_skill": not no_skill,
            "education": education,
            "marital_status": marital,
            "household_address": household_address,
            "residence_address": residence_address,
            "phone": _phone(rng) if rng.random() < 0.93 else "",
            "police_notes": rng.choice(_POLICE_NOTES) if rng.random() < 0.15 else "",
            "verified_at": timezone.make_aware(datetime.combine(
                self.today - timedelta(days=verified_days), time(rng.randint(8, 17), rng.randrange(60)))),
        }

    # -- measures and the timeline --
    def history(self, d: _Draft) -> None:
        """Measures consistent with the status, and the timeline events they imply."""
        rng, s = self.rng, d.status
        community_kind = MeasureKind.COMMUNITY_REHAB if rng.random() < 0.55 else MeasureKind.COMMUNITY_DRUG_REHAB
        if s == Status.ISOLATION:
            admitted = self.days_ago(5, 680)
            if rng.random() < 0.35:  # relapsed during community drug rehab and was sent back
                start = admitted - timedelta(days=rng.randint(200, 800))
                self.community(d, MeasureKind.COMMUNITY_DRUG_REHAB, start, admitted - timedelta(days=1),
                               ending="relapse")
            self.isolation(d, admitted, None)
        elif s == Status.AWAITING_REPORT:
            # Released from isolation or newly decided; a few are past the reporting deadline.
            kind = MeasureKind.COMMUNITY_REHAB if rng.random() < 0.6 else MeasureKind.COMMUNITY_DRUG_REHAB
            self.course(d, kind, self.days_ago(1, self.report_days + 5), None, reported=False)
        elif s in (Status.COMMUNITY_REHAB, Status.COMMUNITY_DRUG_REHAB):
            self.course(d, MeasureKind(s), self.days_ago(25, 1060), None)
        elif s in (Status.SUSPENDED, Status.WHEREABOUTS_UNKNOWN):
            self.course(d, community_kind, self.days_ago(200, 1000), None,
                        ending="suspended" if s == Status.SUSPENDED else "lost", ended_on=self.days_ago(10, 150))
        elif s == Status.COMPLETED:
            end = self.days_ago(10, 1000)
            self.course(d, community_kind, _years_before(end, 3), end, ending="completed")
        elif s == Status.ABSTINENT_3Y:
            end = self.days_ago(1100, 2400)
            self.course(d, community_kind, _years_before(end, 3), end, ending="completed")
            self.status_event(d, _years_before(end, -3), Status.ABSTINENT_3Y,
                              _("Three years after the term without relapse: case closed"))
        elif s in (Status.IMPRISONED, Status.DECEASED):
            end = self.days_ago(20, 700)
            self.course(d, community_kind, end - timedelta(days=rng.randint(90, 900)), end, ending=s)
        first = min(e.on for e in d.events)
        d.events.insert(0, _Event(first, "person.created", _("Registered from the decision of %(authority)s")
                                  % {"authority": self.police_authority(d.residence.code)}, "police"))

    def course(self, d: _Draft, kind: str, start: date, end: date | None, **how) -> None:
        """A community measure; community rehab always follows release from compulsory isolation."""
        if kind == MeasureKind.COMMUNITY_REHAB:
            self.isolation(d, start - timedelta(days=self.rng.randint(540, 730)), start)
        self.community(d, kind, start, end, **how)

    def isolation(self, d: _Draft, admitted: date, released: date | None) -> None:
        rng = self.rng
        ref = d.measure(MeasureKind.ISOLATION, admitted, released, self.police_authority(d.residence.code),
                        FACILITY_NAME)
        d.event(admitted - timedelta(days=rng.randint(1, 5)), "person.measure_added",
                _("Measure recorded: %(kind)s from %(start)s")
                % {"kind": MeasureKind.ISOLATION.label, "start": admitted.isoformat()}, "police", ref)
        d.event(admitted, "isolation.admitted", _("Admitted to %(facility)s") % {"facility": FACILITY_NAME},
                "facility", ref)
        assessed = (released or admitted + timedelta(days=730)) - timedelta(days=rng.randint(20, 40))
        if assessed < self.today:
            d.event(assessed, "isolation.assessed",
                    _("Pre-release assessment: physical state, psychological state, social adaptability"),
                    "facility", ref)
        if released:
            d.event(released, "isolation.released", _("Released and handed over to %(township)s")
                    % {"township": self.township_of(d.residence.code).name}, "facility", ref)

    def community(self, d: _Draft, kind: str, received: date, end: date | None, *, reported: bool = True,
                  ending: str = "", ended_on: date | None = None) -> None:
        """A community measure from the day the decision was received, with its report, agreement,
        tests and visits; ``ending`` says how it ended (or was interrupted on ``ended_on``)."""
        rng = self.rng
        label = MeasureKind(kind).label
        notes = {"relapse": "复吸，转强制隔离戒毒", "suspended": "中止：涉嫌违法被羁押", "lost": "失联，已通报公安",
                 Status.IMPRISONED: "因犯罪被判处有期徒刑", Status.DECEASED: "死亡", "completed": "期满解除"}
        ref = d.measure(kind, received, end, self.police_authority(d.residence.code), notes.get(ending, ""))
        d.event(received, "person.measure_added", _("Measure recorded: %(kind)s from %(start)s")
                % {"kind": label, "start": received.isoformat()}, "police", ref)
        d.event(received, "decision.received", _("Decision received: %(kind)s; report within %(days)d days")
                % {"kind": label, "days": self.report_days}, "police", ref)
        if not reported:
            return
        township = self.township_of(d.residence.code).name
        reported_on = received + timedelta(days=rng.randint(0, 10))
        d.event(reported_on, "report.received", _("Reported to %(township)s") % {"township": township}, "worker", ref)
        d.event(reported_on, "agreement.signed", _("Community rehab agreement signed"), "worker", ref)
        stop = self.until_yesterday(min(x for x in (end, ended_on, self.today) if x is not None))
        if d.status in (Status.COMMUNITY_REHAB, Status.COMMUNITY_DRUG_REHAB, Status.SUSPENDED,
                        Status.WHEREABOUTS_UNKNOWN) and end is None:
            d.plan = self.plan_for(d)
            if d.plan is not None:
                d.event(min(reported_on + timedelta(days=rng.randint(3, 20)), stop), "person.plan_set",
                        _("New individual plan"), "social", "plan")
        # The latest tests and visits only: a full three years of monthly tests would drown the rest.
        day, tests = reported_on, []
        while True:
            day += timedelta(days=rng.randint(25, 45))
            if day > stop:
                break
            tests.append(day)
        for on in tests[-4:]:
            d.event(on, "test.recorded", _("Drug test (urine, on site): negative"), "worker", ref)
        for on in tests[-3::2]:
            d.event(on + timedelta(days=rng.randint(1, 6)) if on + timedelta(days=6) <= stop else on,
                    "visit.recorded", _("Home visit: met the person and the family"), "worker", ref)
        if ending == "relapse":
            d.event(end, "test.recorded", _("Drug test (urine, on site): positive"), "worker", ref)
            d.event(end, "escalation.opened", _("Relapse reported to the police"), "worker", ref)
        elif ending == "completed":
            d.event(end, "measure.ended", _("Term completed: measure lifted"), "police", ref)
            self.status_event(d, end, Status.COMPLETED, _("Status changed to %(status)s")
                              % {"status": Status.COMPLETED.label})
        elif ending in (Status.IMPRISONED, Status.DECEASED):
            self.status_event(d, end, ending, _("Status changed to %(status)s") % {"status": Status(ending).label})
        elif ending == "suspended":
            self.status_event(d, ended_on, Status.SUSPENDED,
                              _("Measure suspended: the person is held by the police"))
        elif ending == "lost":
            d.event(ended_on - timedelta(days=14), "check_in.missed",
                    _("Check-in missed; the family does not know where the person is"), "worker", ref)
            self.status_event(d, ended_on, Status.WHEREABOUTS_UNKNOWN,
                              _("Whereabouts unknown: reported to the police"))

    def status_event(self, d: _Draft, on: date, status: str, summary: str) -> None:
        actor = "worker" if status in (Status.SUSPENDED, Status.WHEREABOUTS_UNKNOWN) else "police"
        d.event(self.until_yesterday(on), "status.changed", summary, actor)

    def plan_for(self, d: _Draft) -> dict | None:
        rng = self.rng
        share = 0.92 if d.status in SURVEY_STATUSES else 0.6
        if rng.random() >= share:
            return None
        lines = ["尿检：每月1次，社区现场检测", "走访：专干每季度家访1次，了解家庭支持情况",
                 "心理：社工个案辅导，每月1次"]
        if d.fields["employment"] == Employment.UNEMPLOYED:
            lines.append(rng.choice(["就业：办理失业登记，推荐公益性岗位", "就业：推荐至安置基地企业面试",
                                     "就业：人社部门职业指导，推荐以工代训岗位"]))
        if not d.fields["has_skill"]:
            lines.append(rng.choice(["技能：报名适岗培训（电工）", "技能：报名适岗培训（中式烹调）",
                                     "技能：报名适岗培训（家政服务）", "技能：报名农业实用技术培训"]))
        if d.old:
            lines.append("保障：核实医疗保险参保缴费，必要时协助续缴")
        if d.fields["employment"] == Employment.UNEMPLOYED and rng.random() < 0.4:
            lines.append("民政：评估最低生活保障申请条件")
        if d.fields["marital_status"] in (Marital.DIVORCED, Marital.SINGLE) and rng.random() < 0.3:
            lines.append("家庭：开展家庭调解，重建支持关系")
        overdue = rng.random() < 0.1
        review = self.today + timedelta(days=-rng.randint(1, 20) if overdue else rng.randint(15, 120))
        return {"summary": "\n".join(lines), "review_on": review}

    # -- drug history, family, health --
    def drug_history(self, d: _Draft) -> None:
        rng = self.rng
        pool = SUBSTANCES_OLD if d.old else SUBSTANCES_YOUNG
        substances = [_weighted(rng, pool)]
        if rng.random() < 0.3:
            second = _weighted(rng, pool)
            if second not in substances:
                substances.append(second)
        manners = set()
        for sub in substances:
            if sub == "海洛因":
                manners.add(MannerOfUse.INJECTING if rng.random() < 0.4 else MannerOfUse.SMOKING)
            elif sub == "鸦片":
                manners.add(MannerOfUse.SMOKING if rng.random() < 0.8 else MannerOfUse.ORAL)
            elif sub == "K粉":
                manners.add(MannerOfUse.NASAL)
            elif sub == "摇头丸":
                manners.add(MannerOfUse.ORAL)
            else:
                manners.add(MannerOfUse.SMOKING)
        first_measure = min(m["start_on"] for m in d.measures)
        low = d.birth.year + 15
        high = max(low, min(first_measure.year, d.birth.year + 40))
        d.fields.update(
            substances=substances,
            manner_of_use=manners.pop() if len(manners) == 1 else MannerOfUse.MIXED,
            first_use_year=rng.randint(low, high),
        )
        notes = []
        if "海洛因" in substances and d.status in COMMUNITY_STATUSES and rng.random() < 0.3:
            notes.append(f"美沙酮维持治疗（{self.county_of(d.residence.code).name}美沙酮门诊）")
        if rng.random() < 0.15:
            notes.append(rng.choice(_HEALTH_NOTES))
        d.fields["health_notes"] = "；".join(notes)

    def infections(self, drafts: list[_Draft]) -> None:
        """About 5 % HIV positive, most of them among those who inject; some hepatitis C besides."""
        rng = self.rng
        k = round(len(drafts) * HIV_SHARE)
        injecting = [d for d in drafts if d.fields["manner_of_use"] in (MannerOfUse.INJECTING, MannerOfUse.MIXED)]
        injecting_ids = {d.index for d in injecting}
        others = [d for d in drafts if d.index not in injecting_ids]
        from_injecting = min(len(injecting), round(k * 0.7))
        positive = rng.sample(injecting, from_injecting) + rng.sample(others, min(len(others), k - from_injecting))
        positive_ids = {d.index for d in positive}
        for d in drafts:
            text = ["HIV阳性"] if d.index in positive_ids else []
            if rng.random() < (0.25 if d.index in injecting_ids else 0.04):
                text.append("丙肝抗体阳性")
            d.fields["infectious_disease"] = "；".join(text)

    def family(self, d: _Draft) -> None:
        rng = self.rng
        surname = d.name[0]
        relations = ["配偶", "儿子", "女儿", "兄弟", "姐妹"] if d.old else ["父亲", "母亲", "配偶", "兄弟", "姐妹"]
        if d.fields["marital_status"] != Marital.MARRIED:
            relations.remove("配偶")
        chosen = rng.sample(relations, rng.randint(1, 3))
        emergency = rng.random() < 0.75
        for i, relation in enumerate(chosen):
            male = relation in ("父亲", "儿子", "兄弟") or (relation == "配偶" and not d.male)
            name = (self.person_name("汉族", male) if relation in ("配偶", "母亲")
                    else surname + _given_name(rng, male))
            d.family.append({
                "relation": relation, "name": name, "phone": _phone(rng) if rng.random() < 0.9 else "",
                "is_emergency_contact": emergency and i == 0,
            })
        if d.family[0]["is_emergency_contact"] and not d.family[0]["phone"]:
            d.family[0]["phone"] = _phone(rng)


# --- writing -----------------------------------------------------------------------------------


def _staff_names(rng: random.Random, members: list[StaffMember]) -> dict[str, str]:
    names = {"admin": "系统管理员"}
    for m in members:
        if m.username not in names:
            names[m.username] = rng.choice(_SURNAMES["汉族"]) + _given_name(rng, rng.random() < 0.5)
    return names


def _write_tree(places: list[Place]) -> int:
    existing = set(Jurisdiction.objects.filter(code__in=[p.code for p in places]).values_list("code", flat=True))
    new = [Jurisdiction(code=p.code, name=p.name, level=p.level, parent_id=p.parent)
           for p in places if p.code not in existing]
    Jurisdiction.objects.bulk_create(new, batch_size=500)
    return len(new)


@cache
def _password_hash() -> str:
    """One hash for every demo user, once per process: each PBKDF2 hash takes about a second."""
    return make_password(PASSWORD)


def _write_staff(rng: random.Random, summary: Summary) -> dict[str, User]:
    """Every demo user; an existing username is left as it is (its password is not touched)."""
    members = staff()
    names = _staff_names(rng, members)
    existing = set(User.objects.filter(username__in=[m.username for m in members]).values_list("username", flat=True))
    password = _password_hash()
    new = [User(username=m.username, password=password, role=m.role, jurisdiction_id=m.jurisdiction,
                full_name=names[m.username], is_staff=m.role == Role.ADMIN, is_superuser=m.role == Role.ADMIN)
           for m in members if m.username not in existing]
    User.objects.bulk_create(new, batch_size=500)
    summary.users_created = len(new)
    summary.users_existing = sorted(existing)
    return {u.username: u for u in User.objects.filter(username__in=[m.username for m in members])}


def _actor(users: dict[str, User], who: str, code: str) -> User | None:
    username = {
        "worker": f"worker_{code[:9]}", "social": f"social_{code[:9]}", "police": f"police_{code[:6]}",
        "facility": "facility",
    }[who]
    return users.get(username)


def _at(rng: random.Random, day: date, nth: int) -> datetime:
    """Office hours on ``day``; the nth event of a day comes an hour after the one before."""
    return timezone.make_aware(datetime.combine(day, time(8 + min(nth, 10), rng.randrange(60))))


def _write_persons(drafts: list[_Draft], users: dict[str, User], rng: random.Random, summary: Summary,
                   progress: Callable[[int, int], None] | None, chunk: int = 50) -> None:
    total = len(drafts)
    for start in range(0, total, chunk):
        batch = drafts[start:start + chunk]
        persons = []
        for d in batch:
            place = d.residence or d.household
            community = d.status in COMMUNITY_STATUSES
            persons.append(Person(
                id=d.pk, name=d.name, id_number=d.id_number, id_number_hash=id_hash(d.id_number),
                id_number_masked=idnumber.mask(d.id_number), birth_date=d.birth, ethnicity=d.ethnicity,
                household_jurisdiction_id=d.household.code, residence_jurisdiction_id=d.residence.code,
                jurisdiction_id=place.code, status=d.status,
                responsible_worker=_actor(users, "worker", place.code) if community else None,
                possible_duplicate_of_id=drafts[d.duplicate_of].pk if d.duplicate_of is not None else None,
                **d.fields,
            ))
        Person.objects.bulk_create(persons)
        family = [FamilyMember(person=p, **f) for p, d in zip(persons, batch, strict=True) for f in d.family]
        FamilyMember.objects.bulk_create(family)
        measures = {d.index: [Measure(person=p, **m) for m in d.measures] for p, d in zip(persons, batch, strict=True)}
        Measure.objects.bulk_create([m for ms in measures.values() for m in ms])
        plans = {d.index: Plan(person=p, author=_actor(users, "social", p.jurisdiction_id), **d.plan)
                 for p, d in zip(persons, batch, strict=True) if d.plan}
        Plan.objects.bulk_create(list(plans.values()))
        summary.family_members += len(family)
        summary.measures += sum(len(ms) for ms in measures.values())
        summary.plans += len(plans)
        for offset, (p, d) in enumerate(zip(persons, batch, strict=True)):
            per_day: Counter[date] = Counter()
            for e in sorted(d.events, key=lambda e: e.on):
                ref = plans[d.index] if e.ref == "plan" else (measures[d.index][e.ref] if e.ref is not None else p)
                timeline_add(person=p, kind=e.kind, summary=e.summary, actor=_actor(users, e.actor, p.jurisdiction_id),
                             ref=ref, at=_at(rng, e.on, per_day[e.on]), group=EVENT_GROUPS.get(e.kind, ""))
                per_day[e.on] += 1
            summary.timeline_events += len(d.events)
            if progress:
                progress(start + offset + 1, total)


@transaction.atomic
def drop_generated_measures(measures) -> None:
    """Delete measures the generator invented that a chain's own record now replaces, with the
    timeline entries that announced them (the chains' services write their own)."""
    for measure in list(measures):
        TimelineEvent.objects.filter(person=measure.person_id, kind="person.measure_added",
                                     summary__contains=measure.start_on.isoformat()).delete()
        Measure.objects.filter(pk=measure.pk).delete()


def _assign_workers(users: dict[str, User]) -> None:
    """Persons the handover brought to the community side, or a transfer moved to another township,
    get their (new) township's worker."""
    for person in Person.objects.filter(status__in=COMMUNITY_STATUSES).select_related("responsible_worker"):
        worker = users.get(f"worker_{person.jurisdiction_id[:9]}")
        current = person.responsible_worker
        if worker is not None and (current is None or current.jurisdiction_id != person.jurisdiction_id[:9]):
            Person.objects.filter(pk=person.pk).update(responsible_worker=worker)
    # As in the generator's own histories, a completed term leaves no one responsible.
    Person.objects.filter(status=Status.COMPLETED).update(responsible_worker=None)


def generate(*, persons: int = DEFAULT_PERSONS, seed: int = DEFAULT_SEED, today: date | None = None,
             progress: Callable[[int, int], None] | None = None, chains: bool = False) -> Summary:
    """Build the demo city into the database (meant for an empty registry) in one transaction.

    ``progress(done, total)`` is called as persons are written. With ``chains`` (what
    ``seed_demo`` asks for) the handover, supervision and risk chains then add their histories
    through their own services; without it the city holds only the generator's own history, whose
    invariants liangyi/demo/tests/test_seed_demo.py checks.
    """
    today = today or timezone.localdate()
    city = _City(seed=seed, today=today)
    summary = Summary(seed=seed, persons=persons)
    summary.jurisdictions_created = _write_tree(city.places)
    users = _write_staff(city.rng, summary)
    drafts = city.drafts(persons)
    _write_persons(drafts, users, city.rng, summary, progress)
    if chains:
        # The chains' histories, through their own services, in this order: the handover takes the
        # persons in isolation, supervision tells its stories, risk grades every community term left,
        # medical records each running term's insurance years, security adds sealed records and
        # break-the-glass openings.
        from liangyi.demo import handover as demo_handover
        from liangyi.demo import medical as demo_medical
        from liangyi.demo import risk as demo_risk
        from liangyi.demo import security as demo_security
        from liangyi.demo import supervision as demo_supervision

        # Their events are stamped the evening before ``today`` (the summaries carry the real dates),
        # so that the demo's history never lies in its own future.
        with timeline_clock(timezone.make_aware(datetime.combine(today, time())) - timedelta(minutes=1)):
            summary.handover = demo_handover.populate(today=today, rng=city.rng, users=users)
            summary.supervision = demo_supervision.populate(today=today, rng=city.rng, users=users)
            summary.risk = demo_risk.populate(today=today, rng=city.rng, users=users)
            summary.medical = demo_medical.populate(today=today, rng=city.rng, users=users)
            summary.security = demo_security.populate(today=today, rng=city.rng, users=users)
        _assign_workers(users)
    summary.duplicates = sum(1 for d in drafts if d.duplicate_of is not None)
    summary.by_status = dict(Counter(d.status for d in drafts))
    return summary
