"""Grading is deterministic for the same facts and rule-set version, explained factor by factor,
and lands on the right level at each threshold (shipped rule sets and the threshold logic)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liangyi.core import rules as core_rules
from liangyi.core.rules import RuleSet
from liangyi.risk import grading

DEFAULT = grading.load("risk_grading_default")
ABC = grading.load("risk_grading_abc")

# Facts worth 0 points under both shipped rule sets.
BASE = {
    "bad_tests": 0, "missed_obligations": 0, "past_episodes": 1, "months_since_release": None, "drug_type": [],
    "manner_of_use": None, "age_at_first_use": None, "employment": "employed", "family_support": "good",
    "social_support": "good", "phq9": None, "audit": None,
}


def facts(**changes):
    return {**BASE, **changes}


class TestTheShippedRuleSets:
    def test_both_parse_and_every_level_has_control_values(self):
        for rules in (DEFAULT, ABC):
            assert rules.version
            assert set(rules.control) == {lv.key for lv in rules.levels}
        assert [lv.key for lv in ABC.levels] == ["A", "B", "C1", "C2"]
        assert [lv.colour for lv in DEFAULT.levels] == ["red", "yellow", "green"]

    def test_the_national_rule_names_the_default(self):
        assert grading.current().key == "risk_grading_default"

    def test_a_province_can_switch_to_abc_through_the_rule_set(self, monkeypatch):
        national = core_rules.load("national")
        rules = dict(national.rules)
        rules["risk_grading_ruleset"] = replace(rules["risk_grading_ruleset"], value="risk_grading_abc")
        monkeypatch.setattr(core_rules, "current", lambda: RuleSet("national", "x", rules))
        assert grading.current().key == "risk_grading_abc"

    def test_the_base_facts_are_worth_nothing(self):
        result = grading.grade(facts(), DEFAULT)
        assert (result.points, result.level) == (0, "low")


class TestDefaultThresholds:
    # Every weight is a multiple of 5, so the step below a threshold is 5 points.
    def test_20_points_is_low(self):
        result = grading.grade(facts(employment="unemployed", drug_type=["海洛因"]), DEFAULT)
        assert (result.points, result.level) == (20, "low")

    def test_25_points_is_medium(self):
        result = grading.grade(facts(employment="unemployed", drug_type=["海洛因"], past_episodes=2), DEFAULT)
        assert (result.points, result.level) == (25, "medium")

    def test_45_points_is_medium(self):
        # unemployed 10 + heroin 10 + five measures 15 + 12 months since release 5 + first use at 20: 5
        result = grading.grade(facts(employment="unemployed", drug_type=["海洛因"], past_episodes=5,
                                     months_since_release=12, age_at_first_use=20), DEFAULT)
        assert (result.points, result.level) == (45, "medium")

    def test_50_points_is_high(self):
        result = grading.grade(facts(employment="unemployed", drug_type=["海洛因"], past_episodes=5,
                                     months_since_release=12, age_at_first_use=20, manner_of_use="injecting"), DEFAULT)
        assert (result.points, result.level) == (50, "high")

    def test_one_bad_test_makes_at_least_medium(self):
        result = grading.grade(facts(bad_tests=1), DEFAULT)
        assert (result.points, result.level) == (25, "medium")

    def test_two_bad_tests_make_high_by_floor_below_the_points_threshold(self):
        result = grading.grade(facts(bad_tests=2), DEFAULT)
        assert (result.points, result.level, result.by_floor) == (40, "high", "bad_tests")

    def test_unknown_employment_and_family_count_as_set_in_the_file(self):
        result = grading.grade(facts(employment=None, family_support=None), DEFAULT)
        assert result.points == 10
        rules = {f.key: f.rule for f in result.factors}
        assert rules["employment"] == rules["family_support"] == "unknown"

    def test_a_list_takes_its_highest_match_and_unlisted_values_score_other(self):
        result = grading.grade(facts(drug_type=["大麻", "冰毒"]), DEFAULT)
        row = next(f for f in result.factors if f.key == "drug_type")
        assert (row.points, row.rule) == (10, "冰毒")
        row = next(f for f in grading.grade(facts(drug_type=["新型毒品X"]), DEFAULT).factors if f.key == "drug_type")
        assert (row.points, row.rule) == (5, "other")

    @pytest.mark.parametrize(("score", "points"), [(9, 0), (10, 5), (19, 5), (20, 10)])
    def test_phq9_bands(self, score, points):
        row = next(f for f in grading.grade(facts(phq9=score), DEFAULT).factors if f.key == "phq9")
        assert row.points == points


class TestABC:
    def test_long_term_low_is_c2(self):
        result = grading.grade(facts(months_since_release=30), ABC)
        assert (result.points, result.level) == (0, "C2")

    def test_less_than_24_months_since_release_is_c1(self):
        result = grading.grade(facts(months_since_release=20), ABC)
        assert (result.points, result.level) == (5, "C1")

    def test_above_14_points_is_c1_even_long_after_release(self):
        result = grading.grade(facts(months_since_release=30, employment="unemployed", drug_type=["K粉"]), ABC)
        assert (result.points, result.level) == (15, "C1")
        result = grading.grade(facts(months_since_release=30, employment="unemployed"), ABC)
        assert (result.points, result.level) == (10, "C2")

    def test_never_released_is_not_c2(self):
        assert grading.grade(facts(), ABC).level == "C1"

    def test_b_and_a(self):
        assert grading.grade(facts(employment="unemployed", drug_type=["海洛因"], past_episodes=2), ABC).level == "B"
        assert grading.grade(facts(bad_tests=2), ABC).level == "A"


def synthetic(thresholds):
    return grading.parse({
        "meta": {"key": "t", "version": "1", "title": "T", "source": "s"},
        "levels": [{"key": "h", "text": "H", "colour": "red"}, {"key": "m", "text": "M", "colour": "yellow"},
                   {"key": "l", "text": "L", "colour": "green"}],
        "thresholds": thresholds,
        "factors": [{"key": "n", "fact": "past_episodes", "text": "n", "source": "s",
                     "bands": [{"min": v, "points": v} for v in range(0, 101)]}],
        "control": {k: {"test_interval_months": 1, "contact_interval_months": 1, "reassessment_interval_months": 1}
                    for k in ("h", "m", "l")},
    })


class TestThresholdLogic:
    RULES = synthetic([{"level": "h", "min_points": 50}, {"level": "m", "min_points": 25}, {"level": "l"}])

    @pytest.mark.parametrize(("points", "level"), [(0, "l"), (24, "l"), (25, "m"), (49, "m"), (50, "h"), (100, "h")])
    def test_each_side_of_each_threshold(self, points, level):
        result = grading.grade({"n": points}, self.RULES)
        assert (result.points, result.level) == (points, level)

    def test_the_last_threshold_must_be_unconditional(self):
        with pytest.raises(grading.GradingRuleError, match="last threshold"):
            synthetic([{"level": "h", "min_points": 50}, {"level": "l", "min_points": 0}])

    def test_an_unknown_fact_is_refused(self):
        with pytest.raises(grading.GradingRuleError, match="unknown fact"):
            grading.parse({
                "meta": {"key": "t", "version": "1", "title": "T", "source": "s"},
                "levels": [{"key": "l", "text": "L", "colour": "green"}], "thresholds": [{"level": "l"}],
                "factors": [{"key": "x", "fact": "horoscope", "text": "x", "source": "s", "match": {"a": 1}}],
                "control": {"l": {"test_interval_months": 1, "contact_interval_months": 1,
                                  "reassessment_interval_months": 1}},
            })


FACT_VALUES = st.fixed_dictionaries({
    "bad_tests": st.integers(0, 5), "missed_obligations": st.integers(0, 6), "past_episodes": st.integers(0, 8),
    "months_since_release": st.none() | st.integers(0, 80),
    "drug_type": st.lists(st.sampled_from(["海洛因", "冰毒", "大麻", "K粉", "其他"]), max_size=3),
    "manner_of_use": st.none() | st.sampled_from(["smoking", "injecting", "mixed"]),
    "age_at_first_use": st.none() | st.integers(10, 60),
    "employment": st.none() | st.sampled_from(["employed", "unemployed", "self_employed", "retired"]),
    "family_support": st.none() | st.sampled_from(["good", "fair", "poor"]),
    "social_support": st.none() | st.sampled_from(["good", "fair", "poor"]),
    "phq9": st.none() | st.integers(0, 27), "audit": st.none() | st.integers(0, 40),
})


@given(FACT_VALUES, st.sampled_from([DEFAULT, ABC]))
def test_grading_is_deterministic_and_the_factors_add_up(known, rules):
    first, second = grading.grade(known, rules), grading.grade(dict(known), rules)
    assert first == second
    assert first.points == sum(f.points for f in first.factors)
    assert [f.key for f in first.factors] == [f.key for f in rules.factors]
    assert first.level in {lv.key for lv in rules.levels}


@given(FACT_VALUES, st.integers(1, 3))
def test_more_bad_tests_never_lower_the_level(known, more):
    worse = {**known, "bad_tests": known["bad_tests"] + more}
    assert DEFAULT.rank(grading.grade(worse, DEFAULT).level) <= DEFAULT.rank(grading.grade(known, DEFAULT).level)
