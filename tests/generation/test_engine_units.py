"""Knowledge trees, the encrypted response cache, adaptive back-off, options and the chained strategies."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from generation.cache import MeteredBackend, ResponseStore, call_key, seal, unseal
from generation.client import AdaptiveLimiter, OpenAIBackend
from generation.knowledge import dump_tree, leaf_tags, parse_tree_document
from generation.models import KnowledgeTree
from generation.multistep import weighted_slot_choice
from generation.offline import OfflineBackend
from generation.options import options_problems
from generation.strategies import strategy_for_name
from generation.types import (
    Completion,
    GenerationConfigError,
    GenerationSpec,
    MalformedOutputError,
    TransientGenerationError,
)
from tests.generation.fake_openai_server import FakeOpenAIServer

TREE_YAML = """
slug: tiny
name: Tiny
nodes:
  - key: fin
    zh: 金融
    en: Finance
    weight: 2
    children:
      - key: bank
        zh: 银行
        children:
          - {key: cards, zh: 银行卡, en: Cards}
          - {key: loans, zh: 贷款, weight: 3}
  - key: gov
    zh: 政务
    children:
      - key: tax
        zh: 税务
        children:
          - {key: iit, zh: 个税}
"""


def test_tree_document_round_trips_through_json_and_yaml() -> None:
    tree = parse_tree_document(TREE_YAML)
    for fmt in ("json", "yaml"):
        again = parse_tree_document(dump_tree(tree, fmt))
        assert again == tree
    assert json.loads(dump_tree(tree, "json"))["nodes"][0]["children"][0]["children"][1] == {
        "key": "loans", "level": "subtopic", "zh": "贷款", "weight": 3}


@pytest.mark.parametrize(("text", "message"), [
    ("slug: a\nname: b\nnodes: []", "'nodes' must be a non-empty list"),
    ("slug: a\nname: b\nnodes: [{key: x, zh: 甲}, {key: x, zh: 乙}]", "'x' is used twice"),
    ("slug: a\nname: b\nnodes: [{key: x, zh: 甲, level: topic}]", "is 'topic' but a node at this depth is a domain"),
    ("slug: a\nname: b\nnodes: [{key: x}]", "nodes[0].zh"),
    ("slug: a\nname: b\nnodes: [{key: a, zh: 一, children: [{key: b, zh: 二, children: [{key: c, zh: 三, "
     "children: [{key: d, zh: 四}]}]}]}]", "deeper than domain"),
    ("[1, 2", "not valid JSON or YAML"),
])
def test_bad_tree_documents_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(GenerationConfigError) as info:
        parse_tree_document(text)
    assert message in str(info.value)


def test_leaf_tags_carry_paths_and_path_weights_and_filter_by_node() -> None:
    tree = parse_tree_document(TREE_YAML)
    tags = leaf_tags(tree, language="en")
    assert tags == [
        {"key": "cards", "path": ["Finance", "银行", "Cards"], "weight": 2},
        {"key": "loans", "path": ["Finance", "银行", "贷款"], "weight": 6},
        {"key": "iit", "path": ["政务", "税务", "个税"], "weight": 1},
    ]
    assert [t["key"] for t in leaf_tags(tree, language="zh", within=["gov"])] == ["iit"]
    with pytest.raises(GenerationConfigError, match=r"has no nodes \['nope'\]"):
        leaf_tags(tree, language="zh", within=["nope"])


@pytest.mark.django_db
def test_seed_tree_is_installed_and_the_command_exports_and_imports(tmp_path: Any) -> None:
    seed = KnowledgeTree.objects.get(slug="finance-government-seed")
    assert set(seed.nodes.filter(level="domain").values_list("key", flat=True)) == {"finance", "government"}
    assert seed.nodes.filter(level="subtopic").count() == 27  # 14 finance + 13 government services
    out = StringIO()
    call_command("knowledge_tree", "export", "finance-government-seed", "--format", "json", stdout=out)
    document = json.loads(out.getvalue())
    assert document["nodes"][1]["children"][1]["children"][0]["zh"] == "个人所得税年度汇算"
    path = tmp_path / "tiny.yaml"
    path.write_text(TREE_YAML, encoding="utf-8")
    out = StringIO()
    call_command("knowledge_tree", "import", str(path), stdout=out)
    assert out.getvalue().strip() == "imported knowledge tree tiny (7 nodes)"
    from generation.services import knowledge_tree_tags

    assert [t["key"] for t in knowledge_tree_tags(slug="tiny", language="zh", nodes=["bank"])] == ["cards", "loans"]


def test_cached_answers_are_encrypted_and_bound_to_their_key(settings: Any) -> None:
    completion = Completion(text='{"instruction": "身份证号110101199003078515"}', model="m", prompt_tokens=3,
                            completion_tokens=4)
    blob = seal("k1", completion)
    assert b"110101199003078515" not in blob and "身份证".encode() not in blob
    assert unseal("k1", blob) == completion
    assert unseal("k2", blob) is None  # moved to another key: refused
    settings.PII_HMAC_KEY = "another-key"
    assert unseal("k1", blob) is None


def test_call_key_covers_model_messages_parameters_and_seed() -> None:
    base = {"backend": "openai", "model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.7,
            "max_tokens": 10, "seed": 1, "json_mode": True}
    key = call_key(**base)  # type: ignore[arg-type]
    for change in ({"model": "n"}, {"messages": [{"role": "user", "content": "y"}]}, {"temperature": 0.1},
                   {"max_tokens": 11}, {"seed": 2}, {"json_mode": False}):
        assert call_key(**{**base, **change}) != key  # type: ignore[arg-type]


def test_metered_backend_answers_repeats_from_the_cache_and_counts() -> None:
    store = ResponseStore(request_id=None)
    inner = OfflineBackend()
    spec = GenerationSpec(purpose="p", domain="banking", language="zh", kind="qa", task="t")
    first = MeteredBackend(inner, store=store, slot_index=0)
    record = strategy_for_name("knowledge_tree").generate(spec=spec, slot_index=0, backend=first)
    assert (first.meter.calls, first.meter.cache_hits) == (4, 0)
    second = MeteredBackend(inner, store=store, slot_index=0)
    again = strategy_for_name("knowledge_tree").generate(spec=spec, slot_index=0, backend=second)
    assert (second.meter.calls, second.meter.cache_hits, second.meter.prompt_tokens) == (0, 4, 0)
    assert again.content == record.content
    assert [c["cached"] for c in second.meter.log] == [True] * 4


def test_a_429_with_retry_after_pauses_every_caller_and_halves_the_limit(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.retry_after = "1"
    fake_openai_server.state.fail_next(1, status=429)
    backend = OpenAIBackend(base_url=fake_openai_server.base_url, api_key="k", model="m", timeout=5, max_retries=2,
                            concurrency=8)
    started = time.monotonic()
    completion = backend.complete([{"role": "user", "content": "OUTPUT_SCHEMA: qa"}], temperature=0, max_tokens=5,
                                  seed=1, json_mode=True)
    assert 1.0 <= time.monotonic() - started < 3
    assert completion.retries == 1
    assert (backend.limiter.limit, backend.limiter.throttled) == (4, 1)


def test_the_limit_counts_requests_on_the_wire(fake_openai_server: FakeOpenAIServer) -> None:
    # The slot is taken per HTTP request, so the server never sees more than the limit at once, and each
    # slot is free again as soon as the answer is read (the client's own parsing runs outside it).
    fake_openai_server.state.latency_seconds = 0.05
    backend = OpenAIBackend(base_url=fake_openai_server.base_url, api_key="k", model="m", timeout=5, max_retries=0,
                            concurrency=3)
    with ThreadPoolExecutor(max_workers=12) as pool:
        completions = list(pool.map(lambda _: backend.complete([{"role": "user", "content": "OUTPUT_SCHEMA: qa"}],
                                                                temperature=0, max_tokens=5, seed=None,
                                                                json_mode=True), range(24)))
    assert len(completions) == 24 and fake_openai_server.state.calls == 24
    assert fake_openai_server.state.most_in_flight == 3
    assert backend.limiter.in_flight == 0


def test_a_429_without_retry_after_pauses_every_caller_for_our_back_off(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.retry_after = "soon"  # not a number: the client falls back to its own back-off
    fake_openai_server.state.fail_next(1, status=429)
    backend = OpenAIBackend(base_url=fake_openai_server.base_url, api_key="k", model="m", timeout=5, max_retries=0,
                            concurrency=8)
    with pytest.raises(TransientGenerationError):
        backend.complete([{"role": "user", "content": "OUTPUT_SCHEMA: qa"}], temperature=0, max_tokens=5, seed=1,
                         json_mode=True)
    assert (backend.limiter.limit, backend.limiter.throttled, backend.limiter.in_flight) == (4, 1, 0)
    assert backend.limiter.paused_until > time.monotonic()  # the server said slow down: every thread waits
    backend.max_retries = 1
    fake_openai_server.state.fail_next(1, status=429)
    started = time.monotonic()
    backend.complete([{"role": "user", "content": "OUTPUT_SCHEMA: qa"}], temperature=0, max_tokens=5, seed=1,
                     json_mode=True)
    assert time.monotonic() - started >= 0.25  # BACKOFF_BASE_SECONDS x (0.5..1) jitter, applied as a pause
    assert backend.limiter.throttled == 2


def test_limiter_grows_back_after_successes() -> None:
    limiter = AdaptiveLimiter(4)
    limiter.acquire()
    limiter.release(throttled_for=0.0)
    assert limiter.limit == 2
    for _ in range(2):
        limiter.acquire()
        limiter.release()
    assert limiter.limit == 3


def _hammer(limiter: AdaptiveLimiter, threads: int, calls: int, hold: float) -> tuple[int, float]:
    """``threads`` threads each making ``calls`` calls of ``hold`` seconds; the most in flight and the time."""
    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def call() -> None:
        for _ in range(calls):
            limiter.acquire()
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
            time.sleep(hold)
            with lock:
                state["now"] -= 1
            limiter.release()

    workers = [threading.Thread(target=call) for _ in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(worker.is_alive() for worker in workers)
    return state["most"], time.monotonic() - started


def test_limiter_keeps_its_slots_full_when_many_threads_wait() -> None:
    # 40 threads share 8 slots (as two chunks of a worker share its budget): never more than 8 in flight, and a
    # freed slot is taken at once (waking one waiter per free slot, not all of them, must not lose a wake-up).
    limiter = AdaptiveLimiter(8)
    most, seconds = _hammer(limiter, threads=40, calls=5, hold=0.02)
    ideal = 40 * 5 * 0.02 / 8
    assert most == 8 and limiter.in_flight == 0
    assert seconds < ideal * 1.6


def test_limiter_after_a_pause_fills_every_free_slot() -> None:
    limiter = AdaptiveLimiter(8)
    limiter.acquire()
    limiter.release(throttled_for=0.3)  # limit 4 (growing back by one per `limit` successes), nobody starts for 0.3 s
    most, seconds = _hammer(limiter, threads=12, calls=2, hold=0.05)
    assert 4 <= most <= 8 and limiter.in_flight == 0
    assert 0.25 <= seconds < 0.3 + 12 * 2 * 0.05 / 4 + 0.3


def test_a_500_is_retried_and_counted_but_a_400_is_not(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.fail_next(2, status=500)
    backend = OpenAIBackend(base_url=fake_openai_server.base_url, api_key="k", model="m", timeout=5, max_retries=3)
    completion = backend.complete([{"role": "user", "content": "x"}], temperature=0, max_tokens=5, seed=1,
                                  json_mode=False)
    assert completion.retries == 2 and len(fake_openai_server.state.requests) == 3


def test_truncated_output_is_repaired_once_and_the_reason_says_truncated(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.truncate_next(1)
    backend = OpenAIBackend(base_url=fake_openai_server.base_url, api_key="k", model="m", timeout=5, max_retries=0)
    spec = GenerationSpec(purpose="p", domain="banking", language="zh", kind="math", task="t",
                          options={"tags": [{"key": "deposits", "path": ["金融", "存款"]}], "refine": False})
    record = strategy_for_name("knowledge_tree").generate(spec=spec, slot_index=0, backend=backend)
    assert record.content["final_answer"] == "600 元"
    assert "truncated at max_tokens" in record.provenance["steps"][0]["malformed"][0]
    assert record.usage["calls"] == 3


def test_maths_output_without_a_final_answer_fails_after_one_repair(fake_openai_server: FakeOpenAIServer) -> None:
    fake_openai_server.state.content = json.dumps({"problem": "1+1?", "steps": ["1+1=2"]})
    backend = OpenAIBackend(base_url=fake_openai_server.base_url, api_key="k", model="m", timeout=5, max_retries=0)
    spec = GenerationSpec(purpose="p", domain="banking", language="en", kind="math", task="t")
    with pytest.raises(MalformedOutputError, match="'final_answer' must be a non-empty string or number"):
        strategy_for_name("prompt_template").generate(spec=spec, slot_index=0, backend=backend)
    assert len(fake_openai_server.state.requests) == 2


def test_offline_maths_is_exact_and_marks_the_final_answer() -> None:
    spec = GenerationSpec(purpose="p", domain="banking", language="zh", kind="math", task="t")
    record = strategy_for_name("prompt_template").generate(spec=spec, slot_index=5, backend=OfflineBackend())
    import re

    principal, rate, years = re.search(r"存入 (\d+) 元.*?年利率为 ([\d.]+)%.*?存期 (\d+) 年",
                                       record.content["problem"]).groups()  # type: ignore[union-attr]
    from decimal import Decimal

    total = Decimal(principal) + (Decimal(principal) * Decimal(rate) / 100 * int(years)).quantize(Decimal("0.01"))
    assert record.content["final_answer"] == f"{total} 元"
    assert record.text.endswith(f"最终答案：{total} 元")


def test_weighted_slot_choice_gives_the_exact_mix_spread_over_slots() -> None:
    weights = [("冰箱", 3.0), ("空调", 5.0), ("洗衣机", 2.0)]
    picks = [weighted_slot_choice(weights, slot, 100) for slot in range(100)]
    assert (picks.count("冰箱"), picks.count("空调"), picks.count("洗衣机")) == (30, 50, 20)
    assert len(set(picks[:10])) == 3  # the first chunk already sees every subcategory


def test_multi_step_pays_for_shared_lists_once_per_strategy_instance() -> None:
    spec = GenerationSpec(purpose="p", domain="家电维修咨询", language="zh", kind="dialogue", task="t",
                          options={"size": 8})
    strategy = strategy_for_name("multi_step")
    usages = [strategy.generate(spec=spec, slot_index=i, backend=OfflineBackend()).usage["calls"] for i in range(8)]
    # subcategories (1) + one items list per subcategory (4) + 8 records
    assert sum(usages) == 1 + 4 + 8
    record = strategy.generate(spec=spec, slot_index=0, backend=OfflineBackend())
    assert record.provenance["category"] == "冰箱"
    assert [s["step"] for s in record.provenance["steps"]] == ["subcategories", "items", "generate"]


@pytest.mark.parametrize(("options", "problem"), [
    ({"colour": 1}, "unknown option 'colour'"),
    ({"subcategories": {"a": -1}}, "non-negative weights"),
    ({"conditions": "x"}, "conditions must be a non-empty list"),
    ({"refine": "yes"}, "refine must be true or false"),
    ({"subcategory_count": 0}, "from 1 to 50"),
])
def test_bad_options_are_named(options: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in options_problems(options))


def test_good_options_have_no_problems() -> None:
    assert options_problems({"conditions": ["面向学生"], "subcategories": ["冰箱", "空调"], "refine": False}) == []


def test_limiter_hands_a_free_slot_to_the_lowest_priority_first_and_equals_in_turn() -> None:
    limiter = AdaptiveLimiter(1)
    limiter.acquire()
    order: list[str] = []

    def wait_for_slot(name: str, priority: float) -> None:
        limiter.acquire(priority)
        order.append(name)
        limiter.release()

    threads = []
    for name, priority in (("late-chunk", 9.0), ("old-chunk-a", 1.0), ("middle-chunk", 5.0), ("old-chunk-b", 1.0)):
        threads.append(threading.Thread(target=wait_for_slot, args=(name, priority)))
        threads[-1].start()
        deadline = time.monotonic() + 5
        while len(limiter._waiting) < len(threads) and time.monotonic() < deadline:  # queued in this order
            time.sleep(0.005)
    limiter.release()
    for thread in threads:
        thread.join(timeout=5)
    assert order == ["old-chunk-a", "old-chunk-b", "middle-chunk", "late-chunk"]
    assert limiter.in_flight == 0


def test_chunks_sharing_a_limiter_finish_oldest_first_with_every_slot_busy() -> None:
    # Two chunks of a worker with 8 threads each share 4 slots: the older one runs at full speed and the younger
    # fills its gaps, so the older is done when about half the work is, not both at the very end.
    limiter = AdaptiveLimiter(4)
    finished: dict[str, float] = {}
    most = {"now": 0, "top": 0}
    lock = threading.Lock()
    started = time.monotonic()

    def chunk(name: str, priority: float) -> None:
        def slot() -> None:
            for _ in range(4):
                limiter.acquire(priority)
                with lock:
                    most["now"] += 1
                    most["top"] = max(most["top"], most["now"])
                time.sleep(0.02)
                with lock:
                    most["now"] -= 1
                limiter.release()

        workers = [threading.Thread(target=slot) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        finished[name] = time.monotonic() - started

    chunks = [threading.Thread(target=chunk, args=("old", 1.0)), threading.Thread(target=chunk, args=("young", 2.0))]
    for thread in chunks:
        thread.start()
    for thread in chunks:
        thread.join(timeout=60)
    assert most["top"] == 4 and limiter.in_flight == 0
    assert finished["old"] < 0.75 * finished["young"], finished


def test_the_share_embedded_ahead_covers_the_gate_sample_with_little_to_spare() -> None:
    import random

    from gateway.pipelines.generation import gate_sample_share

    assert gate_sample_share(150, 100) == 1.0 and gate_sample_share(150, 150) == 1.0
    rng = random.Random(7)
    for records in (200, 1000, 10_000):
        share = gate_sample_share(150, records)
        short, ahead = [], []
        for _ in range(200):
            # Each record's rank is a hash of its text: uniform. The gates embed the 150 lowest-ranked records.
            below = sum(rng.random() < share for _ in range(records))
            short.append(max(0, 150 - below))
            ahead.append(below)
        assert sum(short) / len(short) < 0.5, records  # what the gates still embed themselves, on average
        assert sum(ahead) / len(ahead) < 150 * 1.2, records  # what was embedded for nothing stays small


def test_a_caller_interrupted_while_waiting_leaves_no_slot_and_no_waiter_behind() -> None:
    import signal

    class Interrupted(Exception):
        pass

    def interrupt(*_args: Any) -> None:
        raise Interrupted

    limiter = AdaptiveLimiter(1)
    limiter.acquire()
    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        with pytest.raises(Interrupted):
            limiter.acquire()  # waits for the one slot, and is interrupted meanwhile
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert limiter._waiting == [] and limiter.in_flight == 1
    limiter.release()
    limiter.acquire()  # the freed slot is not held by the interrupted caller
    assert limiter.in_flight == 1
