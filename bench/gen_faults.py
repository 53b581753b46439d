"""A job while 10% of calls fail (429 with Retry-After, 500, stalls past the client time-out).

Checks the job still ends with exactly N records and that no call was paid twice (the fake server counts
200 answers per request body), and reports retries and cache hits.

    .venv/bin/python bench/gen_faults.py [--records 1000] [--fault-rate 0.1]
Needs PostgreSQL (see bench/gen_throughput.py). Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gen_throughput as base  # noqa: E402 - sets up the environment first


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    args = parser.parse_args()
    from tests.generation.fake_openai_server import running_fake_openai_server

    base._ensure_db()
    with running_fake_openai_server() as server:
        server.state.latency_seconds = 0.05
        server.state.fault_rate = args.fault_rate
        server.state.fault_seed = 4
        server.state.stall_seconds = 1.5
        server.state.record_requests = False
        os.environ["OPENAI_TIMEOUT_SECONDS"] = "1"
        base._setup_django(server.base_url, args.concurrency, 128)
        os.environ["OPENAI_TIMEOUT_SECONDS"] = "1"
        started = time.monotonic()
        result = base.run(args.records, args.concurrency, 1, server.base_url)
        from gateway.models import GenerationJob, Record

        job = GenerationJob.objects.order_by("-pk").first()
        assert job is not None
        records = Record.objects.filter(request_id=job.request_id)
        out = {
            "bench": "gen_faults", "records_requested": args.records, "records": records.count(),
            "failed_records": records.filter(status="failed").count(),
            "fault_rate": args.fault_rate, "faults_injected": dict(server.state.faults),
            "server_calls": server.state.calls, "paid_calls": job.calls, "retries": job.retries,
            "cache_hits": job.cache_hits, "duplicate_paid_calls": server.state.duplicate_paid_calls,
            "seconds": round(time.monotonic() - started, 2), "throughput_ratio": result["ratio"],
            "machine": "shared 2-core, other engineers running",
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
