"""Other file formats for a released dataset, derived from its JSONL snapshot (the hashed original)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

COLUMNS = ("id", "kind", "language", "content", "provenance", "screening", "AIGC")


def dataset_parquet_bytes(*, jsonl_path: Path, manifest: dict[str, Any]) -> bytes:
    """The JSONL snapshot as Parquet: nested fields as JSON text, the AIGC label in the file metadata.

    GB 45438 asks for the implicit label in file metadata: key ``AIGC``, as in the JSONL manifest.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[str]] = {name: [] for name in COLUMNS}
    with jsonl_path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            for name in COLUMNS:
                value = row.get(name, "")
                columns[name].append(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                                                     sort_keys=True))
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in columns.items()})
    table = table.replace_schema_metadata({
        "AIGC": json.dumps(manifest.get("AIGC", {}), ensure_ascii=False, sort_keys=True),
        "synthgate.manifest": json.dumps(manifest, ensure_ascii=False, sort_keys=True),
    })
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()
