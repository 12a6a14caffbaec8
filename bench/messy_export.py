"""A messy police dynamic-control export of the bench province, and its ground truth (issue 6).

    .venv/bin/python bench/messy_export.py [--persons 300000] [--seed 53] [--out DIR]

The registry's plaintext comes from ``province.persons(n, seed)`` (regenerated, never decrypted).
The export (CSV, GB18030, INTERFACES.md "Police dynamic-control export") holds about as many rows
as the registry: ~96 % of the registered persons (the rest are absent, so the active ones are
``missing_in_police``), plus unknown persons, near-twins, duplicated rows and blank rows, with
the damage real exports show, at these rates per registered person's row:

=========================  ======  =========================================================
damage                     rate    expected outcome
=========================  ======  =========================================================
full-width digits          2 %     exact (normalised)
spaces inside the number   1 %     exact
lowercase x                30 % of numbers ending in X; exact
15-digit legacy number     3 %     (born before 2000) recoverable: upgraded and corroborated
Excel float 5.30302E+17    1 %     recoverable only if one registered person of the same
                                   name, birth date and gender lies in the float's range and
                                   the place of control agrees
wrong check character      0.5 %   recoverable iff exactly one registered number is one edit
one mistyped digit         0.5 %   away (substitution of any character, adjacent
adjacent transposition     0.5 %   transposition); a damage that gives a valid number is redrawn
traditional name           2 %     not a difference
real name difference       0.3 %   name_mismatch (only on undamaged numbers)
status disagreement        3 %     status_mismatch
jurisdiction disagreement  2 %     jurisdiction_mismatch (another county's township)
duplicated row             1 %     duplicate_in_police (a later copy of an undamaged row)
unknown person             2 %     missing_in_registry
near-twin                  0.3 %   missing_in_registry: same name, birth date, gender and
                                   county as a registered person, another valid number
blank row                  0.2 %   nothing (counted in police_row)
=========================  ======  =========================================================

The ground truth (CSV, UTF-8) has one line per export data row: ``police_row``, ``person_id``
(the true registered person, or empty), ``id_class`` (``exact``, ``recoverable``,
``unrecoverable``, ``unknown``, ``blank``), ``expected`` (the categories the row must produce,
``|``-separated; an unrecoverable row expects ``invalid_row`` and no person) and ``damage``.
Recoverability is computed here by brute force over the registry's plaintext numbers, not by
the engine.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import province  # noqa: E402

HEADER = ("序号", "姓名", "性别", "公民身份号码", "出生日期", "户籍地址", "现住址", "管辖单位", "管辖地代码",
          "管控状态", "更新时间")
POLICE_LABEL = {
    "isolation": ("强制隔离戒毒",), "awaiting_report": ("社区戒毒", "社区康复"), "community_drug_rehab": ("社区戒毒",),
    "community_rehab": ("社区康复",), "suspended": ("拘留", "逮捕"), "completed": ("",),
    "abstinent_3y": ("戒断三年未发现复吸",), "imprisoned": ("服刑",), "deceased": ("死亡",),
    "whereabouts_unknown": ("失控",),
}
ALL_LABELS = ("强制隔离戒毒", "社区戒毒", "社区康复", "戒断三年未发现复吸", "拘留", "逮捕", "服刑", "死亡", "失控")
PRESENT_SHARE = 0.96
RATES = {
    "fullwidth": 0.02, "spaces": 0.01, "legacy15": 0.03, "excel_float": 0.01, "wrong_check": 0.005,
    "typo": 0.005, "transposition": 0.005, "traditional": 0.02, "name_diff": 0.003, "status": 0.03,
    "jurisdiction": 0.02, "duplicate": 0.01, "unknown": 0.02, "near_twin": 0.003, "blank": 0.002,
}
LOWER_X = 0.3


@dataclass
class Row:
    key: float
    cells: dict[str, str]
    person_id: str = ""
    id_class: str = "exact"
    expected: list[str] = field(default_factory=list)
    damage: list[str] = field(default_factory=list)
    true_person: str = ""


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() or c == "X" else c for c in text)


def _spaced(text: str) -> str:
    return f"{text[:6]} {text[6:14]} {text[14:]}"


def single_edits(text: str) -> set[str]:
    """Every number one substitution (any of the 18 characters) or one adjacent swap away."""
    out = set()
    alphabet = "0123456789"
    for i in range(18):
        for c in (alphabet + "X" if i == 17 else alphabet):
            if c != text[i]:
                out.add(text[:i] + c + text[i + 1:])
    for i in range(17):
        if text[i] != text[i + 1]:
            out.add(text[:i] + text[i + 1] + text[i] + text[i + 2:])
    return out


def _damage_number(number: str, kind: str, rng: random.Random) -> str:
    from liangyi.core import idnumber

    for _attempt in range(50):
        if kind == "wrong_check":
            damaged = number[:17] + rng.choice([c for c in "0123456789X" if c != number[17]])
        elif kind == "typo":
            i = rng.randrange(17)
            damaged = number[:i] + rng.choice([c for c in "0123456789" if c != number[i]]) + number[i + 1:]
        else:
            i = rng.randrange(16)
            if number[i] == number[i + 1]:
                continue
            damaged = number[:i] + number[i + 1] + number[i] + number[i + 2:]
        if not idnumber.is_valid(damaged):
            return damaged
    return number[:17] + ("0" if number[17] != "0" else "1")


def _excel_text(number: str, rng: random.Random) -> tuple[str, int, int]:
    """As a spreadsheet saved it: 6 significant digits usually, 12 when the column was wide."""
    digits = 6 if rng.random() < 0.8 else 12
    text = f"{float(number):.{digits - 1}E}"
    mantissa, exp = text.split("E+")
    value = int(mantissa.replace(".", "")) * 10 ** (int(exp) - (digits - 1))
    return text, value, 10 ** (int(exp) - (digits - 1))


def build(persons: list[province.PersonRow], seed: int, export_path: Path, truth_path: Path) -> dict[str, int]:
    from opencc import OpenCC

    from liangyi.reconcile.matching import name_agreement, place_agrees

    s2t = OpenCC("s2t").convert
    rng = random.Random(seed * 7 + 1)
    registered = {p.id_number: p for p in persons}
    by_birth_gender: dict[tuple, list[province.PersonRow]] = defaultdict(list)
    for p in persons:
        by_birth_gender[(p.birth, p.gender)].append(p)
    towns = province.townships()
    order = list(range(len(persons)))
    rng.shuffle(order)
    rows: list[Row] = []
    stamp = "2025-06-30 09:15:00"

    def cells(p_name, gender, number_text, birth, town, status_text) -> dict[str, str]:
        return {"姓名": p_name, "性别": "男" if gender == "M" else "女", "公民身份号码": number_text,
                "出生日期": birth.isoformat(), "户籍地址": f"云南省{town}号", "现住址": f"云南省{town}号",
                "管辖单位": f"{town[:6]}公安局禁毒大队", "管辖地代码": town if rng.random() < 0.8 else town[:6],
                "管控状态": status_text, "更新时间": stamp}

    for position, i in enumerate(order):
        p = persons[i]
        if rng.random() >= PRESENT_SHARE:
            continue
        row = Row(key=position, cells={}, person_id=p.pk)
        name, town = p.name, p.jurisdiction
        status_text = rng.choice(POLICE_LABEL[p.status])
        expected: list[str] = []
        number_text = p.id_number
        r = rng.random()
        edges = []
        acc = 0.0
        for kind in ("fullwidth", "spaces", "legacy15", "excel_float", "wrong_check", "typo", "transposition"):
            acc += RATES[kind]
            edges.append((acc, kind))
        id_damage = next((kind for edge, kind in edges if r < edge), "")
        if (id_damage == "legacy15" and p.birth.year >= 2000) or (id_damage == "excel_float"
                                                                   and not p.id_number.isdigit()):
            id_damage = ""
        if rng.random() < RATES["status"]:
            agreeing = set(POLICE_LABEL[p.status])
            status_text = rng.choice([lab for lab in ALL_LABELS if lab not in agreeing and not (
                p.status == "awaiting_report" and lab in ("社区戒毒", "社区康复"))])
            row.damage.append("status")
            expected.append("status_mismatch")
        if rng.random() < RATES["jurisdiction"]:
            town = rng.choice([t for t in towns if t[:6] != p.jurisdiction[:6]])
            row.damage.append("jurisdiction")
            expected.append("jurisdiction_mismatch")
        if rng.random() < RATES["traditional"]:
            traditional = s2t(name)
            if traditional != name:
                name = traditional
                row.damage.append("traditional")
        elif not id_damage and rng.random() < RATES["name_diff"] / (1 - RATES["traditional"]):
            name = name[0] + ("德" if name[1:2] != "德" else "福") + name[2:]
            row.damage.append("name_diff")
            expected.append("name_mismatch")
        if id_damage:
            row.damage.append(id_damage)
        if id_damage in ("", "fullwidth", "spaces"):
            if id_damage == "fullwidth":
                number_text = _fullwidth(number_text)
            elif id_damage == "spaces":
                number_text = _spaced(number_text)
            if number_text.endswith("X") and rng.random() < LOWER_X:
                number_text = number_text[:-1] + "x"
                row.damage.append("lowercase_x")
            row.id_class = "exact"
        elif id_damage == "legacy15":
            number_text = p.id_number[:6] + p.id_number[8:17]
            row.id_class = "recoverable"
        elif id_damage == "excel_float":
            number_text, value, unit = _excel_text(p.id_number, rng)
            pool = [q for q in by_birth_gender[(p.birth, p.gender)]
                    if name_agreement(q.name, name) is not None
                    and q.id_number.isdigit() and value - unit // 2 <= int(q.id_number) < value + unit]
            row.id_class = "recoverable" if len(pool) == 1 and pool[0].pk == p.pk and place_agrees(
                p.jurisdiction, town) else "unrecoverable"
        else:
            number_text = _damage_number(p.id_number, id_damage, rng)
            hits = [registered[c] for c in single_edits(number_text) if c in registered]
            row.id_class = "recoverable" if len(hits) == 1 and hits[0].pk == p.pk else "unrecoverable"
        if row.id_class == "recoverable":
            expected.insert(0, "matched_corrected_id")
        elif row.id_class == "unrecoverable":
            expected = ["invalid_row"]
            row.person_id = ""
            row.true_person = p.pk  # the person it really was, for the report
        row.expected = expected or ["matched"]
        row.cells = cells(name, p.gender, number_text, p.birth, town, status_text)
        if id_damage == "excel_float":
            row.cells["管辖地代码"] = town
        rows.append(row)
        if row.id_class == "exact" and rng.random() < RATES["duplicate"]:
            copy = dict(row.cells)
            copy["公民身份号码"] = _fullwidth(p.id_number) if rng.random() < 0.3 else p.id_number
            rows.append(Row(key=position + rng.uniform(0.5, 5000), cells=copy, person_id=p.pk, id_class="exact",
                            expected=["duplicate_in_police"], damage=["duplicate"]))

    n = len(persons)
    taken = set(registered)
    for _ in range(int(n * RATES["unknown"])):
        gender = "M" if rng.random() < 0.85 else "F"
        birth = province.REFERENCE_DAY - province.timedelta(days=rng.randint(18 * 365, 70 * 365))
        town = rng.choice(towns)
        name = province._name(rng, gender)
        number = province._id_number(town[:6], birth, gender, rng, taken)
        rows.append(Row(key=rng.uniform(0, n), cells=cells(name, gender, number, birth, town, rng.choice(ALL_LABELS)),
                        id_class="unknown", expected=["missing_in_registry"], damage=["unknown"]))
    for _ in range(int(n * RATES["near_twin"])):
        p = persons[rng.randrange(n)]
        number = province._id_number(p.id_number[:6], p.birth, p.gender, rng, taken)
        rows.append(Row(key=rng.uniform(0, n), cells=cells(p.name, p.gender, number, p.birth, p.jurisdiction,
                                                           rng.choice(POLICE_LABEL[p.status]) or "社区康复"),
                        id_class="unknown", expected=["missing_in_registry"], damage=["near_twin"]))
    for _ in range(int(n * RATES["blank"])):
        rows.append(Row(key=rng.uniform(0, n), cells={}, id_class="blank", expected=[], damage=["blank"]))
    rows.sort(key=lambda r: r.key)

    counts: dict[str, int] = defaultdict(int)
    with export_path.open("w", encoding="gb18030", newline="") as fh, truth_path.open("w", encoding="utf-8",
                                                                                      newline="") as th:
        writer, truth = csv.writer(fh), csv.writer(th)
        writer.writerow(HEADER)
        truth.writerow(("police_row", "person_id", "id_class", "expected", "damage", "true_person"))
        for number, row in enumerate(rows, start=1):
            if row.id_class == "blank":
                writer.writerow([""] * len(HEADER))
            else:
                writer.writerow([str(number)] + [row.cells[h] for h in HEADER[1:]])
            truth.writerow((number, row.person_id, row.id_class, "|".join(row.expected), "|".join(row.damage),
                            row.true_person or row.person_id))
            counts[row.id_class] += 1
            for d in row.damage:
                counts["damage:" + d] += 1
    counts["rows"] = len(rows)
    return dict(counts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a messy police export of the bench province.")
    parser.add_argument("--persons", type=int, default=province.DEFAULT_PERSONS)
    parser.add_argument("--seed", type=int, default=province.DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=province.ROOT / "var" / "bench")
    args = parser.parse_args(argv)
    province.setup_django()
    t = time.perf_counter()
    people = province.persons(args.persons, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    export = args.out / f"export-{args.persons}-{args.seed}.csv"
    truth = args.out / f"export-{args.persons}-{args.seed}.truth.csv"
    counts = build(people, args.seed, export, truth)
    print(f"{export} ({counts['rows']} rows) and {truth} in {time.perf_counter() - t:.1f} s")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]}")


if __name__ == "__main__":
    main()
