"""Screening in helper processes: the same outcomes as screening here, and nothing lost or passed when a
helper fails.

A helper reads the policy's rules through its own database connection, so these tests commit
(``transaction=True``) and need a database other processes can open: PostgreSQL, or a SQLite file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from compliance.screening import screen_contents
from compliance.screening_pool import ScreeningPool

CONTENTS: list[Any] = [
    {"instruction": "我叫王建国，身份证号 110101199003074573，手机 138-1234-5678，想查一下信用卡账单。",
     "response": "王先生您好，已为您查到账单，请拨打 021-62345678 咨询分期。"},
    {"messages": [{"role": "user", "content": "Please email jane.doe@example.com about card 4111 1111 1111 1111."},
                  {"role": "assistant", "content": "Done. Jane Doe will get the statement today."}]},
    "教你制造炸弹，用来袭击人群。",  # blocked by the content-safety policy
]


def other_processes_can_open_the_database() -> bool:
    """PostgreSQL, or a SQLite file; not an in-memory SQLite database."""
    name = str(connection.settings_dict["NAME"])
    return connection.vendor != "sqlite" or not (name == ":memory:" or "mode=memory" in name)


@pytest.fixture
def shared_database(transactional_db: None) -> None:
    if not other_processes_can_open_the_database():
        pytest.skip("helper processes need a database they can open too (PostgreSQL or a SQLite file)")


@pytest.fixture
def pool(shared_database: None, settings: Any) -> Iterator[ScreeningPool]:
    # A key set here, not in the environment the helper starts with: its pseudonyms only match ours if the
    # pool hands it over.
    settings.PII_HMAC_KEY = "screening-pool-test-key"
    screening = ScreeningPool(processes=1, timeout=60)
    yield screening
    screening.shutdown()


def _expected(policy_version: Any) -> list[Any]:
    return screen_contents(contents=CONTENTS, policy_version=policy_version, pseudonym_scope="request:7")


def test_a_helper_screens_exactly_as_this_process_does(pool: ScreeningPool, policy_version: Any) -> None:
    got = pool.submit(contents=CONTENTS, policy_version=policy_version, pseudonym_scope="request:7").result(120)
    expected = _expected(policy_version)
    assert got == expected
    assert [o.accepted for o in got] == [True, True, False]
    assert got[0].counts["CN_RESIDENT_ID"] == 1 and "110101199003074573" not in str(got[0].masked_content)
    assert got[2].reason.startswith("blocked by content-safety policy")
    pids = pool.helper_pids()
    assert len(pids) == 1 and os.getpid() not in pids


def test_a_helper_that_dies_leaves_nothing_unscreened(pool: ScreeningPool, policy_version: Any) -> None:
    pool.submit(contents=CONTENTS[:1], policy_version=policy_version, pseudonym_scope="request:7").result(120)
    (helper,) = pool.helper_pids()
    futures = [pool.submit(contents=CONTENTS, policy_version=policy_version, pseudonym_scope="request:7")]
    os.kill(helper, signal.SIGKILL)
    futures += [pool.submit(contents=CONTENTS, policy_version=policy_version, pseudonym_scope="request:7")
                for _ in range(3)]
    # Every submission is judged, here if not in the helper: the same outcomes, none lost, none passed unjudged.
    expected = _expected(policy_version)
    assert [f.result(120) for f in futures] == [expected] * 4
    assert pool.restarts == 1
    assert pool.helper_pids() == []  # screening stays here until RESTART_AFTER_SECONDS have passed


def test_content_a_helper_cannot_take_is_held_back_with_the_reason(pool: ScreeningPool, policy_version: Any) -> None:
    unpicklable = {"instruction": "hello", "response": threading.Lock()}
    (outcome,) = pool.submit(contents=[unpicklable], policy_version=policy_version,
                             pseudonym_scope="request:7").result(120)
    assert not outcome.accepted and outcome.masked_content is None
    assert outcome.reason.startswith("screening in a helper process failed, held back:")
    # The helper itself is fine: the next record is screened there.
    assert pool.submit(contents=CONTENTS, policy_version=policy_version,
                       pseudonym_scope="request:7").result(120) == _expected(policy_version)
    assert pool.restarts == 0


def test_a_screening_that_does_not_come_back_is_held_back_and_the_helper_replaced(
    pool: ScreeningPool, policy_version: Any
) -> None:
    pool.submit(contents=CONTENTS[:1], policy_version=policy_version, pseudonym_scope="request:7").result(120)
    (first_helper,) = pool.helper_pids()
    pool.timeout = 0.0
    late = pool.submit(contents=CONTENTS * 20, policy_version=policy_version, pseudonym_scope="request:7")
    assert pool.expire_overdue() == 1
    outcomes = late.result(1)
    assert len(outcomes) == 60 and not any(o.accepted for o in outcomes)
    assert outcomes[0].reason.startswith("screening in a helper process failed, held back: TimeoutError")
    assert all(o.masked_content is None for o in outcomes)
    # The hung helper is killed and a new one takes the next submission.
    deadline = time.monotonic() + 10
    while _alive(first_helper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(first_helper)
    pool.timeout = 60
    assert pool.submit(contents=CONTENTS, policy_version=policy_version,
                       pseudonym_scope="request:7").result(120) == _expected(policy_version)
    assert pool.helper_pids() and first_helper not in pool.helper_pids()


def test_helpers_that_cannot_start_leave_the_screening_to_this_process(
    pool: ScreeningPool, policy_version: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ProcessPoolExecutor

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("daemonic processes are not allowed to have children")

    monkeypatch.setattr(ProcessPoolExecutor, "submit", refuse)
    pool.warm_up()
    outcomes = pool.submit(contents=CONTENTS, policy_version=policy_version, pseudonym_scope="request:7").result(120)
    assert outcomes == _expected(policy_version)  # judged here, none lost, none passed unjudged
    assert pool.restarts == 1 and pool.helper_pids() == []


def test_a_daemonic_worker_process_screens_in_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing
    from types import SimpleNamespace

    from compliance.screening_pool import screening_pool

    # A child of Celery's prefork pool is daemonic: it may not start processes of its own.
    monkeypatch.setattr(multiprocessing, "current_process", lambda: SimpleNamespace(daemon=True))
    assert screening_pool(1) is None
    assert screening_pool(0) is None


HOLDER = """
import os, sys, time
import django
django.setup()
from compliance.screening_pool import ScreeningPool

def main():
    pool = ScreeningPool(processes=1)
    pool.warm_up()
    deadline = time.monotonic() + 120
    while not pool.helper_pids() and time.monotonic() < deadline:
        time.sleep(0.1)
    print(pool.helper_pids()[0], flush=True)
    time.sleep(600)

if __name__ == "__main__":
    main()
"""


def test_a_helper_leaves_when_its_worker_is_killed(tmp_path: Any) -> None:
    import subprocess
    import sys

    from django.conf import settings

    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gateway.settings", "PYTHONPATH": str(settings.BASE_DIR)}
    holder = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)  # noqa: S603
    try:
        helper = int(holder.stdout.readline())  # type: ignore[union-attr]
        assert _alive(helper)
        holder.kill()  # SIGKILL: the worker gets no chance to stop its helpers
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(helper) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(helper)
    finally:
        holder.kill()


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by whoever is its parent now, counts as gone)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
