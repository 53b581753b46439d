"""What each PII entity type is under JR/T 0171-2020 (C3/C2/C1) and PIPL Art. 28 (sensitive categories).

A policy acts per class ("C3 → drop the record, C2 → mask"), so the mapping is the single place that
decides which findings can sink a record.
"""

from __future__ import annotations

# C3: authentication data (passwords, PINs, CVN, one-time codes). C2: identifies a person and their
# finances (identity documents, accounts, contact details, names, addresses). C1: institution-internal
# or not personal (an organisation's credit code or name).
ENTITY_CLASS: dict[str, str] = {
    "AUTH_SECRET": "C3",
    "CN_RESIDENT_ID": "C2",
    "CN_PASSPORT": "C2",
    "CN_TRAVEL_PERMIT": "C2",
    "HK_ID_CARD": "C2",
    "CN_BANK_CARD": "C2",
    "CREDIT_CARD": "C2",
    "IBAN_CODE": "C2",
    "CN_MOBILE": "C2",
    "CN_LANDLINE": "C2",
    "EMAIL_ADDRESS": "C2",
    "IP_ADDRESS": "C2",
    "CN_LICENSE_PLATE": "C2",
    "PERSON": "C2",
    "LOCATION": "C2",
    "CN_USCC": "C1",
    "ORGANIZATION": "C1",
}

# PIPL Art. 28 sensitive personal information; None = personal but not sensitive (or not personal).
PIPL_SENSITIVE: dict[str, str | None] = {
    "AUTH_SECRET": "financial_account",
    "CN_BANK_CARD": "financial_account",
    "CREDIT_CARD": "financial_account",
    "IBAN_CODE": "financial_account",
    "CN_RESIDENT_ID": "specific_identity",
    "CN_PASSPORT": "specific_identity",
    "CN_TRAVEL_PERMIT": "specific_identity",
    "HK_ID_CARD": "specific_identity",
    "CN_MOBILE": None,
    "CN_LANDLINE": None,
    "EMAIL_ADDRESS": None,
    "IP_ADDRESS": None,
    "CN_LICENSE_PLATE": None,
    "PERSON": None,
    "LOCATION": None,
    "CN_USCC": None,
    "ORGANIZATION": None,
}


def entity_class(entity_type: str) -> str:
    """JR/T 0171 class of ``entity_type``; an unknown type is treated as C3, the strictest."""
    return ENTITY_CLASS.get(entity_type, "C3")
