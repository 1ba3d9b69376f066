"""A run killed mid-way resumes from the cache with zero repeated model calls (a real SIGKILL)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np

from pnyx.queries.cache import Cache

N_PARTICIPANTS, N_STATEMENTS, BEFORE_KILL = 6, 2, 5
RUN = f"""
import json, sys
from pnyx.data import Participant, Profile, Statement
from pnyx.queries import get_discriminative

base_url, cache = sys.argv[1:3]
participants = [Participant(f"p{{i}}", {{"q": f"I am voter {{i}} and I like option {{'AB'[i % 2]}}."}}) for i in range({N_PARTICIPANTS})]
statements = [Statement("a", "Option A is best."), Statement("b", "Option B is best.")][:{N_STATEMENTS}]
profile = Profile.from_judgments(participants, statements, [], "rating")
backend = get_discriminative("llm", base_url=base_url, model="smollm2", cache=cache, concurrency=1, mode="completions")
prediction = backend.predict(profile)
print(json.dumps({{"usage": prediction.info["usage"], "utilities": prediction.utilities.tolist()}}))
"""


def test_killed_run_resumes_without_repeated_calls(llm_server, llm_proxy, tmp_path):
    total = N_PARTICIPANTS * N_STATEMENTS
    path = tmp_path / "cache.sqlite"
    # The proxy lets BEFORE_KILL calls through and holds the next one, so the kill lands between calls.
    proxy = llm_proxy(hold_after=BEFORE_KILL)
    cmd = [sys.executable, "-c", RUN, proxy.base_url, str(path)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not proxy.held.wait(timeout=600):
        first.kill()
        raise AssertionError(f"the first run never reached call {BEFORE_KILL + 1}: {first.communicate()[1][-2000:]}")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL
    with Cache(path) as cache:
        assert cache.count() == BEFORE_KILL  # every finished call was committed before the next began

    proxy.hold_after = None
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    out = json.loads(second.stdout.strip().splitlines()[-1])
    assert out["usage"]["cached"] == BEFORE_KILL and out["usage"]["calls"] == total - BEFORE_KILL
    assert proxy.forwarded == total  # model calls over both runs = distinct requests
    utilities = np.array(out["utilities"])
    assert utilities.shape == (N_PARTICIPANTS, N_STATEMENTS) and np.all((utilities >= 0) & (utilities <= 4))
    with Cache(path) as cache:
        assert cache.count() == total
