from __future__ import annotations

import stat
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from audit.services import audit_event_append
from audit.signing import LoadedKey, signing_key

pytestmark = pytest.mark.usefixtures("audit_triggers_off")


def _run_verify(*args: str) -> tuple[int, str, str]:
    stdout, stderr = StringIO(), StringIO()
    try:
        call_command("audit_verify", *args, stdout=stdout, stderr=stderr)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:
        code = 0
    return code, stdout.getvalue(), stderr.getvalue()


def _append(count: int) -> None:
    for index in range(count):
        audit_event_append(actor=None, action="record.screen", object_type="record", object_id=index)


@pytest.mark.django_db
def test_audit_verify_succeeds_on_an_intact_log() -> None:
    _append(3)

    assert _run_verify() == (0, "audit log verified: 3 events, 0 checkpoints\n", "")


@pytest.mark.django_db
def test_audit_verify_warns_about_committed_events_still_queued() -> None:
    from audit.models import AuditPendingEvent

    _append(2)
    AuditPendingEvent.objects.create(actor_name="system", action="crashed.writer", object_type="x", object_id="1")

    code, stdout, stderr = _run_verify()

    assert (code, stderr) == (0, "")
    assert stdout.startswith("audit log verified: 2 events, 0 checkpoints\n")
    assert "warning: 1 committed events are queued and not yet in the log" in stdout


@pytest.mark.django_db
def test_audit_verify_succeeds_on_an_empty_log() -> None:
    assert _run_verify() == (0, "audit log verified: 0 events, 0 checkpoints\n", "")


@pytest.mark.django_db
def test_audit_verify_fails_with_exit_code_1_on_an_edited_row() -> None:
    _append(3)
    AuditEvent.objects.filter(seq=2).update(object_id="999")

    assert _run_verify() == (1, "", "audit log verification FAILED at event 2: hash mismatch (row edited?)\n")


@pytest.mark.django_db
def test_audit_verify_fails_on_a_deleted_tail() -> None:
    _append(3)
    AuditEvent.objects.filter(seq=3).delete()

    code, stdout, stderr = _run_verify()

    assert (code, stdout) == (1, "")
    assert stderr == (
        "audit log verification FAILED at event 3: missing; the chain head records 3 events but the log "
        "ends at event 2 (tail rows deleted?)\n"
    )


@pytest.mark.django_db
def test_audit_verify_honours_trusted_key_ids(audit_key: LoadedKey) -> None:
    _append(2)

    assert _run_verify("--trusted-key-id", audit_key.key_id)[0] == 0
    assert _run_verify("--trusted-key-id", "0000000000000000") == (
        1,
        "",
        f"audit log verification FAILED at event 1: signed with key {audit_key.key_id!r}, which is not trusted\n",
    )


def test_audit_keygen_writes_a_key_and_prints_its_id(settings, tmp_path: Path) -> None:
    path = tmp_path / "prod" / "audit.pem"
    stdout = StringIO()

    call_command("audit_keygen", "--output", str(path), stdout=stdout)

    settings.GATEWAY = {**settings.GATEWAY, "AUDIT_SIGNING_KEY_PATH": str(path)}
    key_id = signing_key().key_id
    assert stdout.getvalue() == f"wrote audit signing key to {path}\nkey id: {key_id}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_audit_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "audit.pem"
    path.write_text("existing")

    with pytest.raises(CommandError, match="already exists; refusing to overwrite") as excinfo:
        call_command("audit_keygen", "--output", str(path), stdout=StringIO())

    assert excinfo.value.returncode == 1
    assert path.read_text() == "existing"
