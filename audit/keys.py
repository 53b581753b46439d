"""Key rotation: the old key signs its own hand-over, then may sign nothing more."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction

from audit.checkpoints import checkpoint_create
from audit.models import AuditSigningKey
from audit.services import audit_event_append
from audit.signing import generate_key_file, signing_key


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    checkpoint_index: int


def audit_key_rotate(*, new_key_path: str | os.PathLike[str]) -> Rotation:
    """Create a new key file, register its public key, log ``audit_key.rotate`` and a closing
    checkpoint signed by the current key, then retire the current key.

    Raises ``FileExistsError`` if ``new_key_path`` exists, ``ImproperlyConfigured`` if the current key
    is missing or already retired.
    """
    old = signing_key()
    new = generate_key_file(new_key_path)
    with transaction.atomic():
        AuditSigningKey.objects.get_or_create(
            key_id=new.key_id, defaults={"algorithm": "ed25519", "public_key_pem": new.public_key_pem}
        )
        audit_event_append(
            actor=None,
            action="audit_key.rotate",
            object_type="audit_key",
            object_id=old.key_id,
            payload={"old_key_id": old.key_id, "new_key_id": new.key_id},
        )
        checkpoint = checkpoint_create(kind="key_rotation")
        # Retired a second after its last signature: whole-second timestamps must fall inside validity.
        AuditSigningKey.objects.filter(key_id=old.key_id).update(
            retired_at=checkpoint.created_at + timedelta(seconds=1)
        )
    return Rotation(old_key_id=old.key_id, new_key_id=new.key_id, checkpoint_index=checkpoint.index)
