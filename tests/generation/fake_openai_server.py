"""A real OpenAI-compatible HTTP server for tests, on 127.0.0.1 in a background thread.

Only ``POST /v1/chat/completions`` (non-streaming). Switches on ``server.state``:

- ``fail_next(n, status=500|429|...)``: the next ``n`` calls fail with that status (429 carries
  ``Retry-After: 0`` and ``retry-after-ms: 10`` so the client's backoff doesn't slow the suite);
- ``delay_seconds``: sleep before answering, to trigger a client timeout;
- ``content``: the assistant message to return (default: a valid record in the schema the prompt's
  ``OUTPUT_SCHEMA`` line asks for); set it to any non-JSON string to test malformed output;
- ``required_api_key``: answer 401 unless ``Authorization: Bearer <key>`` matches; with
  ``echo_authorization`` the 401 quotes the header it got, as some proxies do;
- ``reject_response_format``: answer 400 to any request that sends ``response_format``;
- ``retry_after``: the Retry-After (seconds, as a string) a 429 carries instead of the fast default;
- ``truncate_next(n)``: the next ``n`` answers are cut in half with ``finish_reason: "length"``;
- ``latency_seconds``: a fixed delay on every call (benchmarks);
- ``fault_rate`` / ``fault_seed``: that share of calls fails at random with 429, 500 or a stall longer
  than the client's time-out (``stall_seconds``), decided per call by a seeded RNG.

- ``distinct_content``: every answer differs (a marker from the request body is appended to each
  text), so quality gates and caches see as many distinct records as there are slots (benchmarks).

**Paid call**: a 200 answer with usage written to a client that was still connected. ``state.paid``
counts them per request-body hash, so a test can prove no call was paid twice
(``duplicate_paid_calls``). A client that hung up while its call was being answered (its time-out
fired first) is not charged, as vLLM aborts such a request: those answers are counted in
``state.abandoned`` and a client retry of the same body then is not a duplicate. Only a time-out that
fires in the instant between the answer being written and being read can still make one.

``state.most_in_flight`` is the most requests it was answering at once.

``state.requests`` records each request's JSON body and headers (lower-cased names) for assertions.

    with running_fake_openai_server() as server:
        OpenAIBackend(base_url=server.base_url, api_key="k", model="m", timeout=5, max_retries=0)
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_DIALOGUE = {
    "messages": [
        {"role": "user", "content": "您好，我想开通手机银行，需要带什么材料？"},
        {
            "role": "assistant",
            "content": "您好，请携带本人身份证和银行卡到任一网点办理，也可以在手机银行App自助注册。",
        },
    ]
}
DEFAULT_QA = {
    "instruction": "请说明信用卡账单分期的手续费如何计算。",
    "response": "账单分期按期收取手续费，每期手续费为分期本金乘以每期费率，随每期本金一起计入账单。",
}
DEFAULT_MATH = {
    "problem": "本金 10000 元，年利率 3%，单利存 2 年，利息是多少？",
    "steps": ["利息 = 10000 × 3% × 2", "= 600 元"],
    "final_answer": "600 元",
}
STEP_DEFAULTS: dict[str, dict[str, Any]] = {
    "qa": DEFAULT_QA,
    "dialogue": DEFAULT_DIALOGUE,
    "math": DEFAULT_MATH,
    "subcategories": {"subcategories": ["冰箱", "空调", "洗衣机"]},
    "items": {"items": ["不制冷", "漏水", "噪音大"]},
    "question": {"question": "个人所得税年度汇算需要准备哪些材料？"},
    "answer": {"answer": "需要准备身份证件、收入和专项附加扣除的相关凭证，通过个人所得税App办理。"},
    "critique": {"critique": "回答缺少办理时间，建议补充。"},
}
_SCHEMA_LINE = re.compile(r"^OUTPUT_SCHEMA:\s*(\w+)\s*$", re.MULTILINE)


@dataclass
class FakeServerState:
    content: str | None = None
    delay_seconds: float = 0.0
    required_api_key: str | None = None
    echo_authorization: bool = False
    reject_response_format: bool = False
    prompt_tokens: int = 42
    completion_tokens: int = 17
    retry_after: str | None = None
    latency_seconds: float = 0.0
    fault_rate: float = 0.0
    fault_seed: int = 0
    stall_seconds: float = 3.0
    distinct_content: bool = False
    record_requests: bool = True
    requests: list[dict[str, Any]] = field(default_factory=list)
    paid: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    abandoned: int = 0
    in_flight: int = 0
    most_in_flight: int = 0
    _failures: list[int] = field(default_factory=list)
    _truncate: int = 0
    _rng: random.Random | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def truncate_next(self, count: int) -> None:
        with self._lock:
            self._truncate += count

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _take_truncation(self) -> bool:
        with self._lock:
            if self._truncate:
                self._truncate -= 1
                return True
            return False

    def _random_fault(self) -> str | None:
        if not self.fault_rate:
            return None
        with self._lock:
            if self._rng is None:
                self._rng = random.Random(self.fault_seed)  # noqa: S311 -- fault injection, not security
            if self._rng.random() >= self.fault_rate:
                return None
            fault = self._rng.choice(("429", "500", "stall"))
            self.faults[fault] = self.faults.get(fault, 0) + 1
            return fault

    @property
    def duplicate_paid_calls(self) -> int:
        with self._lock:
            return sum(count - 1 for count in self.paid.values() if count > 1)


class FakeOpenAIServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # benchmarks open dozens of connections at once

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = FakeServerState()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAIServer
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as uvicorn and vLLM set it: headers and body go out as two writes, and with Nagle on the
    # body waits for the client's delayed ACK of the headers (~40 ms on Linux), added to every call.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        state = self.server.state
        with state._lock:
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
        try:
            self._answer(state)
        finally:
            with state._lock:
                state.in_flight -= 1

    def _answer(self, state: FakeServerState) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        with state._lock:
            state.calls += 1
            if state.record_requests:
                state.requests.append({"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}})

        if state.latency_seconds:
            state._stop.wait(state.latency_seconds)
        fault = state._random_fault()
        if fault == "stall":
            state._stop.wait(state.stall_seconds)
            self._send(500, {"error": {"message": "stalled", "type": "server_error"}})
            return
        if fault is not None:
            status = int(fault)
            headers = {"Retry-After": "0", "retry-after-ms": "20"} if status == 429 else {}
            self._send(status, {"error": {"message": f"injected {status}", "type": "server_error"}}, headers)
            return
        if state.delay_seconds:
            # An Event rather than time.sleep so shutting the server down doesn't wait out the delay.
            state._stop.wait(state.delay_seconds)
        authorization = self.headers.get("Authorization")
        if state.required_api_key is not None and authorization != f"Bearer {state.required_api_key}":
            message = "Incorrect API key provided."
            if state.echo_authorization:
                message += f" Got: {authorization}"
            error = {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}
            self._send(401, {"error": error})
            return
        failure = state._take_failure()
        if failure is not None:
            # retry-after-ms too: the client ignores a zero Retry-After and falls back to ~0.5 s backoff.
            headers = {"Retry-After": "0", "retry-after-ms": "10"} if failure == 429 else {}
            if failure == 429 and state.retry_after is not None:
                headers = {"Retry-After": state.retry_after}
            self._send(failure, {"error": {"message": f"injected {failure}", "type": "server_error"}}, headers)
            return
        if state.reject_response_format and "response_format" in body:
            message = "response_format is not supported by this server"
            self._send(400, {"error": {"message": message, "type": "invalid_request_error"}})
            return

        digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        content = state.content if state.content is not None else _default_content(
            body, marker=digest[:10] if state.distinct_content else "")
        finish_reason = "stop"
        if state._take_truncation():
            content, finish_reason = content[: len(content) // 2], "length"
        if self._client_gone():
            with state._lock:
                state.abandoned += 1
            return
        with state._lock:
            state.paid[digest] = state.paid.get(digest, 0) + 1
        self._send(
            200,
            {
                "id": f"chatcmpl-fake-{len(state.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake-model"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": state.prompt_tokens,
                    "completion_tokens": state.completion_tokens,
                    "total_tokens": state.prompt_tokens + state.completion_tokens,
                },
            },
        )

    def _client_gone(self) -> bool:
        """True when the client closed the connection (its time-out fired) before we answered."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test): nothing to answer


def _default_content(body: dict[str, Any], *, marker: str = "") -> str:
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    schemas = _SCHEMA_LINE.findall(prompt)
    record = STEP_DEFAULTS.get(schemas[-1], DEFAULT_DIALOGUE) if schemas else DEFAULT_DIALOGUE
    if marker:
        record = _marked(record, marker)
    return json.dumps(record, ensure_ascii=False)


_UNMARKED = frozenset({"role", "subcategories", "items", "steps", "final_answer"})


def _marked(value: Any, marker: str) -> Any:
    """``value`` with ``marker`` appended to every text in it (lists of names stay as they are)."""
    if isinstance(value, dict):
        return {k: v if k in _UNMARKED else _marked(v, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v, marker) for v in value]
    return f"{value}（编号 {marker}）" if isinstance(value, str) else value


@contextmanager
def running_fake_openai_server() -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.state._stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
