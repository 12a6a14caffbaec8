"""Rule sets: `manage.py rules`, grades and sources, province overrides."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from liangyi.core import rules
from liangyi.core.rules import RuleSetError

INTERFACE_KEYS = [
    "report_deadline_days", "release_notice_days", "isolation_term_years", "community_drug_rehab_term_years",
    "community_rehab_max_term_years", "leave_report_min_days", "serious_violation_refused_tests",
    "serious_violation_absences", "serious_violation_absence_days",
]


@pytest.fixture(autouse=True)
def fresh_ruleset():
    rules.current.cache_clear()
    yield
    rules.current.cache_clear()


def rules_json() -> list[dict]:
    out = StringIO()
    call_command("rules", "--json", stdout=out)
    return json.loads(out.getvalue())


def write(tmp_path, text: str):
    path = tmp_path / "yunnan.toml"
    path.write_text(text, encoding="utf-8")
    return path


class TestRulesCommand:
    def test_json_is_a_list_with_every_interface_key(self):
        data = rules_json()
        assert isinstance(data, list)
        by_key = {entry["key"]: entry for entry in data}
        assert len(by_key) == len(data), "keys are unique"
        for key in INTERFACE_KEYS:
            assert key in by_key, key
            entry = by_key[key]
            assert {"key", "value", "unit", "grade", "source"} <= set(entry)
            assert entry["grade"] in {"law", "local", "open"}
            assert entry["source"].strip()
            assert entry["unit"].strip()

    def test_every_rule_has_a_grade_and_a_source(self):
        for entry in rules_json():
            assert entry["grade"] in {"law", "local", "open"}, entry["key"]
            assert entry["source"].strip(), entry["key"]

    def test_the_values_are_those_of_the_law(self):
        by_key = {e["key"]: e for e in rules_json()}
        assert by_key["report_deadline_days"]["value"] == 15
        assert by_key["release_notice_days"]["value"] == 3
        assert by_key["isolation_term_years"]["value"] == 2
        assert by_key["community_drug_rehab_term_years"]["value"] == 3
        assert by_key["serious_violation_absence_days"]["value"] == 30
        assert by_key["report_deadline_days"]["grade"] == "law"

    def test_without_json_it_prints_a_readable_table(self):
        out = StringIO()
        call_command("rules", stdout=out)
        text = out.getvalue()
        assert "national" in text
        for key in INTERFACE_KEYS:
            line = next(line for line in text.splitlines() if line.startswith(key + " "))
            assert "law" in line
            assert "Reg" in line or "Law" in line

    def test_the_command_shows_an_active_override(self, tmp_path):
        path = write(tmp_path, '[meta]\nversion = "yn-1"\n\n[rules.caseload_per_worker]\nvalue = 20\n'
                               'source = "云南省 example"\n')
        with override_settings(RULESET_OVERRIDE=str(path)):
            rules.current.cache_clear()
            by_key = {e["key"]: e for e in rules_json()}
        assert by_key["caseload_per_worker"]["value"] == 20
        assert by_key["caseload_per_worker"]["source"] == "云南省 example"
        assert by_key["caseload_per_worker"]["grade"] == "local"


class TestOverrides:
    def test_a_province_can_change_a_local_value(self, tmp_path):
        path = write(tmp_path, "[rules.test_interval_months_year2]\nvalue = 1\n")
        ruleset = rules.load("national", str(path))
        assert rules.load("national").value("test_interval_months_year2") == 2
        assert ruleset.value("test_interval_months_year2") == 1
        assert ruleset.rule("test_interval_months_year2").grade == "local"
        assert ruleset.version.endswith("+yunnan")

    def test_changing_a_law_value_without_why_is_refused(self, tmp_path):
        path = write(tmp_path, "[rules.report_deadline_days]\nvalue = 10\n")
        with pytest.raises(RuleSetError, match="why"):
            rules.load("national", str(path))

    def test_changing_a_law_value_with_why_works(self, tmp_path):
        path = write(tmp_path, '[rules.report_deadline_days]\nvalue = 10\nwhy = "Provincial pilot, stricter"\n')
        ruleset = rules.load("national", str(path))
        assert ruleset.value("report_deadline_days") == 10
        assert ruleset.rule("report_deadline_days").why == "Provincial pilot, stricter"
        assert ruleset.rule("report_deadline_days").as_dict()["why"] == "Provincial pilot, stricter"

    def test_restating_a_law_value_needs_no_why(self, tmp_path):
        path = write(tmp_path, '[rules.report_deadline_days]\nvalue = 15\nsource = "Reg 14, as in Yunnan"\n')
        assert rules.load("national", str(path)).value("report_deadline_days") == 15

    def test_an_unknown_key_in_an_override_is_refused(self, tmp_path):
        path = write(tmp_path, "[rules.report_deadline_dayz]\nvalue = 10\n")
        with pytest.raises(RuleSetError, match="report_deadline_dayz"):
            rules.load("national", str(path))

    def test_asking_for_an_unknown_key_is_an_error(self):
        with pytest.raises(RuleSetError):
            rules.load("national").value("no_such_rule")

    def test_a_missing_or_broken_file_is_an_error(self, tmp_path):
        with pytest.raises(RuleSetError):
            rules.load("national", str(tmp_path / "absent.toml"))
        with pytest.raises(RuleSetError):
            rules.load("national", str(write(tmp_path, "[rules.x\nvalue = ")))


def test_downgrading_a_law_rule_needs_a_why_too(tmp_path):
    from liangyi.core import rules

    override = tmp_path / "p.toml"
    override.write_text('[rules.report_deadline_days]\ngrade = "local"\n', encoding="utf-8")
    with pytest.raises(rules.RuleSetError):
        rules.load("national", str(override))
