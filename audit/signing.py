"""Ed25519 keys for signing audit events.

The private key lives only in the PEM file named by ``settings.GATEWAY["AUDIT_SIGNING_KEY_PATH"]``;
the database holds public keys only (``AuditSigningKey``), so a copy of the database can verify the
log but cannot forge it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit.models import AuditSigningKey

ALGORITHM = "ed25519"

# errno values meaning "this filesystem has no hard links", where we fall back to os.replace.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV})


@dataclass(frozen=True)
class LoadedKey:
    key_id: str
    private_key: Ed25519PrivateKey
    public_key_pem: str


def key_id_for_public_key(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of the SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signing_key() -> LoadedKey:
    """The configured signing key, loaded once per path.

    In DEBUG a missing key file is created (mode 0600). Outside DEBUG a missing or unreadable file
    raises ``ImproperlyConfigured``: a production log must be signed with a key someone provisioned.
    """
    path = str(settings.GATEWAY.get("AUDIT_SIGNING_KEY_PATH") or "")
    if not path:
        raise ImproperlyConfigured(
            'settings.GATEWAY["AUDIT_SIGNING_KEY_PATH"] is empty; set AUDIT_SIGNING_KEY_PATH to the audit '
            "signing key file (create one with `python manage.py audit_keygen --output PATH`)."
        )
    return _load_signing_key(path, create_if_missing=bool(settings.DEBUG))


def ensure_public_key_registered() -> AuditSigningKey:
    """Record the signing key's public half so the verifier can find it; return its row.

    Raises ``ImproperlyConfigured`` when the key was retired (it must sign nothing more) or when the
    stored public key differs from the key file (someone edited the key table).
    """
    key = signing_key()
    row, _created = AuditSigningKey.objects.get_or_create(
        key_id=key.key_id,
        defaults={"algorithm": ALGORITHM, "public_key_pem": key.public_key_pem},
    )
    if row.public_key_pem.strip() != key.public_key_pem.strip() or row.algorithm != ALGORITHM:
        raise ImproperlyConfigured(
            f"The stored public key for audit signing key {key.key_id} does not match the key file."
        )
    if row.retired_at is not None:
        raise ImproperlyConfigured(
            f"Audit signing key {key.key_id} was retired at {row.retired_at.isoformat()}; "
            "provision a new key with `python manage.py audit_keygen --output PATH`."
        )
    return row


def verify_signature(public_key_pem: str, signature_hex: str, message_bytes: bytes) -> bool:
    """True when ``signature_hex`` is a valid Ed25519 signature of ``message_bytes`` under the key."""
    public_key = _public_key_from_pem(public_key_pem)
    if public_key is None:
        return False
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    try:
        public_key.verify(signature, message_bytes)
    except InvalidSignature:
        return False
    return True


def generate_key_file(path: str | os.PathLike[str]) -> LoadedKey:
    """Write a new Ed25519 private key to ``path`` (mode 0600) and return it.

    Raises ``FileExistsError`` rather than overwrite an existing file: replacing a signing key by
    accident would leave events nobody can account for.
    """
    target = Path(path)
    if target.exists():
        raise FileExistsError(errno.EEXIST, "refusing to overwrite an existing key file", str(target))
    _write_new_key_file(target, exist_ok=False)
    return _read_key_file(target)


@functools.lru_cache(maxsize=16)
def _load_signing_key(path: str, *, create_if_missing: bool) -> LoadedKey:
    target = Path(path)
    if not target.exists():
        if not create_if_missing:
            raise ImproperlyConfigured(
                f"The audit signing key file {path} does not exist. Outside debug mode the gateway will "
                f"not create one: run `python manage.py audit_keygen --output {path}` and keep the file "
                "private (mode 0600)."
            )
        _write_new_key_file(target, exist_ok=True)
    # Always read the file back, so every process uses whichever key won a concurrent creation.
    return _read_key_file(target)


def _write_new_key_file(target: Path, *, exist_ok: bool) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    # mkstemp creates the file with mode 0600, so the key is never readable by others, even briefly.
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # A hard link appears atomically and never overwrites: of two concurrent creators one
            # wins and the other uses the winner's key, instead of signing with a key that is gone.
            os.link(tmp_name, target)
        except FileExistsError:
            if not exist_ok:
                raise
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if target.exists():
                if not exist_ok:
                    raise FileExistsError(errno.EEXIST, "key file already exists", str(target)) from exc
            else:
                os.replace(tmp_name, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def _read_key_file(target: Path) -> LoadedKey:
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise ImproperlyConfigured(f"Cannot read the audit signing key file {target}: {exc}") from exc
    try:
        private_key = serialization.load_pem_private_key(data, password=None)
    except (TypeError, ValueError, UnsupportedAlgorithm) as exc:
        raise ImproperlyConfigured(f"{target} is not an unencrypted PEM (PKCS8) private key: {exc}") from exc
    if not isinstance(private_key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{target} holds a {type(private_key).__name__}, not an Ed25519 key.")
    public_key = private_key.public_key()
    public_key_pem = public_key.public_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PublicFormat.SubjectPublicKeyInfo,
    ).decode("ascii")
    return LoadedKey(
        key_id=key_id_for_public_key(public_key),
        private_key=private_key,
        public_key_pem=public_key_pem,
    )


@functools.lru_cache(maxsize=64)
def _public_key_from_pem(public_key_pem: str) -> Ed25519PublicKey | None:
    # Cached because the verifier checks every event, and most share one key.
    try:
        public_key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm):  # UnicodeEncodeError is a ValueError
        return None
    return public_key if isinstance(public_key, Ed25519PublicKey) else None


@dataclass(frozen=True)
class Sm2Signer:
    """An SM2 key (GB/T 32918, signature over SM3 with the default user id) for second signatures."""

    key_id: str
    private_key_hex: str
    public_key_hex: str

    def sign(self, message: bytes) -> str:
        from gmssl import sm2  # optional dependency: imported only when an SM2 key is configured

        signer = sm2.CryptSM2(public_key=self.public_key_hex, private_key=self.private_key_hex)
        return str(signer.sign_with_sm3(message))


def sm2_signer() -> Sm2Signer | None:
    """The configured SM2 key (``settings.AUDIT["SM2_KEY_PATH"]``), registered; ``None`` when unset.

    The key file holds the 32-byte private key as 64 hex digits. Raises ``ImproperlyConfigured`` when
    the file is unreadable or ``gmssl`` is not installed.
    """
    from audit.conf import audit_setting

    path = str(audit_setting("SM2_KEY_PATH") or "")
    if not path:
        return None
    signer = _load_sm2_key(path)
    row, _created = AuditSigningKey.objects.get_or_create(
        key_id=signer.key_id, defaults={"algorithm": "sm2", "public_key_pem": signer.public_key_hex}
    )
    if row.public_key_pem.strip() != signer.public_key_hex or row.algorithm != "sm2":
        raise ImproperlyConfigured(f"The stored public key for SM2 key {signer.key_id} does not match the key file.")
    return signer


def sm2_key_id_for_public_hex(public_key_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]


def sm2_generate_key_file(path: str | os.PathLike[str]) -> Sm2Signer:
    """Write a new SM2 private key (hex, mode 0600) to ``path``; refuses to overwrite."""
    import secrets

    target = Path(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    _load_sm2_key.cache_clear()
    return _load_sm2_key(str(target))


def sm2_verify(public_key_hex: str, signature_hex: str, message: bytes) -> bool:
    try:
        from gmssl import sm2
    except ImportError:  # pragma: no cover - depends on the optional dependency
        return False
    try:
        return bool(sm2.CryptSM2(public_key=public_key_hex, private_key=None).verify_with_sm3(signature_hex, message))
    except (ValueError, TypeError, IndexError):
        return False


@functools.lru_cache(maxsize=4)
def _load_sm2_key(path: str) -> Sm2Signer:
    try:
        from gmssl import sm2
    except ImportError as exc:
        raise ImproperlyConfigured("settings.AUDIT['SM2_KEY_PATH'] is set but gmssl is not installed") from exc
    try:
        private_hex = Path(path).read_text().strip().lower()
        int(private_hex, 16)
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(f"Cannot read the SM2 key file {path}: {exc}") from exc
    if len(private_hex) != 64:
        raise ImproperlyConfigured(f"{path} must hold a 32-byte SM2 private key as 64 hex digits")
    public_hex = str(
        sm2.CryptSM2(public_key="", private_key=private_hex)._kg(int(private_hex, 16), sm2.default_ecc_table["g"])
    )
    return Sm2Signer(
        key_id=sm2_key_id_for_public_hex(public_hex), private_key_hex=private_hex, public_key_hex=public_hex
    )
