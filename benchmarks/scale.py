"""Scale: n = 10⁴, 10⁵, 10⁶ participants, m = 200 statements, k = 10, on one machine; and model
queries through the Ray executor against a loopback endpoint with a fixed latency.

    .venv/bin/python benchmarks/scale.py                    # every size and the Ray table
    .venv/bin/python benchmarks/scale.py --sizes 10000      # one size
    .venv/bin/python benchmarks/scale.py --no-ray           # the offline table only

Offline profiles are synthetic and seeded. Votes: each participant has a 3-d opinion x_i and each
statement y_j; the participant votes on 30 statements chosen at random: agree when
x_i·y_j + ε > 0.5, disagree below −0.5, else pass (ε ~ N(0, 0.7²)). The rules and checks run on the
complete utilities 2 + ½·x_i·y_j clipped to 0–4 (float32; about 1 % clipped at 4), as after imputation.

Every measurement runs in a fresh Python process (``--one``): the seconds are the call alone (the
profile is built first, untimed); memory is that process's peak resident set, profile included. A run's
phases also report their own peak resident set (``phase_peak_gb``; Linux: the high-water mark is reset
through ``/proc/self/clear_refs`` as each phase starts).
The two round rules are each measured in ``FRESH_PROCESSES`` fresh processes, taking turns, with BLAS held to one
thread (both are single-threaded; threads left spinning by the profile's matrix product would take a core): the
table shows the median first call, and they are also timed warm, the fastest of ``WARM_REPEATS`` more calls in
each process.
The growth exponent is the slope of log time against log n over the sizes measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = [10_000, 100_000, 1_000_000]
M, K, VOTES_PER_PERSON, SEED = 200, 10, 30, 2026
COMPONENTS = ["seq-pav", "gsc", "balanced+bjr", "cf fit", "run"]
POOL_ROUNDS = ("round over a pool", "round over copies")
LEFT_OUT = 10
"""One round of the process when the first LEFT_OUT statements may not compete: ``gsc_round(pool=)`` against the
copies of U's pooled columns and of their transpose that the process made before."""
WARM_REPEATS = 4
"""The round rules are also timed on this many more calls in the same process; the fastest is reported."""
ROUND_RULES = ("seq-pav", "gsc")
FRESH_PROCESSES = 5
"""The round rules are each measured in this many fresh processes, taking turns: a first call is one timing of a
few milliseconds at n = 10⁴ and moves by a factor of 2 between processes on a shared machine, so the table shows
the median first call (and the fastest warm call over all the processes)."""
PHASES = ["setup", "impute", "rounds", "assign", "accuracy", "audit", "extras"]


def synthetic_votes(n: int, m: int = M, per: int = VOTES_PER_PERSON, seed: int = SEED):
    """A Polis-like vote profile (see the module docstring), built from arrays."""
    from pnyx.data import Participant, Profile, Statement

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    Y = rng.normal(size=(m, 3)).astype(np.float32)
    chunk = 100_000
    cols = np.concatenate([np.argpartition(rng.random((min(chunk, n - s), m), dtype=np.float32), per, axis=1)[:, :per]
                           .ravel() for s in range(0, n, chunk)])
    rows = np.repeat(np.arange(n), per)
    score = np.einsum("ek,ek->e", X[rows], Y[cols]) + rng.normal(0, 0.7, rows.size).astype(np.float32)
    votes = np.where(score > 0.5, 1.0, np.where(score < -0.5, -1.0, 0.0))
    participants = [Participant(f"p{i}") for i in range(n)]
    statements = [Statement(f"c{j}", f"Comment number {j} of the synthetic conversation.") for j in range(m)]
    return Profile.from_arrays(participants, statements, rows, cols, votes, "vote", source="synthetic")


def synthetic_utilities(n: int, m: int = M, seed: int = SEED) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    Y = rng.normal(size=(m, 3)).astype(np.float32)
    U = X @ Y.T
    U *= 0.5
    U += 2.0
    return np.clip(U, 0.0, 4.0, out=U)


def write_polis_export(folder: Path, votes: int, voters: int, m: int = M, seed: int = SEED) -> None:
    """A Polis export folder: m comments and a ``votes.csv`` of ``votes`` rows (some superseded)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "comments.csv", "w") as f:
        f.write("timestamp,datetime,comment-id,author-id,agrees,disagrees,moderated,comment-body\n")
        for j in range(m):
            f.write(f"{j},x,{j},{j % voters},0,0,1,Comment number {j}\n")
    with open(folder / "votes.csv", "w") as f:
        f.write("timestamp,datetime,comment-id,voter-id,vote\n")
        for start in range(0, votes, 100_000):
            size = min(100_000, votes - start)
            stamp = np.arange(start, start + size)
            c, v, x = rng.integers(0, m, size), rng.integers(0, voters, size), rng.integers(-1, 2, size)
            f.writelines(f"{t},x,{a},{b},{y}\n" for t, a, b, y in zip(stamp, c, v, x))


def _peak_gb(reset: bool = False) -> float:
    """This process's resident high-water mark in GB since the last reset (Linux), then reset it if asked;
    NaN where /proc is not there."""
    try:
        with open("/proc/self/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        if reset:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        return kb / 1e6
    except (OSError, StopIteration):
        return math.nan


def measure(component: str, n: int) -> dict:
    """Build the input, time the component once; seconds and peak RSS of this process."""
    from pnyx.rules import compute

    if component == "read votes.csv":
        import tempfile

        from pnyx.io import load

        with tempfile.TemporaryDirectory() as tmp:
            write_polis_export(Path(tmp), n, max(1, n // 30))
            start = time.perf_counter()
            profile = load(tmp)
            seconds = time.perf_counter() - start
        return {"component": component, "n": n, "seconds": seconds, "participants": profile.n,
                "final_votes": profile.info["final_votes"],
                "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}
    if component in POOL_ROUNDS:
        from pnyx.rules.gsc import gsc_round, transposed

        U = synthetic_utilities(n)
        W, cols = transposed(U), np.arange(LEFT_OUT, M)
        start = time.perf_counter()
        if component == POOL_ROUNDS[0]:
            step = gsc_round(U, np.ones(n, bool), n // K, columns=W, pool=cols)
        else:  # what the process did before gsc_round took a pool
            step = gsc_round(U[:, cols], np.ones(n, bool), n // K, columns=W[cols])
        return {"component": component, "n": n, "seconds": time.perf_counter() - start,
                "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, "chosen": int(cols[step.candidate])}
    if component in ("seq-pav", "gsc", "balanced+bjr"):
        U = synthetic_utilities(n)
        slate = compute("seq-pav", U, K).slate if component == "balanced+bjr" else None
    else:
        profile = synthetic_votes(n)
    start = time.perf_counter()
    info: dict = {}
    if component in ("seq-pav", "gsc"):
        info["slate"] = compute(component, U, K).slate
        first = time.perf_counter() - start
        again = []
        for _ in range(WARM_REPEATS):
            t0 = time.perf_counter()
            compute(component, U, K)
            again.append(time.perf_counter() - t0)
        info["warm_seconds"] = min(again)
        start = time.perf_counter() - first  # "seconds" stays the first call's
    elif component == "balanced+bjr":
        from pnyx.assignment import balanced
        from pnyx.axioms import check

        assignment = balanced(U, slate)
        info["bjr"] = bool(check("bjr", U, slate, assignment=assignment.assignment).satisfied)
    elif component == "cf fit":
        from pnyx.queries.cf import select_biased_mf

        fit = select_biased_mf(profile.utilities, profile.observed)
        info.update(rank=fit.rank, reg=fit.reg, rmse=round(fit.info["validation_rmse"], 3))
    elif component == "run":
        from pnyx.pipeline import run

        events: list[tuple[str, float]] = [("setup", start)]
        peaks: list[float] = [_peak_gb(reset=True)]  # the profile's construction, then each phase

        def progress(phase: str, done: int, total: int) -> None:
            group = "rounds" if phase in ("generate", "predict", "choose") else phase
            if group != events[-1][0]:
                peaks.append(_peak_gb(reset=True))
                events.append((group, time.perf_counter()))

        result = run(profile, K, backend="cf", measure_accuracy=True, progress=progress)
        events.append(("end", time.perf_counter()))
        peaks.append(_peak_gb())
        phases: dict[str, float] = {}
        phase_peak: dict[str, float] = {}
        if not math.isnan(max(peaks)):
            info["peak_gb"] = max(peaks)  # (the resets also reset what getrusage reports)
        for (group, t0), (_, t1), peak in zip(events, events[1:], peaks[1:]):
            phases[group] = phases.get(group, 0.0) + t1 - t0
            phase_peak[group] = round(max(phase_peak.get(group, 0.0), peak), 2)
        accuracy = result.audit.accuracy
        info.update(bjr=result.audit.bjr.satisfied, accuracy=round(accuracy["metrics"]["accuracy"], 3),
                    ci95=[round(x, 3) for x in accuracy["info"]["ci95"]["accuracy"]], held_out=accuracy["info"]["hidden"],
                    phases=phases, phase_peak_gb=phase_peak, one_fit="fit" in accuracy["info"], extras_sample=result.audit.extras.get("sample"))
    seconds = time.perf_counter() - start
    return {"component": component, "n": n, "seconds": seconds,
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, **info}


def run_one(component: str, n: int, timeout: float) -> dict:
    env = dict(os.environ)
    if component in ROUND_RULES:  # single-threaded rules: BLAS threads left spinning after the profile's matrix
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")  # product took a core
    try:
        out = subprocess.run([sys.executable, __file__, "--one", component, str(n)], capture_output=True, text=True,
                             timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"component": component, "n": n, "error": f"> {timeout:.0f} s"}
    if out.returncode != 0:
        lines = out.stderr.strip().splitlines()
        return {"component": component, "n": n, "error": lines[-1][:200] if lines else f"exit {out.returncode}"}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(json.dumps(result), file=sys.stderr, flush=True)  # progress, kept if a later size fails
    return result


def exponent(ns: list[int], seconds: list[float]) -> float:
    return float(np.polyfit(np.log(ns), np.log(seconds), 1)[0]) if len(ns) > 1 else math.nan


def run_fresh(components: list[str], n: int, timeout: float, times: int) -> dict[str, dict]:
    """Each component measured in ``times`` fresh processes, taking turns: the median first call, the fastest warm
    call and the largest peak memory, with every first call kept (``first_calls``)."""
    runs: dict[str, list[dict]] = {c: [] for c in components}
    for _ in range(times):
        for c in components:
            runs[c].append(run_one(c, n, timeout))
    out = {}
    for c, got in runs.items():
        fine = [r for r in got if "error" not in r]
        if len(fine) < len(got):
            out[c] = next(r for r in got if "error" in r)
            continue
        out[c] = {**fine[0], "seconds": float(np.median([r["seconds"] for r in fine])),
                  "first_calls": [r["seconds"] for r in fine],
                  "warm_seconds": min(r["warm_seconds"] for r in fine), "peak_gb": max(r["peak_gb"] for r in fine)}
    return out


def offline_table(sizes: list[int], timeout: float, components: list[str] = COMPONENTS) -> str:
    results = {}
    for n in sizes:
        rules = [c for c in ROUND_RULES if c in components]
        results.update({(c, n): r for c, r in run_fresh(rules, n, timeout, FRESH_PROCESSES).items()})
        for c in COMPONENTS:
            if c not in components:
                results[c, n] = {"error": "not run"}
            elif c not in ROUND_RULES:
                results[c, n] = run_one(c, n, timeout)
    lines = ["| component | " + " | ".join(f"n = {n:,}: s / GB" for n in sizes) + " | growth exponent |",
             "|---|" + "---|" * len(sizes) + "---|"]
    for c in COMPONENTS:
        cells, ok = [], []
        for n in sizes:
            r = results[c, n]
            if "error" in r:
                cells.append(f"error: {r['error']}")
            else:
                cells.append(f"{r['seconds']:.2f} / {r['peak_gb']:.2f}")
                ok.append((n, r["seconds"]))
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {exponent(*zip(*ok)) if len(ok) > 1 else math.nan:.2f} |")
    lines.append("")
    both = [n for n in sizes if "seconds" in results["gsc", n] and "seconds" in results["seq-pav", n]]
    for key, what in (("seconds", f"median first call of {FRESH_PROCESSES} fresh processes"),
                      ("warm_seconds", f"fastest of {WARM_REPEATS} more calls in each")):
        if both:
            ratio = [results["gsc", n][key] / results["seq-pav", n][key] for n in both]
            lines.append(f"gsc / seq-PAV time ({what}): " + ", ".join(f"{r:.2f}×" for r in ratio))
    for n in both:
        calls = {c: results[c, n]["first_calls"] for c in ROUND_RULES}
        lines.append(f"first calls at n = {n:,} (s): " + "; ".join(
            f"{c} " + ", ".join(f"{x:.3f}" for x in calls[c]) for c in ROUND_RULES))
    for n in sizes:
        r = results["run", n]
        if "error" not in r:
            lines.append(f"run at n = {n:,}: BJR {'holds' if r['bjr'] else 'violated'}; vote-held-out sign accuracy "
                         f"{r['accuracy']:.3f} (95 % CI {r['ci95'][0]:.3f}–{r['ci95'][1]:.3f}, {r['held_out']} held-out votes)")
    runs = [(n, results["run", n]) for n in sizes if "phases" in results["run", n]]
    if runs:
        lines += ["", "Whole run by phase (seconds; `rounds` = the k generate/predict/choose rounds, `assign` = the "
                  "balanced assignment, `extras` = pnyx.methods audit extras):", "",
                  "| n | " + " | ".join(PHASES) + " | total |", "|---|" + "---|" * (len(PHASES) + 1)]
        for n, r in runs:
            lines.append(f"| {n:,} | " + " | ".join(f"{r['phases'].get(p, 0.0):.1f}" for p in PHASES)
                         + f" | {r['seconds']:.1f} |")
        lines += ["", "Peak resident memory within each phase (GB; the profile built before the run included):", "",
                  "| n | " + " | ".join(PHASES) + " | run |", "|---|" + "---|" * (len(PHASES) + 1)]
        for n, r in runs:
            lines.append(f"| {n:,} | " + " | ".join(f"{r.get('phase_peak_gb', {}).get(p, math.nan):.2f}" for p in PHASES)
                         + f" | {r['peak_gb']:.2f} |")
        for n, r in runs:
            sample = r["extras_sample"]
            lines.append(f"run at n = {n:,}: {'one cf fit (imputation and hold-out)' if r['one_fit'] else 'two cf fits'}; "
                         + (f"extras on a sample of {sample['participants']:,}" if sample else "extras on everyone"))
    r = run_one("read votes.csv", 1_000_000, timeout)
    if "error" not in r:
        lines.append(f"Polis reader: a 1,000,000-row votes.csv ({r['participants']:,} voters, {r['final_votes']:,} latest votes) "
                     f"read in {r['seconds']:.1f} s, peak {r['peak_gb']:.2f} GB")
    for n in sizes:
        pooled, copied = (run_one(c, n, timeout) for c in POOL_ROUNDS)
        if "error" not in pooled and "error" not in copied:
            lines.append(f"one round over {M - LEFT_OUT} of {M} columns at n = {n:,}: {pooled['seconds']:.2f} s, peak "
                         f"{pooled['peak_gb']:.2f} GB over the pool; {copied['seconds']:.2f} s, peak {copied['peak_gb']:.2f} GB "
                         f"over copies (before); same statement: {pooled['chosen'] == copied['chosen']}")
    for n in sizes:
        r = results["cf fit", n]
        if "error" not in r:
            lines.append(f"cf fit at n = {n:,}: rank {r['rank']}, λ {r['reg']:g}, validation RMSE {r['rmse']}")
    return "\n".join(lines)


# -- Ray throughput --------------------------------------------------------------------------------
RAY_CALLS, LATENCY = 200, 0.2


def ray_table(workers_list=(1, 2, 4)) -> str:
    """Calls per second through the executors against a loopback endpoint with a fixed 200 ms latency."""
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from raycluster import Cluster, Endpoint  # the test suite's cluster and endpoint

    from pnyx.queries.client import LLMConfig, ModelClient, ModelRequest
    from pnyx.queries.executor import RayExecutor

    endpoint = Endpoint(latency=LATENCY)
    rows = ["| executor | workers | concurrency per worker | calls | seconds | calls per second |", "|---|---|---|---|---|---|"]
    cluster = Cluster(workers=2, cpus=2)
    try:
        def requests(tag: str) -> list:
            return [ModelRequest("chat", "matrix", [{"role": "user", "content": f"I am participant p{i}. <statement> s{tag}"}],
                                 {"max_tokens": 1}) for i in range(RAY_CALLS)]

        def timed(executor, tag: str, concurrency: int) -> float:
            config = LLMConfig(base_url=endpoint.base_url, model="matrix", concurrency=concurrency)
            with tempfile.TemporaryDirectory() as tmp:
                client = ModelClient(config, Path(tmp) / "c.sqlite", executor)
                start = time.perf_counter()
                client.run_many(requests(tag))
                return time.perf_counter() - start

        for concurrency in (1, 4):
            s = timed("local", f"{concurrency}0", concurrency)
            rows.append(f"| local | 1 | {concurrency} | {RAY_CALLS} | {s:.1f} | {RAY_CALLS / s:.1f} |")
        for w in workers_list:
            s = timed(RayExecutor(cluster.address, workers=w, batch_size=10), f"{w}1", 1)
            rows.append(f"| ray | {w} | 1 | {RAY_CALLS} | {s:.1f} | {RAY_CALLS / s:.1f} |")
    finally:
        import ray

        ray.shutdown()
        cluster.stop()
        endpoint.stop()
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=SIZES)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-offline", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per measurement")
    parser.add_argument("--components", nargs="*", default=COMPONENTS)
    parser.add_argument("--one", nargs=2, metavar=("COMPONENT", "N"))
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]))))
        return
    print(f"Measured {dt.date.today()} · {platform.machine()} · {os.cpu_count()} cores · Python {platform.python_version()}")
    if not args.no_offline:
        print(offline_table(args.sizes, args.timeout, args.components))
    if not args.no_ray:
        print()
        print(ray_table())


if __name__ == "__main__":
    main()
