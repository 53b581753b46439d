"""Tokens per second through the real local SmolLM2-135M server (llama-cpp-python), via our OpenAIBackend.

    LLM_BASE_URL=$(.ci/llm-server.sh) .venv/bin/python bench/gen_smollm2.py [--calls 8] [--concurrency 1 2]
Baseline in the same run: the same calls with concurrency 1. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    base_url = os.environ.get("LLM_BASE_URL", "http://127.0.0.1:8765/v1")
    from generation.client import OpenAIBackend
    from generation.types import GenerationError

    results: dict[str, object] = {}
    for concurrency in args.concurrency:
        backend = OpenAIBackend(base_url=base_url, api_key="not-needed", model="smollm2", timeout=120,
                                max_retries=0, concurrency=concurrency)

        def one(i: int, backend: OpenAIBackend = backend) -> int:
            completion = backend.complete([{"role": "user", "content": f"Write a short tip about saving money #{i}."}],
                                          temperature=0.7, max_tokens=args.max_tokens, seed=i, json_mode=False)
            return completion.completion_tokens

        started = time.monotonic()
        try:
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                tokens = sum(pool.map(one, range(args.calls)))
        except GenerationError as exc:
            results[f"concurrency_{concurrency}"] = {"error": str(exc)[:300]}
            continue
        elapsed = time.monotonic() - started
        results[f"concurrency_{concurrency}"] = {"completion_tokens": tokens, "seconds": round(elapsed, 2),
                                                 "tokens_per_second": round(tokens / elapsed, 1)}
        print(concurrency, results[f"concurrency_{concurrency}"], flush=True)
    print(json.dumps({"bench": "gen_smollm2", "base_url": base_url, "calls": args.calls, **results,
                      "machine": "shared 2-core, other engineers running"}))


if __name__ == "__main__":
    main()
