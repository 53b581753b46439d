"""Reversible PII encryption (AES-256-GCM) for the ``encrypt`` masking operator.

Tokens look like ``<ENC:TYPE:base32>`` (lower-case base32, so no identifier pattern can fire inside
one). Only ``compliance.services.pii_reveal`` decrypts, for a user with ``compliance.reveal_pii``,
and every reversal is audited. The key comes from ``PII_ENCRYPTION_KEY`` (32 bytes, hex), else it is
derived from ``PII_HMAC_KEY`` with a distinct label, so it is never the pseudonym key itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from .errors import PiiDetectionError

TOKEN = re.compile(r"<ENC:([A-Z_]+):([a-z2-7]+)>")


class PiiRevealError(Exception):
    """The token is malformed or was not made with this key."""


def pii_encryption_key() -> bytes:
    configured = os.environ.get("PII_ENCRYPTION_KEY") or getattr(settings, "PII_ENCRYPTION_KEY", "")
    if configured:
        key = bytes.fromhex(configured)
        if len(key) != 32:
            raise PiiDetectionError("PII_ENCRYPTION_KEY must be 32 bytes written as 64 hex characters")
        return key
    return hmac.new(settings.PII_HMAC_KEY.encode(), b"pii-encryption-v1", hashlib.sha256).digest()


def encrypt_value(entity_type: str, value: str, key: bytes) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), entity_type.encode())
    body = base64.b32encode(nonce + sealed).decode().rstrip("=").lower()
    return f"<ENC:{entity_type}:{body}>"


def decrypt_token(token: str, key: bytes) -> tuple[str, str]:
    """(entity type, original value) of one ``<ENC:…>`` token. Raises ``PiiRevealError``."""
    match = TOKEN.fullmatch(token.strip())
    if match is None:
        raise PiiRevealError("not an encrypted PII token")
    entity_type, body = match.groups()
    padded = body.upper() + "=" * (-len(body) % 8)
    try:
        raw = base64.b32decode(padded)
        value = AESGCM(key).decrypt(raw[:12], raw[12:], entity_type.encode()).decode()
    except Exception as exc:
        raise PiiRevealError(f"token cannot be decrypted with this key ({type(exc).__name__})") from exc
    return entity_type, value
