from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

RECORDS = [
    {"id": "1", "instruction": "耳机续航多久？", "response": "这款耳机续航20小时。不过实际使用中续航只有5小时。"},
    {"id": "2", "instruction": "计算", "response": "3 × 4 = 12，12 + 5 = 18。答案是18。", "kind": "math"},
    {"id": "3", "instruction": "信用卡挂失", "response": "您好，信用卡挂失需要先核实身份，请提供姓名和预留手机号。",
     "category": "挂失"},
    {"id": "4", "instruction": "信用卡挂失", "response": "您好，信用卡挂失需要先核实身份，请提供姓名和预留手机号。",
     "category": "挂失"},
    {"id": "5", "instruction": "What is the fee?", "response": "The fee is 2% of the amount.", "category": "fees"},
]


def write_jsonl(path, rows) -> None:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")


def test_quality_check_writes_gates_and_per_record_flags(tmp_path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "report.json"
    write_jsonl(source, RECORDS)
    with pytest.raises(SystemExit) as exit_info:
        call_command("quality_check", "--input", str(source), "--output", str(out), "--no-embeddings",
                     "--no-benchmarks", "--charts", str(tmp_path / "charts"))
    assert exit_info.value.code == 1  # gates failed
    report = json.loads(out.read_text(encoding="utf-8"))
    names = [g["name"] for g in report["gates"]]
    assert {"consistency", "math", "duplicate", "diversity", "contamination"} <= set(names)
    by_gate = {g["name"]: g for g in report["gates"]}
    assert by_gate["consistency"]["passed"] is False and by_gate["consistency"]["flagged"] == 1
    assert by_gate["math"]["metric"] == 1.0 and by_gate["math"]["threshold"] == 0.02
    flags = {row["id"]: row["flags"] for row in report["flags"]}
    assert set(flags) == {"1", "2", "4"}
    assert flags["1"][0]["gate"] == "consistency" and "续航" in flags["1"][0]["evidence"]
    assert flags["2"][0] == {"gate": "math", "reason": "wrong arithmetic step: should be 17", "evidence": "12 + 5 = 18"}
    assert flags["4"][0]["reason"] == "exact duplicate of record 3"
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == [
        "category_mix.png", "flags_per_gate.png", "length_distribution.png", "similarity_histogram.png"]
    assert (tmp_path / "charts" / "category_mix.png").read_bytes()[:4] == b"\x89PNG"


def test_quality_check_passes_clean_data_and_reads_policy_overrides(tmp_path, db) -> None:
    from compliance.models import PolicyVersion
    from compliance.services import policy_create, policy_version_create

    source, out = tmp_path / "in.jsonl", tmp_path / "report.json"
    write_jsonl(source, [RECORDS[2], RECORDS[4]])
    call_command("quality_check", "--input", str(source), "--output", str(out), "--no-embeddings",
                 "--gates", "consistency,math,duplicate,contamination")
    assert json.loads(out.read_text())["passed"] is True

    version = policy_version_create(policy=policy_create(name="strict", actor=None), actor=None)
    PolicyVersion.objects.filter(pk=version.pk).update(gate_thresholds={"max_near_duplicate_rate": 0.5})
    write_jsonl(source, RECORDS[2:4])
    call_command("quality_check", "--input", str(source), "--output", str(out), "--no-embeddings",
                 "--gates", "duplicate", "--policy", "strict")
    report = json.loads(out.read_text())
    assert report["passed"] is True and report["gates"][0]["threshold"] == 0.5 and report["policy"] == "strict"


def test_quality_check_rejects_bad_input(tmp_path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "1", "instruction": "x"}\n', encoding="utf-8")
    with pytest.raises(CommandError, match="in.jsonl:1: missing or non-text field"):
        call_command("quality_check", "--input", str(source), "--output", str(tmp_path / "o.json"))
    write_jsonl(source, [{**RECORDS[0], "kind": "poem"}])
    with pytest.raises(CommandError, match="kind must be one of qa, dialogue, math"):
        call_command("quality_check", "--input", str(source), "--output", str(tmp_path / "o.json"))
    write_jsonl(source, RECORDS[:1])
    with pytest.raises(CommandError, match="unknown gate"):
        call_command("quality_check", "--input", str(source), "--output", str(tmp_path / "o.json"), "--gates", "vibes")
