"""A real OpenAI-compatible HTTP server for tests, on 127.0.0.1 in a background thread.

Only ``POST /v1/chat/completions`` (non-streaming). Switches on ``server.state``:

- ``fail_next(n, status=500|429|...)``: the next ``n`` calls fail with that status (429 carries
  ``Retry-After: 0`` and ``retry-after-ms: 10`` so the client's backoff doesn't slow the suite);
- ``delay_seconds``: sleep before answering, to trigger a client timeout;
- ``content``: the assistant message to return (default: a valid record in the schema the prompt's
  ``OUTPUT_SCHEMA`` line asks for); set it to any non-JSON string to test malformed output;
- ``required_api_key``: answer 401 unless ``Authorization: Bearer <key>`` matches; with
  ``echo_authorization`` the 401 quotes the header it got, as some proxies do;
- ``reject_response_format``: answer 400 to any request that sends ``response_format``.

``state.requests`` records each request's JSON body and headers (lower-cased names) for assertions.

    with running_fake_openai_server() as server:
        OpenAIBackend(base_url=server.base_url, api_key="k", model="m", timeout=5, max_retries=0)
"""

from __future__ import annotations

import json
import re
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
    requests: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None


class FakeOpenAIServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

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

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        state = self.server.state
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
            state.requests.append({"body": body, "headers": {k.lower(): v for k, v in self.headers.items()}})

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
            self._send(failure, {"error": {"message": f"injected {failure}", "type": "server_error"}}, headers)
            return
        if state.reject_response_format and "response_format" in body:
            message = "response_format is not supported by this server"
            self._send(400, {"error": {"message": message, "type": "invalid_request_error"}})
            return

        content = state.content if state.content is not None else _default_content(body)
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
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": state.prompt_tokens,
                    "completion_tokens": state.completion_tokens,
                    "total_tokens": state.prompt_tokens + state.completion_tokens,
                },
            },
        )

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


def _default_content(body: dict[str, Any]) -> str:
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    schemas = _SCHEMA_LINE.findall(prompt)
    record = DEFAULT_QA if schemas and schemas[-1] == "qa" else DEFAULT_DIALOGUE
    return json.dumps(record, ensure_ascii=False)


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
