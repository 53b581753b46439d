"""Generation throughput against a local OpenAI-compatible server that answers every call after 200 ms.

A job of N records (knowledge-tree strategy, 4 calls per record) at concurrency 32 runs on real
``celery worker`` processes (Redis broker, PostgreSQL): generation, per-record screening (PII masking
and content safety), the second screening pass, every quality gate and every audit write. The clock
runs from submit until the gates step has moved the request on; the ratio is wall time / ideal, with
ideal = records × calls per record × 0.2 s / concurrency. For 2 worker processes each gets half the
concurrency (the job still has 32 calls in flight in all) and they take the job's chunks from one queue.
Each worker process screens its records in its own helper process (``SCREENING_PROCESSES``, default 1), as
deployed; the CPU time of workers and helpers is reported apart.

The server sets TCP_NODELAY as uvicorn and vLLM do (before it did not, and Nagle's algorithm with the
client's delayed ACK added ~40 ms to every call: 0.246 s for a 0.2 s call, a 1.2x ratio on its own).

Workers are started and warmed up (models loaded at worker start, one small job run) before the clock
starts: a job on a running deployment does not pay for process start-up. Every request uses one policy
version, published by the first warm-up job: publishing copies the base lexicon into the version, once per
version, not per job.

``--content same`` (the default) answers every call of a step with the same text, as the issue's server
does; the embedding gates then embed one distinct text (their cache holds it). ``--content distinct``
makes every answer different, so the embedding gates embed every record: that is the expensive case.

    .venv/bin/python bench/gen_throughput.py [--records 1000] [--concurrency 32] [--workers 1 2]
        [--chunk-size 125] [--content same|distinct] [--repeat 3]
Needs PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/issue4_bench) and Redis
(REDIS_URL, default redis://127.0.0.1:6379/13). Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
os.environ.setdefault("GATEWAY_VAR_DIR", "/tmp/var-issue4-bench")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/issue4_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)

LATENCY = 0.2
LIMIT_RATIO = 1.3
INCLUDED = ["generation calls", "per-record PII masking and content-safety screening", "record and progress writes",
            "response-cache writes", "second screening pass (residual PII)",
            "every quality gate (counting gates and the quality suite, embedding gates included)",
            "quality charts and report", "audit events (record.create per record and every state change)"]
FINAL_STATES = ("awaiting_approval", "approved", "released", "failed", "cancelled")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_steal_seconds() -> float:
    """CPU time the hypervisor gave to other guests while this machine wanted it (all cores, Linux /proc/stat):
    the part of a slow run that no change of ours can explain."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def setup(*, base_url: str, chunk_size: int, timeout: float = 5.0, max_retries: int = 5) -> None:
    """Settings for this process (it creates requests; the workers get the same through their environment)."""
    os.environ.update(endpoint_env(base_url=base_url, concurrency=32, chunk_size=chunk_size, timeout=timeout,
                                   max_retries=max_retries))
    os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
    import django

    django.setup()


def endpoint_env(*, base_url: str, concurrency: int, chunk_size: int, timeout: float, max_retries: int
                 ) -> dict[str, str]:
    return {"GENERATION_BACKEND": "openai", "OPENAI_BASE_URL": base_url, "OPENAI_MODEL": "bench-model",
            "OPENAI_API_KEY": "k", "GENERATION_CONCURRENCY": str(concurrency),
            "GENERATION_CHUNK_SIZE": str(chunk_size), "OPENAI_TIMEOUT_SECONDS": str(timeout),
            "OPENAI_MAX_RETRIES": str(max_retries)}


def production_mode() -> None:
    """Run as deployed: DEBUG off (no per-query bookkeeping), with its required secrets and a signing key."""
    key = Path(os.environ["GATEWAY_VAR_DIR"]) / "bench-audit-ed25519.pem"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "manage.py", "audit_keygen", "--output", str(key)], cwd=ROOT, check=True,
                       capture_output=True)
    os.environ.update({"DJANGO_DEBUG": "false", "SECRET_KEY": "bench-secret-key-" + "x" * 40,
                       "PII_HMAC_KEY": "bench-pii-hmac-key", "AUDIT_SIGNING_KEY_PATH": str(key)})


def fresh_database() -> None:
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used so far (Linux /proc); NaN if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class Workers:
    """``count`` real ``celery worker`` processes (thread pool of 2: one chunk drains while the next fills)."""

    def __init__(self, *, count: int, env: dict[str, str], log_dir: Path) -> None:
        self.env = {**os.environ, **env, "CELERY_BROKER_URL": os.environ["REDIS_URL"]}
        subprocess.run([sys.executable, "-m", "celery", "-A", "gateway", "purge", "-f"], cwd=ROOT, env=self.env,
                       capture_output=True, timeout=60, check=False)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.logs = [log_dir / f"worker-{i}.log" for i in range(count)]
        self.procs = [
            subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "celery", "-A", "gateway", "worker", "--pool", "threads", "--concurrency", "2",
                 "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
                 "-n", f"bench{i}@%h", "--logfile", str(path)],
                cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for i, path in enumerate(self.logs)
        ]
        deadline = time.monotonic() + 180
        while not all(p.exists() and " ready." in p.read_text(errors="replace") for p in self.logs):
            if time.monotonic() > deadline or any(proc.poll() is not None for proc in self.procs):
                self.stop()
                raise RuntimeError(f"celery workers did not start; see {log_dir}")
            time.sleep(0.2)

    def cpu_seconds(self) -> list[float]:
        """User + system CPU each worker process has used so far (Linux /proc)."""
        return [_process_cpu(proc.pid) for proc in self.procs]

    def helper_cpu_seconds(self) -> list[float]:
        """The same for the processes each worker started (its screening helpers), summed per worker."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(stat.parent.name))
        return [sum(_process_cpu(pid) for pid in children.get(proc.pid, [])) for proc in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


_policy_version: list[Any] = []


def bench_policy_version() -> Any:
    """The one policy version every request of this run uses. The first warm-up job publishes it (copying the
    base lexicon into the version, about 0.5 s, once per version): a team runs its jobs under a policy version
    that is already in use, so a measured job does not pay for publishing one."""
    from compliance.services import policy_create, policy_version_create

    if not _policy_version:
        policy = policy_create(name=f"bench-{time.time_ns()}", actor=None)
        _policy_version.append(policy_version_create(policy=policy, actor=None))
    return _policy_version[0]


def make_request(records: int, *, label: str) -> int:
    from django.contrib.auth import get_user_model

    from gateway import services
    from gateway.models import Role

    stamp = f"{label}-{time.time_ns()}"
    team = services.team_create(name=f"bench {stamp}", slug=f"bench-{stamp}", actor=None)
    user = get_user_model().objects.create_user(username=f"req-{stamp}")
    services.team_member_add(user=user, team=team, roles=[Role.REQUESTER], actor=None)
    version = bench_policy_version()
    version.refresh_from_db()
    request = services.dataset_request_create(
        actor=user, title="bench", purpose="benchmark", domain="government services", size=records,
        policy_version=version, kind="qa", strategy="knowledge_tree", backend="openai", seed=time.time_ns() % 10**6,
    )
    return request.pk


def run_job(request_id: int, *, timeout: float = 3600) -> dict[str, Any]:
    """Submit (the real task chain takes over) and poll until the gates step is done; stage times in seconds."""
    from django.db import connections

    from gateway import services
    from gateway.models import DatasetRequest

    request = DatasetRequest.objects.get(pk=request_id)
    started = time.monotonic()
    services.dataset_request_submit(request=request, actor=request.requester)
    stages: dict[str, float] = {}
    state = ""
    while state not in FINAL_STATES:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"request {request_id} still {state} after {timeout} s")
        time.sleep(0.05)
        new_state = DatasetRequest.objects.filter(pk=request_id).values_list("state", flat=True).get()
        if new_state != state:
            stages.setdefault(new_state, round(time.monotonic() - started, 2))
            state = new_state
    connections.close_all()
    return {"seconds": round(time.monotonic() - started, 2), "state": state, "stages_reached_at": stages}


def job_report(request_id: int, seconds: float, concurrency: int) -> dict[str, Any]:
    from gateway.models import GenerationJob, QualityReport, Record

    job = GenerationJob.objects.get(request_id=request_id)
    records = Record.objects.filter(request_id=request_id)
    calls_per_record = job.calls / max(1, job.total)
    ideal = job.total * calls_per_record * LATENCY / concurrency
    by_worker = Counter(str(p.get("worker", "?")) for p in records.values_list("provenance", flat=True))
    slots = list(records.values_list("slot_index", flat=True))
    report = QualityReport.objects.filter(request_id=request_id).first()
    gates: dict[str, Any] = {}
    timings: dict[str, float] = {}
    for entry in (report.gates if report else []):
        if "name" in entry:
            gates[entry["name"]] = entry.get("passed")
        elif "quality_report" in entry:
            timings = entry["quality_report"].get("timings_seconds", {})
    return {
        "records": len(slots), "distinct_slots": len(set(slots)), "seconds": seconds,
        "ideal_seconds": round(ideal, 2), "ratio": round(seconds / ideal, 3) if ideal else None,
        "calls_per_record": round(calls_per_record, 3), "paid_calls": job.calls, "retries": job.retries,
        "cache_hits": job.cache_hits, "failed_records": job.failed, "held_records": job.held,
        "records_by_worker_process": dict(by_worker), "quality_suite_seconds": timings,
        "embedding_gate_seconds": round(sum(timings.get(g, 0.0) for g in ("diversity", "relevance")), 2),
        "gate_verdicts": gates,
    }


def warm_up(workers: int, *, attempts: int = 3) -> dict[str, Any]:
    """Run small jobs (4-record chunks, chosen at submit time) until every worker process has written records.

    A worker's first chunk pays for cold code paths; a running deployment has paid them long before.
    """
    from django.conf import settings

    from gateway.models import Record

    seen: set[str] = set()
    chunk_size = settings.GATEWAY["GENERATION_CHUNK_SIZE"]
    settings.GATEWAY["GENERATION_CHUNK_SIZE"] = 4
    try:
        for attempt in range(1, attempts + 1):
            request_id = make_request(4 * workers * 2, label="warm")
            result = run_job(request_id)
            seen |= {str(p.get("worker")) for p in
                     Record.objects.filter(request_id=request_id).values_list("provenance", flat=True)}
            if len(seen) >= workers:
                return {**result, "attempts": attempt, "warm_workers": len(seen)}
    finally:
        settings.GATEWAY["GENERATION_CHUNK_SIZE"] = chunk_size
    raise RuntimeError(f"only {len(seen)} of {workers} workers took a warm-up chunk in {attempts} jobs")


def bench(*, records: int, concurrency: int, workers: int, chunk_size: int, base_url: str, log_dir: Path,
          timeout: float = 5.0, max_retries: int = 5, server: Any = None) -> dict[str, Any]:
    env = endpoint_env(base_url=base_url, concurrency=max(1, concurrency // workers), chunk_size=chunk_size,
                       timeout=timeout, max_retries=max_retries)
    pool = Workers(count=workers, env=env, log_dir=log_dir / f"workers-{workers}")
    try:
        warm = warm_up(workers)
        if server is not None:
            server.state.paid.clear()
        request_id = make_request(records, label=f"w{workers}")
        load_before = load_average()
        cpu_before, own_before, steal_before = pool.cpu_seconds(), time.process_time(), cpu_steal_seconds()
        helpers_before = pool.helper_cpu_seconds()
        result = run_job(request_id)
        steal = round(cpu_steal_seconds() - steal_before, 1)
        cpu = [round(after - before, 1) for before, after in zip(cpu_before, pool.cpu_seconds(), strict=True)]
        helper_cpu = [round(after - before, 1)
                      for before, after in zip(helpers_before, pool.helper_cpu_seconds(), strict=True)]
        own_cpu = round(time.process_time() - own_before, 1)
        load_after = load_average()
    finally:
        pool.stop()
    out = job_report(request_id, result["seconds"], concurrency)
    out.update({"state": result["state"], "stages_reached_at": result["stages_reached_at"],
                "warm_up_seconds": warm["seconds"], "warm_up_jobs": warm["attempts"],
                "load_average_before": load_before,
                "load_average_after": load_after, "request_id": request_id,
                "worker_cpu_seconds": cpu, "screening_helper_cpu_seconds": helper_cpu,
                "bench_process_cpu_seconds_incl_fake_server": own_cpu,
                "cpu_steal_seconds": steal})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=125)
    parser.add_argument("--content", choices=("same", "distinct"), default="same")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per worker count (fresh workers each); the run with the median ratio is reported")
    args = parser.parse_args()
    from tests.generation.fake_openai_server import running_fake_openai_server

    production_mode()
    fresh_database()
    results: dict[str, Any] = {}
    with running_fake_openai_server() as server:
        server.state.latency_seconds = LATENCY
        server.state.record_requests = False
        server.state.distinct_content = args.content == "distinct"
        setup(base_url=server.base_url, chunk_size=args.chunk_size)
        for workers in args.workers:
            runs = []
            for _ in range(max(1, args.repeat)):
                result = bench(records=args.records, concurrency=args.concurrency, workers=workers,
                               chunk_size=args.chunk_size, base_url=server.base_url,
                               log_dir=Path(os.environ["GATEWAY_VAR_DIR"]) / "bench-logs", server=server)
                result["duplicate_paid_calls"] = server.state.duplicate_paid_calls
                runs.append(result)
                print(f"{workers} worker process(es): {json.dumps(result)}", flush=True)
            ratios = sorted(run["ratio"] for run in runs)
            median = next(run for run in runs if run["ratio"] == ratios[(len(ratios) - 1) // 2])
            results[f"workers_{workers}"] = {**median, "ratios": [run["ratio"] for run in runs],
                                             "steal_seconds": [run["cpu_steal_seconds"] for run in runs]}
    print(json.dumps({
        "bench": "gen_throughput", "records": args.records, "concurrency": args.concurrency, "latency_s": LATENCY,
        "chunk_size": args.chunk_size, "content": args.content, "limit_ratio": LIMIT_RATIO,
        "ideal": "records x calls per record x latency / concurrency", "included": INCLUDED,
        "clock": "submit until the gates step moved the request on; workers started and warmed before",
        "settings": "DJANGO_DEBUG=false, PostgreSQL, Redis broker, celery --pool threads --concurrency 2 per process, "
                    "each with its screening helper process (SCREENING_PROCESSES=1, the default)",
        **results, "machine": "shared 2-core virtual machine (see cpu_steal_seconds: CPU time taken by other guests)",
    }))


if __name__ == "__main__":
    main()
