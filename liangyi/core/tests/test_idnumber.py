"""Resident ID numbers (GB 11643-1999) and unified social credit codes (GB 32100-2015)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from liangyi.core import creditcode, idnumber
from liangyi.core.idnumber import IdNumberError

# Real county-level address codes (GB/T 2260) from several provinces.
COUNTIES = ["110101", "310104", "440305", "510107", "530102", "530302", "530381", "533102", "650102", "820001"]
ID_CHARS = "0123456789X"

counties = st.sampled_from(COUNTIES)
births = st.dates(min_value=date(1930, 1, 1), max_value=date(2010, 12, 31))
sequences = st.integers(min_value=0, max_value=999)


@st.composite
def valid_numbers(draw) -> str:
    return idnumber.build(draw(counties), draw(births), draw(sequences))


def reference_check(first17: str) -> str:
    """The check character as RULES.md states it, independently of the module under test."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


class TestValidNumbers:
    @given(counties, births, sequences)
    def test_every_generated_number_parses_and_reads_back(self, county, birth, sequence):
        first17 = f"{county}{birth:%Y%m%d}{sequence:03d}"
        number = first17 + reference_check(first17)
        parsed = idnumber.parse(number)
        assert parsed.number == number
        assert parsed.address_code == county
        assert parsed.birth_date == birth
        assert parsed.gender == ("M" if sequence % 2 else "F")
        assert not parsed.converted_from_legacy

    @given(valid_numbers())
    def test_build_agrees_with_the_reference_check_character(self, number):
        assert number[17] == reference_check(number[:17])

    @given(valid_numbers(), st.data())
    def test_every_single_character_corruption_fails(self, number, data):
        position = data.draw(st.integers(min_value=0, max_value=17), label="position")
        replacement = data.draw(st.sampled_from([c for c in ID_CHARS if c != number[position]]), label="char")
        corrupted = number[:position] + replacement + number[position + 1:]
        with pytest.raises(IdNumberError) as exc:
            idnumber.parse(corrupted)
        assert exc.value.code in {idnumber.ERR_CHARACTERS, idnumber.ERR_BIRTH_DATE, idnumber.ERR_ADDRESS,
                                  idnumber.ERR_CHECK}

    @pytest.mark.parametrize("position", range(18))
    def test_each_position_and_each_other_character_fails(self, position):
        number = "53030219700307123X"
        for replacement in ID_CHARS:
            if replacement == number[position]:
                continue
            corrupted = number[:position] + replacement + number[position + 1:]
            assert not idnumber.is_valid(corrupted), corrupted

    @given(valid_numbers())
    def test_masking_keeps_the_address_code_and_the_last_four(self, number):
        masked = idnumber.mask(number)
        assert len(masked) == 18
        assert masked == number[:6] + "*" * 8 + number[-4:]
        assert idnumber.parse(number).masked == masked


class TestRulesExamples:
    def test_the_check_character_x(self):
        # Weighted sum mod 11 = 2 maps to X.
        number = idnumber.build("530302", date(1970, 3, 7), 123)
        assert number == "53030219700307123X"
        assert reference_check(number[:17]) == "X"
        assert idnumber.parse(number).number == number

    def test_a_check_digit_number(self):
        assert idnumber.parse("530302197003121233").number == "530302197003121233"
        assert not idnumber.is_valid("530302197003121234")

    def test_the_masked_shape_of_rules_md(self):
        assert idnumber.mask("53030219700307123X") == "530302********123X"
        assert idnumber.parse("53030219700307123x").masked == "530302********123X"

    def test_legacy_conversion_inserts_19_and_appends_the_check(self):
        legacy = "530302700307123"
        parsed = idnumber.parse(legacy)
        assert parsed.converted_from_legacy
        assert parsed.number == "53030219700307123X"
        assert parsed.birth_date == date(1970, 3, 7)
        assert parsed.gender == "M"

    @given(counties, st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)), sequences)
    def test_every_legacy_number_converts_to_a_valid_one(self, county, birth, sequence):
        legacy = f"{county}{birth:%y%m%d}{sequence:03d}"
        parsed = idnumber.parse(legacy)
        assert parsed.number == idnumber.build(county, birth, sequence)
        assert idnumber.is_valid(parsed.number)


class TestNormalisation:
    NUMBER = "53030219700307123X"

    @pytest.mark.parametrize("messy", [
        "５３０３０２１９７００３０７１２３Ｘ",   # full-width digits and X
        "53030219700307123x",                  # lowercase x
        "530302 19700307 123X",                # spaces
        "530302-19700307-123X",                # dashes
        " 5303 0219 7003 0712 3x ",            # everything at once
        "'53030219700307123X",                 # the apostrophe Excel users type to keep text
        "５３０３０２-１９７００３０７ １２３ｘ",
        "530302\u300019700307\t123X",           # an ideographic space and a tab
    ])
    def test_messy_spellings_normalise_to_the_number(self, messy):
        assert idnumber.parse(messy).number == self.NUMBER

    @pytest.mark.parametrize("raw", ["5.30302197003121E+17", "5.30302E+17", 5.30302197003121e17,
                                     "5.30302197003121e+17"])
    def test_an_excel_float_is_refused_by_name(self, raw):
        # Excel keeps 15 significant digits: the last ones are gone, whatever they were.
        with pytest.raises(IdNumberError) as exc:
            idnumber.parse(raw)
        assert exc.value.code == idnumber.ERR_FLOAT
        assert "spreadsheet" in str(exc.value.message)

    def test_an_excel_float_is_refused_even_when_its_expansion_passes_the_check(self):
        # Find a 15-significant-digit prefix whose zero-padded expansion happens to be valid:
        # it names someone else, so it must never be accepted.
        for day in range(1, 29):
            digits = f"5303021970030{day:02d}" + "000"  # 15 significant digits, then Excel's zeros
            if idnumber.check_character(digits[:17]) == digits[17] and idnumber.is_valid(digits):
                break
        else:
            raise AssertionError("no such expansion found")
        as_excel = f"{digits[0]}.{digits[1:15]}E+17"
        assert idnumber.normalise(as_excel) == digits
        assert idnumber.parse(digits).number == digits  # typed out, it would be someone's valid number
        with pytest.raises(IdNumberError) as exc:
            idnumber.parse(as_excel)
        assert exc.value.code == idnumber.ERR_FLOAT


class TestErrorCodes:
    @pytest.mark.parametrize(("raw", "code"), [
        ("", idnumber.ERR_EMPTY),
        (None, idnumber.ERR_EMPTY),
        ("   ", idnumber.ERR_EMPTY),
        ("5303021970031212", idnumber.ERR_LENGTH),            # 16 characters
        ("53030219700307123X0", idnumber.ERR_LENGTH),         # 19 characters
        ("53030219700307A23X", idnumber.ERR_CHARACTERS),      # a letter inside
        ("5303021970030712XX", idnumber.ERR_CHARACTERS),      # X before the last place
        ("53030270030712X", idnumber.ERR_CHARACTERS),         # X in a legacy number
        ("530302197002301234", idnumber.ERR_BIRTH_DATE),      # 30 February
        ("530302197013011234", idnumber.ERR_BIRTH_DATE),      # month 13
        ("530302299001011234", idnumber.ERR_BIRTH_DATE),      # born in the future
        ("53030219700307123", idnumber.ERR_LENGTH),           # the check character missing (17)
        ("530302197003071230", idnumber.ERR_CHECK),           # wrong check character (X expected)
        ("990302197003121234", idnumber.ERR_ADDRESS),         # no province 99
        ("000302197003121234", idnumber.ERR_ADDRESS),
    ])
    def test_each_failed_check_is_named(self, raw, code):
        with pytest.raises(IdNumberError) as exc:
            idnumber.parse(raw)
        assert exc.value.code == code
        assert str(exc.value.message)

    def test_an_unknown_address_code_fails_when_a_table_is_loaded(self):
        number = "53030219700307123X"
        assert idnumber.parse(number, address_known=lambda code: code == "530302").number == number
        with pytest.raises(IdNumberError) as exc:
            idnumber.parse(number, address_known=lambda code: False)
        assert exc.value.code == idnumber.ERR_ADDRESS

    def test_the_check_error_says_what_was_expected(self):
        with pytest.raises(IdNumberError) as exc:
            idnumber.parse("530302197003071230")
        assert exc.value.detail == "0 ≠ X"


class TestDerivation:
    @pytest.mark.parametrize(("sequence", "gender"), [(1, "M"), (2, "F"), (123, "M"), (998, "F"), (0, "F")])
    def test_gender_follows_the_17th_digit(self, sequence, gender):
        assert idnumber.parse(idnumber.build("530302", date(1990, 1, 1), sequence)).gender == gender

    def test_the_birth_date_is_digits_7_to_14(self):
        assert idnumber.parse(idnumber.build("110101", date(1949, 10, 1), 11)).birth_date == date(1949, 10, 1)

    def test_a_leap_day_is_a_date(self):
        assert idnumber.parse(idnumber.build("110101", date(2000, 2, 29), 11)).birth_date == date(2000, 2, 29)


# --- unified social credit codes ---------------------------------------------------------------

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def reference_credit_check(first17: str) -> str:
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    total = sum(CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, weights, strict=True))
    return CREDIT_ALPHABET[(31 - total % 31) % 31]


@st.composite
def credit_codes(draw) -> str:
    body = draw(st.text(alphabet=CREDIT_ALPHABET, min_size=17, max_size=17))
    return body + reference_credit_check(body)


class TestCreditCodes:
    @pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L", "91440300708461136T"])
    def test_well_formed_codes_are_valid(self, code):
        assert reference_credit_check(code[:17]) == code[17]
        assert creditcode.parse(code) == code

    @pytest.mark.parametrize("position", range(18))
    def test_each_position_and_each_other_character_fails(self, position):
        code = "91350100M000100Y43"
        for replacement in CREDIT_ALPHABET:
            if replacement != code[position]:
                with pytest.raises(creditcode.CreditCodeError):
                    creditcode.parse(code[:position] + replacement + code[position + 1:])

    @given(credit_codes())
    def test_every_generated_code_parses(self, code):
        assert creditcode.parse(code) == code
        assert creditcode.check_character(code[:17]) == code[17]

    @given(credit_codes())
    def test_lower_case_spaces_and_full_width_are_normalised(self, code):
        messy = " ".join([code[:6], code[6:12], code[12:]]).lower()
        assert creditcode.parse(messy) == code
        full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
        assert creditcode.parse(full_width) == code

    @given(credit_codes(), st.data())
    def test_every_single_character_corruption_fails(self, code, data):
        position = data.draw(st.integers(0, 17), label="position")
        replacement = data.draw(st.sampled_from([c for c in CREDIT_ALPHABET if c != code[position]]), label="char")
        with pytest.raises(creditcode.CreditCodeError) as exc:
            creditcode.parse(code[:position] + replacement + code[position + 1:])
        assert str(exc.value).startswith("check character")

    @pytest.mark.parametrize(("raw", "word"), [
        ("91350100M000100Y4", "length"),
        ("91350100M000100Y433", "length"),
        ("91350100M000100I43", "characters"),   # I is never used
        ("91350100M000100O43", "characters"),   # nor O
        ("91350100M000100Y44", "check"),
    ])
    def test_each_failure_is_named(self, raw, word):
        with pytest.raises(creditcode.CreditCodeError) as exc:
            creditcode.parse(raw)
        assert word in str(exc.value)
