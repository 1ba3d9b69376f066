"""An OpenAI-compatible chat endpoint on loopback that answers pnyx rating prompts from a truth matrix.

Participants must carry the text ``participant <i>`` and statements ``statement <j>`` (as
:func:`truth_profile` makes them); the server reads both from the rating prompt
(:func:`pnyx.queries.prompts.rating_messages`) and answers with the digit nearest ``answers[i, j]`` and
log-probabilities on the two digits around it whose expected rating is exactly ``answers[i, j]``
(:func:`pnyx.queries.llm.expected_rating`). ``requests`` counts every HTTP request it answered and
``answered`` how often each distinct request body was answered. With ``hold_after = N`` it answers N
requests and holds every later one (``held`` is set) until ``release()``: a client killed then has
nothing in flight that was answered.

Used by ``benchmarks/adaptive.py`` and ``tests/test_planner.py``; run alone for a manual check::

    python benchmarks/truth_server.py  # serves a 20 × 5 random matrix on an ephemeral port
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import socket
import threading
import time

import numpy as np

_PARTICIPANT = re.compile(r"participant (\d+)\b")
_STATEMENT = re.compile(r"<statement>\s*statement (\d+)\b", re.IGNORECASE)


def truth_profile(observed_values: np.ndarray):
    """A rating profile whose participants and statements are named by index, with the finite entries
    of ``observed_values`` (0–4) as observed ratings."""
    from pnyx.data import Judgment, Participant, Profile, Statement

    n, m = observed_values.shape
    participants = [Participant(f"p{i}", {"q": f"I am participant {i}."}) for i in range(n)]
    statements = [Statement(f"s{j}", f"statement {j}.") for j in range(m)]
    rows, cols = np.nonzero(np.isfinite(observed_values))
    judgments = [Judgment(f"p{i}", f"s{j}", float(observed_values[i, j])) for i, j in zip(rows, cols)]
    return Profile.from_judgments(participants, statements, judgments, "rating")


def _logprobs(x: float) -> tuple[str, list[dict]]:
    lo = int(math.floor(min(max(x, 0.0), 4.0)))
    hi = min(lo + 1, 4)
    w = min(max(x, 0.0), 4.0) - lo
    probs = {lo: 1.0 - w} if hi == lo else {lo: 1.0 - w, hi: w}
    probs = {d: p for d, p in probs.items() if p > 1e-12} or {lo: 1.0}
    top = [{"token": str(d), "logprob": math.log(p), "bytes": None} for d, p in sorted(probs.items(), key=lambda kv: -kv[1])]
    return top[0]["token"], top


def write_truth_jsonl(observed_values: np.ndarray, path) -> None:
    """:func:`truth_profile` as a pnyx JSONL file (every statement needs one finite entry)."""
    import json

    n, m = observed_values.shape
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            ratings = [{"statement_id": f"s{j}", "statement": f"statement {j}.", "rating": float(observed_values[i, j])}
                       for j in np.flatnonzero(np.isfinite(observed_values[i]))]
            f.write(json.dumps({"id": f"p{i}", "answers": [{"question_id": "q", "text": f"I am participant {i}."}],
                                "ratings": ratings}) + "\n")


class TruthServer:
    """``with TruthServer(answers) as server: server.base_url`` — uvicorn on 127.0.0.1 in a thread."""

    def __init__(self, answers: np.ndarray, *, model: str = "truth"):
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        self.answers = np.asarray(answers, float)
        self.model = model
        self.requests = 0
        self.answered: dict[str, int] = {}
        self.hold_after: int | None = None
        self.held = threading.Event()
        self._lock = threading.Lock()

        async def chat(request):
            raw = await request.body()
            body = await request.json()
            while self.hold_after is not None and self.requests >= self.hold_after:
                self.held.set()
                if await request.is_disconnected():  # the client was killed: nothing answered
                    return JSONResponse({"error": {"message": "client gone"}}, status_code=499)
                await asyncio.sleep(0.01)
            text = "\n".join(m.get("content") or "" for m in body.get("messages", []))
            key = hashlib.sha256(raw).hexdigest()
            with self._lock:
                self.requests += 1
                self.answered[key] = self.answered.get(key, 0) + 1
            p, s = _PARTICIPANT.search(text), _STATEMENT.search(text)
            if not (p and s):
                return JSONResponse({"error": {"message": "not a rating prompt of a truth profile"}}, status_code=400)
            token, top = _logprobs(float(self.answers[int(p.group(1)), int(s.group(1))]))
            logprobs = {"content": [{"token": token, "logprob": top[0]["logprob"], "bytes": None, "top_logprobs": top}]}
            return JSONResponse({
                "id": "truth", "object": "chat.completion", "created": int(time.time()), "model": self.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": token},
                             "logprobs": logprobs if body.get("logprobs") else None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": len(text.split()), "completion_tokens": 1,
                          "total_tokens": len(text.split()) + 1},
            })

        self.app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])

    def __enter__(self) -> "TruthServer":
        import uvicorn

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the truth server did not start within 10 s")
            time.sleep(0.01)
        return self

    def release(self) -> None:
        self.hold_after = None
        self.held.clear()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


if __name__ == "__main__":
    import httpx

    rng = np.random.default_rng(0)
    with TruthServer(rng.uniform(0, 4, (20, 5))) as server:
        print(server.base_url)
        r = httpx.post(server.base_url + "/chat/completions", json={
            "model": "truth", "logprobs": True,
            "messages": [{"role": "user", "content": "I am participant 3.\n<statement>\nstatement 2.\n</statement>"}]})
        print(r.json()["choices"][0])
