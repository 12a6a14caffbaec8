"""Which field group each field of the person's file belongs to (see core/access_matrix.toml).

Fields not listed here (name, status, jurisdictions, responsible worker) are visible to every
role that may see persons at all.
"""

from __future__ import annotations

FIELD_GROUP = {
    "id_number": "identity",
    "gender": "identity",
    "birth_date": "identity",
    "ethnicity": "identity",
    "aliases": "identity",
    "education": "identity",
    "marital_status": "identity",
    "employment": "identity",
    "has_skill": "identity",
    "phone": "contact",
    "household_address": "contact",
    "residence_address": "contact",
    "substances": "drug_history",
    "first_use_year": "drug_history",
    "manner_of_use": "drug_history",
    "health_notes": "medical",
    "infectious_disease": "infectious_disease",
    "police_notes": "police_notes",
}

# Revealing the full value of a masked field needs its group and the "reveal" action.
REVEALABLE = {"id_number": "identity", "birth_date": "identity", "phone": "contact", "household_address": "contact",
              "residence_address": "contact"}

ALWAYS_VISIBLE = ("name", "status", "household_jurisdiction", "residence_jurisdiction", "jurisdiction",
                  "responsible_worker")

EDITABLE = (
    "name", "status", "household_jurisdiction", "residence_jurisdiction", "responsible_worker", *FIELD_GROUP,
)
