#!/usr/bin/env python3
"""Standalone verifier for synthgate evidence bundles (format: docs/audit-format.md).

Usage: python verify_bundle.py BUNDLE.zip [--trusted-key-id KEY_ID ...]

Prints "OK ..." and exits 0 when every check passes, or "FAILED: <first failure>" and exits 1.
Needs only the Python standard library and the ``cryptography`` package; it never touches a network
or the gateway's database.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import zipfile
from datetime import datetime
from decimal import Decimal
from typing import Any

BUNDLE_FORMAT = "synthgate-evidence-bundle/1"
CHECKPOINT_FORMAT = "synthgate-checkpoint/1"
GENESIS_HASH = "0" * 64


class Failure(Exception):
    pass


# --- RFC 8785 ------------------------------------------------------------------------------------


def _number(value: Any) -> str:
    if isinstance(value, int):
        if -(2**53) <= value <= 2**53:
            return str(value)
        value = float(value)
    if not math.isfinite(value):
        raise ValueError("NaN and infinity are not JSON")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _s, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent = int(exponent) + (len(digit_tuple) - len(digits))
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        text = (digits if k == 1 else digits[0] + "." + digits[1:]) + ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + text


def _string(value: str) -> str:
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20:
            out.append({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(code, f"\\u{code:04x}"))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical(value: Any) -> bytes:
    """RFC 8785 JSON Canonicalization Scheme bytes."""

    def enc(v: Any) -> str:
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, int | float):
            return _number(v)
        if isinstance(v, str):
            return _string(v)
        if isinstance(v, list):
            return "[" + ",".join(enc(item) for item in v) + "]"
        if isinstance(v, dict):
            names = sorted(v, key=lambda name: name.encode("utf-16-be", "surrogatepass"))
            return "{" + ",".join(_string(name) + ":" + enc(v[name]) for name in names) + "}"
        raise TypeError(f"not JSON: {type(v).__name__}")

    return enc(value).encode("utf-8")


# --- RFC 6962 / RFC 9162 ---------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    # Pairwise from the left; an odd node is carried up unchanged: equal to RFC 6962's MTH.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- signatures -------------------------------------------------------------------------------------


def _load_keys(entries: list[dict[str, Any]], trusted: set[str] | None) -> dict[str, dict[str, Any]]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys: dict[str, dict[str, Any]] = {}
    for entry in entries:
        key_id = entry.get("key_id")
        if entry.get("algorithm") != "ed25519":
            continue  # SM2 keys: checked only by verifiers with national-algorithm support
        public = serialization.load_pem_public_key(str(entry["public_key_pem"]).encode("ascii"))
        if not isinstance(public, Ed25519PublicKey):
            raise Failure(f"keys.json: key {key_id} is not an Ed25519 key")
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if hashlib.sha256(raw).hexdigest()[:16] != key_id:
            raise Failure(f"keys.json: key id {key_id} does not match its public key")
        if trusted is not None and key_id not in trusted:
            continue
        keys[key_id] = {
            "public": public,
            "valid_from": entry.get("valid_from"),
            "valid_until": entry.get("valid_until"),
        }
    return keys


def _verify_signature(
    keys: dict[str, dict[str, Any]], key_id: str, signature_hex: str, message: bytes, when: str, what: str
) -> None:
    from cryptography.exceptions import InvalidSignature

    key = keys.get(key_id)
    if key is None:
        raise Failure(f"{what}: signed with key {key_id}, which is not among the trusted public keys")
    try:
        key["public"].verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
        raise Failure(f"{what}: signature invalid under key {key_id}") from None
    moment = _parse_time(when)
    if key["valid_from"] and moment < _parse_time(key["valid_from"]).replace(microsecond=0):
        raise Failure(f"{what}: signed at {when}, before key {key_id} was valid")
    if key["valid_until"] and moment > _parse_time(key["valid_until"]):
        raise Failure(f"{what}: signed at {when}, after key {key_id} was retired")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- the bundle -------------------------------------------------------------------------------------


def _json(archive: zipfile.ZipFile, name: str) -> Any:
    try:
        return json.loads(archive.read(name))
    except KeyError:
        raise Failure(f"{name}: missing from the bundle") from None
    except ValueError as exc:
        raise Failure(f"{name}: not valid JSON ({exc})") from None


def verify_bundle(path: str, trusted_key_ids: set[str] | None = None) -> str:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise Failure(f"cannot open the bundle: {exc}") from None
    with archive:
        manifest = _json(archive, "manifest.json")
        if manifest.get("format") != BUNDLE_FORMAT:
            raise Failure(f"manifest.json: unknown format {manifest.get('format')!r}")
        listed: dict[str, str] = manifest.get("files") or {}
        present = {info.filename for info in archive.infolist() if not info.is_dir()}
        for name in sorted(present - set(listed) - {"manifest.json"}):
            raise Failure(f"{name}: in the bundle but not listed in the manifest")
        for name, digest in sorted(listed.items()):
            if name not in present:
                raise Failure(f"{name}: listed in the manifest but missing")
            if hashlib.sha256(archive.read(name)).hexdigest() != digest:
                raise Failure(f"{name}: SHA-256 does not match the manifest")

        keys = _load_keys(_json(archive, "keys.json"), trusted_key_ids)

        checkpoint = _json(archive, "checkpoint.json")
        body = {name: value for name, value in checkpoint.items() if name not in ("signature", "sm2_signature")}
        if body.get("format") != CHECKPOINT_FORMAT:
            raise Failure(f"checkpoint.json: unknown format {body.get('format')!r}")
        if body.get("origin") != manifest.get("log_origin"):
            raise Failure("checkpoint.json: origin differs from the manifest's log_origin")
        _verify_signature(
            keys,
            str(body.get("key_id")),
            str(checkpoint.get("signature", "")),
            canonical(body),
            str(body.get("timestamp")),
            "checkpoint.json",
        )
        tree_size = int(body["tree_size"])
        root = bytes.fromhex(body["root_hash"])

        events: list[dict[str, Any]] = []
        previous_seq = 0
        for line_number, line in enumerate(archive.read("events.jsonl").decode("utf-8").splitlines(), start=1):
            entry = json.loads(line)
            event = entry["event"]
            seq = event["seq"]
            what = f"event {seq} (events.jsonl line {line_number})"
            if seq <= previous_seq:
                raise Failure(f"{what}: out of order after event {previous_seq}")
            previous_seq = seq
            data = canonical(event)
            event_hash = hashlib.sha256(data).hexdigest()
            if event_hash != entry.get("event_hash"):
                raise Failure(f"{what}: hash does not match its contents (edited?)")
            _verify_signature(
                keys,
                str(event.get("key_id")),
                str(entry.get("signature", "")),
                event_hash.encode("ascii"),
                str(event.get("created_at")),
                what,
            )
            if entry.get("leaf_index") != seq - 1:
                raise Failure(f"{what}: leaf index {entry.get('leaf_index')} is not seq - 1")
            proof = [bytes.fromhex(value) for value in entry.get("audit_path", [])]
            if not verify_inclusion(seq - 1, tree_size, leaf_hash(data), proof, root):
                raise Failure(f"{what}: inclusion proof does not lead to the checkpoint root")
            events.append(event)

        dataset = manifest.get("dataset") or {}
        records = archive.read(dataset.get("file", "dataset/records.jsonl"))
        if hashlib.sha256(records).hexdigest() != dataset.get("content_hash"):
            raise Failure("dataset: records file SHA-256 does not match the manifest")
        lines = records.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        if len(lines) != dataset.get("record_count"):
            raise Failure(f"dataset: {len(lines)} records, manifest says {dataset.get('record_count')}")
        dataset_root = merkle_root([leaf_hash(line) for line in lines]).hex()
        if dataset_root != dataset.get("merkle_root"):
            raise Failure("dataset: Merkle root over the records does not match the manifest")
        releases = [
            event
            for event in events
            if event.get("action") == "dataset.release" and event.get("object_id") == str(dataset.get("id"))
        ]
        if not releases:
            raise Failure("dataset: no dataset.release event for it among the proven events")
        payload = releases[-1].get("payload") or {}
        if payload.get("merkle_root") != dataset_root or payload.get("sha256") != dataset.get("content_hash"):
            raise Failure("dataset: the signed dataset.release event records a different root or SHA-256")
        return (
            f"OK: dataset {dataset.get('id')} ({len(lines)} records, root {dataset_root[:16]}…), "
            f"{len(events)} events proven against checkpoint {body.get('index')} (tree size {tree_size})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a synthgate evidence bundle offline.")
    parser.add_argument("bundle")
    parser.add_argument(
        "--trusted-key-id",
        action="append",
        dest="trusted",
        metavar="KEY_ID",
        help="accept only signatures by this key id (repeatable); take it from outside the bundle",
    )
    args = parser.parse_args(argv)
    try:
        message = verify_bundle(args.bundle, set(args.trusted) if args.trusted else None)
    except Failure as exc:
        print(f"FAILED: {exc}")
        return 1
    except (KeyError, TypeError, ValueError) as exc:
        print(f"FAILED: malformed bundle ({type(exc).__name__}: {exc})")
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
