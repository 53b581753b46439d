"""A job while 10% of calls fail (429 with Retry-After, 500, stalls past the client time-out).

Runs the same job as bench/gen_throughput.py on real ``celery worker`` processes and checks that it ends
with exactly N records, one per slot, and that no call was paid twice; reports retries and cache hits.

**Paid call**: a 200 answer with usage written to a client that was still connected (the fake server's
definition, see tests/generation/fake_openai_server.py). A stalled call whose client timed out and
hung up is not paid (the server drops it, as vLLM aborts a request whose client went away) and is
counted as ``abandoned_answers``; the client's retry of it is then the one paid call. A duplicate paid
call is the same request body paid more than once, across retries, chunk reruns and worker processes.

    .venv/bin/python bench/gen_faults.py [--records 1000] [--fault-rate 0.1] [--workers 1]
Needs PostgreSQL and Redis (see bench/gen_throughput.py). Prints one JSON line last; exits 1 when the
record count or the duplicate check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gen_throughput as base  # noqa: E402 - sets up the environment first

CLIENT_TIMEOUT = 1.0
STALL = 1.5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=125)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    args = parser.parse_args()
    from tests.generation.fake_openai_server import running_fake_openai_server

    base.production_mode()
    base.fresh_database()
    with running_fake_openai_server() as server:
        server.state.latency_seconds = 0.05
        server.state.record_requests = False
        base.setup(base_url=server.base_url, chunk_size=args.chunk_size, timeout=CLIENT_TIMEOUT)
        # Faults only for the measured job: the warm-up inside bench() runs before they are switched on.
        original_run_job = base.run_job

        def run_job_with_faults(request_id: int, **kwargs: object) -> dict[str, object]:
            from gateway.models import DatasetRequest

            if DatasetRequest.objects.get(pk=request_id).size == args.records:
                server.state.fault_rate = args.fault_rate
                server.state.fault_seed = 4
                server.state.stall_seconds = STALL
                server.state.calls = 0
            return original_run_job(request_id, **kwargs)  # type: ignore[arg-type]

        base.run_job = run_job_with_faults  # type: ignore[assignment]
        result = base.bench(records=args.records, concurrency=args.concurrency, workers=args.workers,
                            chunk_size=args.chunk_size, base_url=server.base_url, timeout=CLIENT_TIMEOUT,
                            log_dir=Path(os.environ["GATEWAY_VAR_DIR"]) / "bench-logs-faults", server=server)
        duplicates = server.state.duplicate_paid_calls
        server_paid = sum(server.state.paid.values())
        out = {
            "bench": "gen_faults", "records_requested": args.records, "records": result["records"],
            "distinct_slots": result["distinct_slots"], "failed_records": result["failed_records"],
            "fault_rate": args.fault_rate, "faults_injected": dict(server.state.faults),
            "client_timeout_s": CLIENT_TIMEOUT, "stall_s": STALL, "workers": args.workers,
            "server_requests": server.state.calls, "server_paid_calls": server_paid,
            "paid_calls_booked_by_job": result["paid_calls"], "abandoned_answers": server.state.abandoned,
            "retries": result["retries"], "cache_hits": result["cache_hits"], "duplicate_paid_calls": duplicates,
            "seconds": result["seconds"], "throughput_ratio_at_0.05s_latency": result["ratio"],
            "records_by_worker_process": result["records_by_worker_process"],
            "load_average_before": result["load_average_before"], "load_average_after": result["load_average_after"],
            "machine": "shared 2-core, other engineers running",
        }
    ok = (out["records"] == args.records and out["distinct_slots"] == args.records and duplicates == 0
          and server_paid == result["paid_calls"])
    out["ok"] = ok
    print(json.dumps(out))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
