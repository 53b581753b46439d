"""Build the Merkle tree for events written before it existed, then make the log tables append-only."""


from django.db import migrations

from audit import merkle
from audit.canonical import canonical_json_bytes
from audit.triggers import create_sql, drop_sql


def backfill_tree(apps, schema_editor):
    from audit.services import audit_event_document

    alias = schema_editor.connection.alias
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditTreeNode = apps.get_model("audit", "AuditTreeNode")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    frontier = merkle.Frontier()
    batch = []
    for event in AuditEvent.objects.using(alias).order_by("seq").iterator(chunk_size=2000):
        document = audit_event_document(
            seq=event.seq, created_at=event.created_at, actor_id=event.actor_id, actor_name=event.actor_name,
            action=event.action, object_type=event.object_type, object_id=event.object_id,
            payload=event.payload, prev_hash=event.prev_hash, key_id=event.key_id,
        )
        data = canonical_json_bytes(document)
        batch += [
            AuditTreeNode(key=merkle.node_key(level, index), hash=value.hex())
            for level, index, value in frontier.append(merkle.leaf_hash(data))
        ]
        if len(batch) >= 5000:
            AuditTreeNode.objects.using(alias).bulk_create(batch)
            batch = []
    AuditTreeNode.objects.using(alias).bulk_create(batch)
    AuditChainHead.objects.using(alias).filter(pk=1).update(tree_frontier=[value.hex() for value in frontier.hashes])


def add_triggers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for sql in create_sql(schema_editor.connection.vendor):
            cursor.execute(sql)


def remove_triggers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for sql in drop_sql(schema_editor.connection.vendor):
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_merkle_tree_checkpoints")]

    operations = [
        migrations.RunPython(backfill_tree, migrations.RunPython.noop),
        migrations.RunPython(add_triggers, remove_triggers),
    ]
