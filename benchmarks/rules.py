"""Rules and axiom checks: pnyx against abcvoting on the same seeded profiles, in one run.

    .venv/bin/python benchmarks/rules.py                 # all four sizes, prints a markdown table
    .venv/bin/python benchmarks/rules.py --sizes 0 1     # only (100, 20, 5) and (1000, 50, 10)
    .venv/bin/python benchmarks/rules.py --write-readme  # also writes the table into benchmarks/README.md

Profiles: a seeded 2-D Euclidean model. Participants and statements are uniform in the unit square;
with r the distance quantile that gives 3 approvals per participant on average, utility is 4 within
r/2, 3 within r, 2 within 1.5r, 1 within 2r, else 0. Approval rules and checks read U ≥ 3 (within r);
abcvoting gets exactly those approval sets.

Every call runs in a forked child with a time cap (abcvoting's MES takes minutes at n = 100,000):
seconds are the call alone (no profile conversion), memory is the child's peak resident set above
what it started with. A capped call shows "> cap". After ``--budget`` seconds the remaining
abcvoting calls are skipped. Checks run on the slate pnyx's seq-PAV chose.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import os
import platform
import re
import resource
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

SIZES = [(100, 20, 5), (1_000, 50, 10), (10_000, 100, 10), (100_000, 200, 10)]
SEED = 2026

# pnyx rule id -> (abcvoting rule id, algorithm); None: abcvoting has no such rule.
RULES: dict[str, tuple[str, str] | None] = {
    "seq-pav": ("seqpav", "standard"),
    "seq-phragmen": ("seqphragmen", "float-fractions"),
    "equal-shares": ("equal-shares", "float-fractions"),
    "greedy-monroe": ("greedy-monroe", "standard"),
    "pav": ("pav", "pulp-cbc"),
    "cc": ("cc", "pulp-cbc"),
    "monroe": ("monroe", "pulp-cbc"),
    "gsc": None,
}
# pnyx axiom id -> abcvoting property algorithm (None: polynomial, no algorithm argument); missing: no oracle.
CHECKS: dict[str, str | None] = {"jr": None, "ejr+": None, "ejr": "brute-force", "pjr": "brute-force", "core": "brute-force"}


def resampling_profile(n: int, m: int, p: float = 0.2, phi: float = 0.5, seed: int = SEED) -> np.ndarray:
    """Resampling model (Szufa et al. 2022): each approval copies a central ballot of p·m candidates,
    or with probability φ is redrawn as approve-with-probability-p. Large cohesive groups: hard for the ILPs."""
    rng = np.random.default_rng(seed)
    central = np.zeros(m, dtype=bool)
    central[rng.choice(m, round(p * m), replace=False)] = True
    A = np.where(rng.random((n, m)) < phi, rng.random((n, m)) < p, central[None, :])
    return np.where(A, 4.0, 0.0)


def euclidean_profile(n: int, m: int, seed: int = SEED, approvals_per_voter: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    voters = rng.random((n, 2), dtype=np.float32)
    statements = rng.random((m, 2), dtype=np.float32)
    dist = np.sqrt(((voters[:, None, :] - statements[None, :, :]) ** 2).sum(axis=2))
    r = np.quantile(dist[: min(n, 20_000)], approvals_per_voter / m)
    return (4.0 - np.minimum(4, np.ceil(np.maximum(dist / (r / 2), 1)) - 1)).astype(float)


# -- one capped, measured call in a forked child ---------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child(fn: Callable[[], Any], conn) -> None:
    try:
        base = _rss_bytes()
        t = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        conn.send(("ok", seconds, max(0, peak - base), out))
    except BaseException as exc:  # report, never hang the parent
        conn.send(("error", 0.0, 0, f"{type(exc).__name__}: {exc}"[:120]))


def measure(fn: Callable[[], Any], cap: float) -> dict:
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(fn, send))
    p.start()
    if recv.poll(cap):
        status, seconds, mem, out = recv.recv()
        p.join()
        return {"status": status, "seconds": seconds, "mem": mem, "out": out}
    p.kill()
    p.join()
    return {"status": "cap", "seconds": cap, "mem": None, "out": None}


# -- the two sides -------------------------------------------------------------------------------


def pnyx_rule(rule: str, U: np.ndarray, k: int) -> Callable[[], Any]:
    def run():
        from pnyx.rules import compute

        return sorted(int(c) for c in compute(rule, U, k).slate)

    return run


def abc_rule(rule: str, algorithm: str, profile, k: int) -> Callable[[], Any]:
    from abcvoting import abcrules

    return lambda: sorted(int(c) for c in abcrules.compute(rule, profile, k, algorithm=algorithm, resolute=True)[0])


def pnyx_check(axiom: str, U: np.ndarray, slate: list[int]) -> Callable[[], Any]:
    from pnyx.axioms import check

    def run():
        r = check(axiom, U, slate)
        return r.satisfied, r.info.get("integer_programs")

    return run


def abc_check(axiom: str, algorithm: str | None, profile, slate: list[int]) -> Callable[[], Any]:
    from abcvoting import properties

    kw = {} if algorithm is None else {"algorithm": algorithm}
    return lambda: (bool(properties.check(axiom, profile, slate, **kw)), None)


def pnyx_balanced(U: np.ndarray, slate: list[int]) -> Callable[[], Any]:
    def run():
        from pnyx.assignment import balanced

        return round(float(balanced(U, slate).total), 6), None

    return run


def pnyx_bjr(U: np.ndarray, slate: list[int]) -> Callable[[], Any]:
    def run():
        from pnyx.assignment import balanced
        from pnyx.axioms import check

        r = check("bjr", U, slate, assignment=balanced(U, slate).assignment)
        return r.satisfied, None

    return run


def verdict(o: dict, t: dict | None) -> str:
    s = "satisfied" if o["out"][0] else "violated"
    if o["out"][1] is not None:
        s += f", {o['out'][1]} ILPs"
    if t is not None and t["status"] == "ok":
        s += ", agrees" if t["out"][0] == o["out"][0] else ", DISAGREES"
    return s


# -- driver --------------------------------------------------------------------------------------


def fmt_seconds(m: dict | None) -> str:
    if m is None:
        return "—"
    if m["status"] == "cap":
        return f"> {m['seconds']:.0f}"
    if m["status"] == "skipped":
        return "skipped"
    if m["status"] == "error":
        return "error"
    return f"{m['seconds']:.3g}"


def fmt_mem(m: dict | None) -> str:
    return "—" if m is None or m.get("mem") is None else f"{m['mem'] / 2**20:.0f}"


def run(sizes: list[tuple[int, int, int]], cap: float, budget: float, oracle_cap: float) -> list[dict]:
    import pnyx.axioms  # noqa: F401  (import before forking so children do not pay for it)
    from abcvoting import abcrules, properties  # noqa: F401
    from abcvoting.output import WARNING, output
    from abcvoting.preferences import Profile as AbcProfile

    try:
        import pnyx.assignment  # noqa: F401
        import pnyx.rules  # noqa: F401
    except ImportError as exc:
        print(f"note: {exc}; those rows will show 'error'")
    output.set_verbosity(WARNING)
    started = time.perf_counter()
    rows = []

    def row(size, task, ours, theirs_fn, note_fn=None, theirs_cap=cap):
        if theirs_fn is None:
            theirs = None
        elif time.perf_counter() - started > budget:
            theirs = {"status": "skipped", "seconds": 0, "mem": None, "out": None}
        else:
            theirs = measure(theirs_fn, theirs_cap)
        r = {"size": size, "task": task, "pnyx": ours, "abcvoting": theirs}
        if ours["status"] == "error":
            r["note"] = ours["out"]
        else:
            r["note"] = note_fn(ours, theirs) if note_fn and ours["status"] == "ok" else ""
        rows.append(r)
        print(render_row(r), flush=True)

    for n, m, k in sizes:
        U = euclidean_profile(n, m)
        A = U >= 3
        profile = AbcProfile(m)
        profile.add_voters([np.flatnonzero(a).tolist() for a in A])
        size = f"({n:,}, {m}, {k})"
        slate = None
        for rule, theirs in RULES.items():
            ours = measure(pnyx_rule(rule, U, k), cap)
            if rule == "seq-pav" and ours["status"] == "ok":
                slate = ours["out"]
            same = lambda o, t: ("same slate" if o["out"] == t["out"] else "different slate") if (  # noqa: E731
                t is not None and t["status"] == "ok") else ""
            row(size, rule, ours, None if theirs is None else abc_rule(*theirs, profile, k), same,
                oracle_cap if rule == "monroe" else cap)
        if slate is None:
            continue
        for axiom, algorithm in CHECKS.items():
            ours = measure(pnyx_check(axiom, U, slate), cap)

            # abcvoting's EJR/PJR/core checks are brute force here (Gurobi otherwise): oracle at small n only
            theirs = abc_check(axiom, algorithm, profile, slate) if algorithm is None or n <= 1_000 else None
            row(size, f"check {axiom}", ours, theirs, verdict, cap if algorithm is None else oracle_cap)
        row(size, "balanced assignment", measure(pnyx_balanced(U, slate), cap), None,
            lambda o, t: f"total utility {o['out'][0]:g}")
        row(size, "check bjr (with assignment)", measure(pnyx_bjr(U, slate), cap), None,
            lambda o, t: "satisfied" if o["out"][0] else "violated")
    if (1_000, 50, 10) in sizes:  # the ILP checks where pruning does not settle them: dense cohesive groups
        U = resampling_profile(1_000, 50, seed=0)  # seeds 0 and 1: an instance that took 23 s before the ILPs
        slate = sorted(np.random.default_rng(1).choice(50, 10, replace=False).tolist())  # were tightened
        for axiom in ("ejr", "pjr", "core"):
            row("(1,000, 50, 10) resampling, random slate", f"check {axiom}",
                measure(pnyx_check(axiom, U, slate), cap), None, verdict)
    return rows


HEADER = ("| (n, m, k) | task | pnyx s | abcvoting s | speed-up | pnyx MB | abcvoting MB | note |\n"
          "|---|---|---|---|---|---|---|---|")


def render_row(r: dict) -> str:
    o, t = r["pnyx"], r["abcvoting"]
    ratio = "—"
    if t is not None and o["status"] == "ok" and o["seconds"] > 0:
        if t["status"] == "ok":
            ratio = f"{t['seconds'] / o['seconds']:.3g}×"
        elif t["status"] == "cap":
            ratio = f"> {t['seconds'] / o['seconds']:.3g}×"
    return (f"| {r['size']} | {r['task']} | {fmt_seconds(o)} | {fmt_seconds(t)} | {ratio} | {fmt_mem(o)} | "
            f"{fmt_mem(t)} | {r['note']} |")


def machine() -> str:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{nproc} cores ({cpu}), Python {platform.python_version()}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=list(range(len(SIZES))), help="indices into SIZES")
    ap.add_argument("--cap", type=float, default=60.0, help="seconds per call before it is killed")
    ap.add_argument("--oracle-cap", type=float, default=10.0,
                    help="cap for abcvoting's exponential calls (brute-force checks, exact Monroe)")
    ap.add_argument("--budget", type=float, default=840.0, help="seconds after which abcvoting calls are skipped")
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    load_before = os.getloadavg()
    print(machine())
    print(HEADER)
    rows = run([SIZES[i] for i in args.sizes], args.cap, args.budget, args.oracle_cap)
    load_after = os.getloadavg()
    table = "\n".join([HEADER] + [render_row(r) for r in rows])
    print(f"load average before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    if args.write_readme:
        write_readme(table, load_before[0], load_after[0], args.cap, args.oracle_cap)


def write_readme(table: str, load_before: float, load_after: float, cap: float, oracle_cap: float) -> None:
    path = Path(__file__).with_name("README.md")
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    body = (f"<!-- rules-table:begin -->\nMeasured {machine()}; 1-minute load average {load_before:.2f} before and "
            f"{load_after:.2f} after (other jobs shared the machine when it is above ~0.5). "
            f"Cap {cap:.0f} s per call, {oracle_cap:.0f} s for abcvoting's brute-force checks and exact Monroe."
            f"\n\n{table}\n<!-- rules-table:end -->")
    pattern = re.compile(r"<!-- rules-table:begin -->.*<!-- rules-table:end -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: body, text)
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
