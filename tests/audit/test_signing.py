from __future__ import annotations

import hashlib
import multiprocessing
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from audit.models import AuditSigningKey
from audit.signing import (
    LoadedKey,
    ensure_public_key_registered,
    generate_key_file,
    key_id_for_public_key,
    signing_key,
    verify_signature,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_key_file_writes_a_private_pkcs8_pem(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "key.pem"

    key = generate_key_file(path)

    assert _mode(path) == 0o600
    text = path.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----\n")
    loaded = serialization.load_pem_private_key(text.encode(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    raw = loaded.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key.key_id == hashlib.sha256(raw).hexdigest()[:16]
    assert len(key.key_id) == 16
    assert key.public_key_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert list(path.parent.iterdir()) == [path]  # the temporary file is gone


def test_generate_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    generate_key_file(path)
    before = path.read_bytes()

    with pytest.raises(FileExistsError):
        generate_key_file(path)

    assert path.read_bytes() == before


def test_signing_key_is_loaded_from_the_configured_file(audit_key: LoadedKey) -> None:
    key = signing_key()

    assert key.key_id == audit_key.key_id
    assert key.public_key_pem == audit_key.public_key_pem
    assert signing_key() is key  # cached per path


def test_missing_key_file_outside_debug_is_improperly_configured(settings, tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "key.pem"
    settings.DEBUG = False
    settings.GATEWAY = {**settings.GATEWAY, "AUDIT_SIGNING_KEY_PATH": str(path)}

    with pytest.raises(ImproperlyConfigured, match=f"The audit signing key file {path} does not exist"):
        signing_key()

    assert not path.exists()


def test_missing_key_file_in_debug_is_created_private(settings, tmp_path: Path) -> None:
    path = tmp_path / "var" / "keys" / "audit.pem"
    settings.DEBUG = True
    settings.GATEWAY = {**settings.GATEWAY, "AUDIT_SIGNING_KEY_PATH": str(path)}

    key = signing_key()

    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    assert key_id_for_public_key(private.public_key()) == key.key_id


def _load_key_id(queue: multiprocessing.Queue) -> None:
    queue.put(signing_key().key_id)


def test_concurrent_debug_creators_all_use_one_key(settings, tmp_path: Path) -> None:
    path = tmp_path / "race" / "audit.pem"
    settings.DEBUG = True
    settings.GATEWAY = {**settings.GATEWAY, "AUDIT_SIGNING_KEY_PATH": str(path)}
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    processes = [ctx.Process(target=_load_key_id, args=(queue,)) for _ in range(6)]

    for process in processes:
        process.start()
    key_ids = [queue.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)

    assert [process.exitcode for process in processes] == [0] * 6
    assert len(set(key_ids)) == 1
    assert key_ids[0] == signing_key().key_id  # the file on disk is the key they all used
    assert sorted(p.name for p in path.parent.iterdir()) == ["audit.pem"]


def test_encrypted_or_foreign_key_files_are_refused(settings, tmp_path: Path) -> None:
    path = tmp_path / "encrypted.pem"
    path.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    settings.GATEWAY = {**settings.GATEWAY, "AUDIT_SIGNING_KEY_PATH": str(path)}

    with pytest.raises(ImproperlyConfigured, match="is not an unencrypted PEM"):
        signing_key()


def test_verify_signature() -> None:
    private = Ed25519PrivateKey.generate()
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    signature = private.sign(b"abc").hex()

    assert verify_signature(pem, signature, b"abc") is True
    assert verify_signature(pem, signature, b"abd") is False
    assert verify_signature(pem, "zz" + signature[2:], b"abc") is False
    assert verify_signature(pem, signature[:-2], b"abc") is False
    assert verify_signature("not a pem", signature, b"abc") is False


@pytest.mark.django_db
def test_ensure_public_key_registered_creates_one_row(audit_key: LoadedKey) -> None:
    first = ensure_public_key_registered()
    second = ensure_public_key_registered()

    assert AuditSigningKey.objects.count() == 1
    assert first.key_id == second.key_id == audit_key.key_id
    assert second.algorithm == "ed25519"
    assert second.public_key_pem == audit_key.public_key_pem
    assert second.retired_at is None


@pytest.mark.django_db
def test_retired_key_refuses_to_sign(audit_key: LoadedKey) -> None:
    ensure_public_key_registered()
    AuditSigningKey.objects.filter(key_id=audit_key.key_id).update(retired_at=timezone.now())

    with pytest.raises(ImproperlyConfigured, match=f"Audit signing key {audit_key.key_id} was retired"):
        ensure_public_key_registered()


@pytest.mark.django_db
def test_stored_public_key_that_differs_from_the_file_is_refused(audit_key: LoadedKey, tmp_path: Path) -> None:
    ensure_public_key_registered()
    other = generate_key_file(tmp_path / "other.pem")
    AuditSigningKey.objects.filter(key_id=audit_key.key_id).update(public_key_pem=other.public_key_pem)

    with pytest.raises(ImproperlyConfigured, match=f"public key for audit signing key {audit_key.key_id} does not"):
        ensure_public_key_registered()
