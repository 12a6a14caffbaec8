"""Sensitive fields are encrypted at rest; keyed hashes find them without decrypting."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from liangyi.core import crypto
from liangyi.people.models import Person

KEY_A = "00112233445566778899aabbccddeeff"
KEY_B = "ffeeddccbbaa99887766554433221100"
CIPHERS = {"sm4-gcm": crypto.SM4, "aes-gcm": crypto.AES}


@pytest.fixture(autouse=True)
def fresh_key_cache():
    """The master key is cached; drop it around each test so overridden keys take effect."""
    crypto._master.cache_clear()
    yield
    crypto._master.cache_clear()


def with_key(key: str, cipher: str = "sm4-gcm"):
    crypto._master.cache_clear()
    return override_settings(FIELD_KEY=key, FIELD_CIPHER=cipher)


class TestAtRest:
    COLUMNS = ("id_number", "phone", "household_address", "infectious_disease")

    def raw_row(self, person: Person) -> dict[str, str]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(self.COLUMNS)} FROM {Person._meta.db_table} WHERE id_number_hash = %s",  # noqa: S608
                [person.id_number_hash],
            )
            return dict(zip(self.COLUMNS, cursor.fetchone(), strict=True))

    def test_the_database_holds_no_plaintext(self, person):
        expected_prefix = f"{crypto._cipher_name()}:"
        row = self.raw_row(person)
        plain = {"id_number": person.id_number, "phone": "13812345678", "household_address": "南宁街道幸福路1号",
                 "infectious_disease": "HIV阳性"}
        for column, value in row.items():
            assert value.startswith(expected_prefix), column
            assert plain[column] not in value, column
            assert plain[column][:8] not in value, column
        # ... and the model reads them back.
        fresh = Person.objects.get(pk=person.pk)
        assert (fresh.id_number, fresh.phone, fresh.household_address, fresh.infectious_disease) == (
            plain["id_number"], plain["phone"], plain["household_address"], plain["infectious_disease"])

    def test_the_id_number_is_also_kept_hashed_and_masked(self, person):
        assert person.id_number_hash == crypto.lookup_hash(person.id_number)
        assert person.id_number not in person.id_number_masked
        assert "********" in person.id_number_masked

    @pytest.mark.parametrize("cipher", CIPHERS)
    def test_each_cipher_writes_its_own_prefix(self, places, cipher):
        from liangyi.demo import factories

        with with_key(KEY_A, cipher):
            person = factories.person(places["township"], phone="13900001111")
            row = self.raw_row(person)
            assert row["phone"].startswith(f"{CIPHERS[cipher]}:")
            assert Person.objects.get(pk=person.pk).phone == "13900001111"


class TestCiphers:
    @pytest.mark.parametrize("cipher", CIPHERS)
    @pytest.mark.parametrize("text", ["", "530302197003121233", "南宁街道幸福路1号", "HIV阳性 · 乙肝", "x" * 5000])
    def test_round_trip(self, cipher, text):
        with with_key(KEY_A, cipher):
            token = crypto.encrypt(text)
            assert token.startswith(f"{CIPHERS[cipher]}:")
            assert crypto.decrypt(token) == text

    @pytest.mark.parametrize("cipher", CIPHERS)
    def test_the_same_text_encrypts_differently_each_time(self, cipher):
        with with_key(KEY_A, cipher):
            assert crypto.encrypt("13812345678") != crypto.encrypt("13812345678")

    def test_values_of_the_old_cipher_still_read_after_a_change(self):
        with with_key(KEY_A, "sm4-gcm"):
            old = crypto.encrypt("旧值")
        with with_key(KEY_A, "aes-gcm"):
            assert crypto.decrypt(old) == "旧值"

    @pytest.mark.parametrize("cipher", CIPHERS)
    def test_another_key_cannot_decrypt(self, cipher):
        with with_key(KEY_A, cipher):
            token = crypto.encrypt("HIV阳性")
        with with_key(KEY_B, cipher), pytest.raises(crypto.DecryptionError):
            crypto.decrypt(token)

    @pytest.mark.parametrize("cipher", CIPHERS)
    def test_a_tampered_value_is_refused(self, cipher):
        with with_key(KEY_A, cipher):
            token = crypto.encrypt("13812345678")
            name, payload = token.split(":", 1)
            flipped = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
            with pytest.raises(crypto.DecryptionError):
                crypto.decrypt(f"{name}:{flipped}")

    def test_an_unknown_cipher_is_refused(self):
        with with_key(KEY_A), pytest.raises(crypto.DecryptionError):
            crypto.decrypt("rot13:aGVsbG8=")

    def test_a_short_or_malformed_key_is_refused(self):
        with with_key("abcd"), pytest.raises(ValueError):
            crypto.encrypt("x")
        with with_key("not hex at all"), pytest.raises(ValueError):
            crypto.encrypt("x")


class TestLookupHash:
    def test_it_is_deterministic(self):
        with with_key(KEY_A):
            assert crypto.lookup_hash("530302197003121233") == crypto.lookup_hash("530302197003121233")
            assert crypto.lookup_hash("530302197003121233") != crypto.lookup_hash("530302197003121234")

    def test_it_differs_per_key(self):
        with with_key(KEY_A):
            a = crypto.lookup_hash("530302197003121233")
        with with_key(KEY_B):
            b = crypto.lookup_hash("530302197003121233")
        assert a != b

    def test_it_does_not_depend_on_the_cipher_and_reveals_no_plaintext(self):
        with with_key(KEY_A, "sm4-gcm"):
            a = crypto.lookup_hash("530302197003121233")
        with with_key(KEY_A, "aes-gcm"):
            b = crypto.lookup_hash("530302197003121233")
        assert a == b
        assert len(a) == 64
        assert "530302" not in a
