"""The main job: one dataset request end to end, on the embedded default or on real services.

request → generate → screen → gate → approve (by a second user) → release → verify the audit log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verify import audit_chain_verify
from compliance.models import Policy, PolicyVersion
from compliance.services import policy_create, policy_version_create
from gateway import services
from gateway.models import DatasetRequest, Record, Role, Team
from gateway.pipelines.generation import generation_progress
from gateway.states import TERMINAL, RequestState

DEMO_TEAM = ("Demo Retail Bank – Customer Service AI", "demo-retail-bank")
DEMO_USERS = {
    "alice": [Role.REQUESTER],
    "bob": [Role.APPROVER],
    "carol": [Role.AUDITOR],
    "dave": [Role.POLICY_ADMIN],
}
DEMO_POLICY = "finance-default"


class Command(BaseCommand):
    help = "Run one dataset request end to end and print a summary (the README's main job)."
    _workers: list[subprocess.Popen[bytes]] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--records", type=int, default=50, help="How many records to request (default 50).")
        parser.add_argument("--backend", choices=["offline", "openai"], default="offline",
                            help="offline: no model, no network (default); openai: OPENAI_BASE_URL/MODEL.")
        parser.add_argument("--language", choices=["zh", "en"], default="zh")
        parser.add_argument("--workers", type=int, default=1,
                            help="Celery worker processes to start here (0: use workers you run yourself).")
        parser.add_argument("--timeout", type=int, default=900, help="Seconds to wait for the pipeline.")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["records"] < 1:
            raise CommandError("--records must be at least 1")
        call_command("migrate", verbosity=0, interactive=False)
        users = self._demo_people()
        version = self._demo_policy(users["dave"])
        request = services.dataset_request_create(
            actor=users["alice"], title="零售银行客服对话（演示）",
            purpose="Fine-tune a retail-banking customer-service assistant without real customer data.",
            domain="retail banking customer service", language=options["language"], kind="dialogue",
            size=options["records"], policy_version=version, backend=options["backend"], seed=options["seed"],
        )
        self.stdout.write(f"request #{request.pk}: {request.size} records, policy {version}, "
                          f"backend {options['backend']}, broker {self._broker_name()}")
        workers = self._workers = self._start_workers(options["workers"])
        try:
            services.dataset_request_submit(request=request, actor=users["alice"])
            request = self._wait(request.pk, {RequestState.AWAITING_APPROVAL, *TERMINAL}, options["timeout"])
            if request.state == RequestState.AWAITING_APPROVAL:
                self.stdout.write("gates passed; bob (approver, not the requester) approves")
                services.dataset_request_approve(request=request, actor=users["bob"],
                                                 reason="Reviewed gate results and samples.")
                request = self._wait(request.pk, {RequestState.RELEASED, *TERMINAL}, options["timeout"])
        finally:
            self._stop_workers(workers)
        self._summary(request)
        if request.state != RequestState.RELEASED:
            raise CommandError(f"request #{request.pk} ended '{request.state}': {request.state_reason}")

    # --- set-up ---------------------------------------------------------------------------------

    def _demo_people(self) -> dict[str, Any]:
        user_model = get_user_model()
        team = Team.objects.filter(slug=DEMO_TEAM[1]).first()
        if team is None:
            team = services.team_create(name=DEMO_TEAM[0], slug=DEMO_TEAM[1], actor=None)
        people = {}
        for username, roles in DEMO_USERS.items():
            user, created = user_model.objects.get_or_create(username=username)
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
                services.team_member_add(user=user, team=team, roles=list(roles), actor=None)
            people[username] = user
        return people

    def _demo_policy(self, admin: Any) -> PolicyVersion:
        policy = Policy.objects.filter(name=DEMO_POLICY).first() or policy_create(
            name=DEMO_POLICY, description="Retail finance defaults: GB/T 45654 actions, JR/T 0171 masking.",
            actor=admin,
        )
        return policy.latest_version() or policy_version_create(policy=policy, actor=admin)

    # --- workers --------------------------------------------------------------------------------

    def _broker_name(self) -> str:
        return settings.CELERY_BROKER_URL.split("://", 1)[0]

    def _start_workers(self, count: int) -> list[subprocess.Popen[bytes]]:
        if settings.CELERY_TASK_ALWAYS_EAGER or count <= 0:
            return []
        procs = []
        log_dir = Path(settings.VAR_DIR) / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            log_path = log_dir / f"demo-worker-{index}.log"
            with open(log_path, "ab") as log:
                procs.append(subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    [sys.executable, "-m", "celery", "-A", "gateway", "worker", "--pool", "solo",
                     "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
                     "-n", f"demo{index}@%h"],
                    env=os.environ.copy(), cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
                ))
        self.stdout.write(f"started {count} Celery worker process(es); logs in {log_dir}")
        return procs

    def _stop_workers(self, procs: list[subprocess.Popen[bytes]]) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _wait(self, request_id: int, states: set[str], timeout: int) -> DatasetRequest:
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            request = DatasetRequest.objects.select_related("job").get(pk=request_id)
            job = request.job
            bar_width = 30
            filled = int(bar_width * job.done / job.total) if job.total else 0
            progress = generation_progress(job)
            eta = progress["eta_seconds"]
            eta_text = "ETA --" if eta is None else f"ETA {int(eta) // 60}:{int(eta) % 60:02d}"
            line = (f"[{'#' * filled}{'.' * (bar_width - filled)}] {job.done}/{job.total} generated, "
                    f"{job.failed} failed, {job.held} held, {job.prompt_tokens + job.completion_tokens} tokens, "
                    f"cost {job.cost:.4f}, {job.cache_hits} cached, {eta_text} — {request.state}")
            if line != last:
                self.stdout.write(line)
                last = line
            if request.state in states:
                return request
            if self._workers and all(proc.poll() is not None for proc in self._workers):
                raise CommandError("every Celery worker process exited; see the logs under var/log/")
            if time.monotonic() > deadline:
                raise CommandError(f"timed out after {timeout}s with request #{request_id} '{request.state}'")
            time.sleep(0.5)

    # --- summary --------------------------------------------------------------------------------

    def _summary(self, request: DatasetRequest) -> None:
        records = Record.objects.filter(request=request)
        statuses = Counter(records.values_list("status", flat=True))
        masked: Counter[str] = Counter()
        for counts in records.values_list("pii_counts", flat=True):
            masked.update(counts or {})
        out = self.stdout.write
        out("")
        out(f"records generated: {request.job.done} of {request.size} "
            f"(accepted {statuses.get('accepted', 0)}, held {statuses.get('held', 0)}, "
            f"failed {statuses.get('failed', 0)})")
        out("entities masked by type: " + (", ".join(f"{k} {v}" for k, v in sorted(masked.items())) or "none"))
        report = getattr(request, "quality_report", None)
        if report is not None:
            for gate in report.gates:
                if "name" in gate:
                    verdict = "pass" if gate["passed"] else "FAIL"
                    out(f"gate {gate['name']}: {verdict} (metric {gate['metric']}, threshold {gate['threshold']})")
        dataset = getattr(request, "dataset", None)
        if dataset is not None:
            out(f"dataset: {dataset.file_path} ({dataset.record_count} records, sha256 {dataset.content_hash})")
        out(f"request #{request.pk} state: {request.state}")
        result = audit_chain_verify()
        if result.ok:
            out(f"audit log verified: {result.events_checked} events")
        else:
            raise CommandError(f"audit log verification FAILED at event {result.first_bad_seq}: {result.reason}")
