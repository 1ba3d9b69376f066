"""Adapters from a :class:`pnyx.data.Profile` and a slate to the toolbox's pure methods: the extra
audit of a run (:func:`audit_extras`) and ``pnyx explain`` (:func:`explain_slate_statement`)."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from pnyx.data import InputError, Profile
from pnyx.methods.bias import bias_audit, paraphrase_bias
from pnyx.methods.consensus import consensus_costs, kappa
from pnyx.methods.diversity import slate_inclusion
from pnyx.methods.groups import Groups, em_groups, group_utilities, groups_from_labels, maxmin_groups
from pnyx.methods.lottery import maximal_lottery
from pnyx.methods.shapley import ShapleyValues, explain_statement, shapley_exact


def _judged(profile: Profile, U: np.ndarray) -> np.ndarray:
    """What the consensus measures read: on votes, the observed judgments only (NaN elsewhere)."""
    if profile.scale != "vote":
        return U
    out = np.full(U.shape, np.nan)
    m = min(U.shape[1], profile.m)
    out[:, :m] = np.where(profile.observed[:, :m], profile.utilities[:, :m], np.nan)
    return out


def _groups(profile: Profile, U: np.ndarray, seed: int) -> Groups:
    labels = profile.groups()
    if any(g is not None for g in labels):
        return groups_from_labels(labels)
    return em_groups(U, seed=seed)


def _id(profile: Profile, j: int) -> str:
    return profile.statements[j].id if j < len(profile.statements) else f"column {j}"


def _labels(g: Groups) -> list[str | None]:
    return [g.names[q] if q >= 0 else None for q in g.labels]


EXTRAS_SAMPLE = 10_000
"""Participants :func:`audit_extras` reads at most: above this, a seeded sample of this many."""


def audit_extras(profile: Profile, U: np.ndarray, slate: Sequence[int], assignment: Any, *,
                 predicted: np.ndarray | None = None, epsilon: float = 1.0, seed: int = 0,
                 backend: str = "cf", bias: bool = True, llm: Any = None, paraphrases: int = 0,
                 paraphrase_pairs: int = 48, sample: int | None = EXTRAS_SAMPLE) -> dict[str, Any]:
    """The toolbox's part of a run's audit, JSON-able.

    Parameters
    ----------
    profile
        The data (its observed judgments and Polis ``group-id``s; EM groups on ``U`` if it has none).
    U
        The utilities the slate was chosen on (n × m, observed entries kept, NaN-free on the slate).
    slate
        Columns of ``U``.
    assignment
        Slate position per participant, or a :class:`pnyx.assignment.BalancedAssignment`.
    predicted
        A predictor's utilities for every entry of the profile's statements, for the bias audit;
        if None, ``backend`` predicts a seeded 20% of the observed judgments, hidden from it.
    bias
        Run the bias audit (False: leave it out, e.g. when no accuracy is measured).
    llm, paraphrases, paraphrase_pairs
        With an :class:`pnyx.queries.llm.LLMBackend` and ``paraphrases`` ≥ 2: the bias audit of that
        backend under that many wordings of its rating prompt (:func:`paraphrase_bias_audit`, on
        ``paraphrase_pairs`` observed judgments; it costs ``paraphrases × paraphrase_pairs`` calls).
    sample
        With more participants than this (None: never), everything below is computed on a seeded
        uniform sample of this many of them (their rows of the data, ``U``, the assignment and
        ``predicted``), and ``sample`` in the result says so: estimates of the whole population's
        values, at a cost that no longer grows with n.

    Returns
    -------
    dict
        ``maximal_lottery`` (over all statements; on votes from the participants who judged both),
        ``divisiveness`` per distinct slate statement (κ and the minimum-cost consensus with gap ``epsilon``),
        ``inclusion`` (per group and summaries), ``egalitarian`` (each group's mean best-in-slate
        utility for this slate and for the ``maxmin-groups`` slate of the same size),
        ``bias`` (per-group predictor errors on held-out observed judgments; absent without any),
        ``bias_paraphrases`` (the same per wording of the LLM's prompt, with ``paraphrases``),
        ``sample`` (participants read, of how many, the seed; absent when everyone was read).
    """
    a = np.asarray(getattr(assignment, "assignment", assignment), dtype=int)
    drawn = None
    if sample is not None and profile.n > sample:
        rows = np.sort(np.random.default_rng(seed).choice(profile.n, sample, replace=False))
        drawn = {"participants": int(sample), "of": int(profile.n), "seed": seed,
                 "how": "a seeded uniform sample of the participants; every value here is computed on it"}
        profile, U, a = profile.subset(participants=rows), U[rows], a[rows]
        predicted = None if predicted is None else np.asarray(predicted)[rows]
    U = np.asarray(U, dtype=float)
    slate = [int(j) for j in slate]
    J = _judged(profile, U)
    groups = _groups(profile, np.nan_to_num(U, nan=2.0), seed)
    out: dict[str, Any] = {"groups": {"method": groups.method, "names": groups.names,
                                      "sizes": np.bincount(groups.labels[groups.labels >= 0],
                                                           minlength=groups.count).tolist()}}
    if drawn is not None:
        out["sample"] = drawn
    ml = maximal_lottery(J)
    out["maximal_lottery"] = {"value": ml.value, "condorcet_winner": None if ml.condorcet_winner is None
                              else _id(profile, ml.condorcet_winner),
                              "support": [{"statement": _id(profile, j), "column": j,
                                           "probability": float(ml.probabilities[j]), "in_slate": j in slate}
                                          for j in ml.support],
                              "judgments": "observed" if profile.scale == "vote" else "utilities"}
    statements = list(dict.fromkeys(slate))  # a statement holding several seats is one row
    costs = consensus_costs(J[:, statements], epsilon)
    out["divisiveness"] = [{"statement": _id(profile, j), "kappa": kappa(J[:, j]), "epsilon": epsilon,
                            "consensus_cost": float(c), "raters": int((~np.isnan(J[:, j])).sum()),
                            "divisiveness": float(c / max((~np.isnan(J[:, j])).sum(), 1))}
                           for j, c in zip(statements, costs)]
    inc = slate_inclusion(U, slate, a, {"group": _labels(groups)})
    out["inclusion"] = {"summaries": inc.summaries, "per_group": inc.per_group,
                        "per_statement": [{**s, "statement": _id(profile, s["statement"])} for s in inc.per_statement]}
    if groups.count >= 1 and not np.isnan(U[:, :]).any():
        egal = maxmin_groups(U, len(slate), groups=groups, seed=seed, time_limit=5.0)
        out["egalitarian"] = {"slate": dict(zip(groups.names, group_utilities(U, slate, groups).tolist())),
                              "maxmin_slate": [_id(profile, j) for j in egal.slate],
                              "maxmin": dict(zip(groups.names, egal.info["group_utilities"])),
                              "status": egal.status}
    if bias and profile.observed.any() and groups.count >= 2:
        try:
            out["bias"] = _bias(profile, groups, slate, predicted, seed, backend)
        except InputError as exc:
            out["bias"] = {"skipped": str(exc)}
    if llm is not None and paraphrases and profile.observed.any() and groups.count >= 2:
        try:
            out["bias_paraphrases"] = paraphrase_bias_audit(profile, llm, paraphrases, groups=_labels(groups),
                                                            pairs=paraphrase_pairs, seed=seed)
        except InputError as exc:  # also a ModelError: the run's slate stands, the audit says why this part is missing
            out["bias_paraphrases"] = {"skipped": str(exc)}
    return out


def check_paraphrases(n: int, backend: Any) -> None:
    """Raise unless ``n`` wordings of ``backend``'s rating prompt can be audited.

    Raises
    ------
    InputError
        ``backend`` has no reworded prompts (not an LLM backend), or ``n`` outside 2..the wordings there are.
    """
    from pnyx.queries.prompts import RATING_PARAPHRASES

    if not hasattr(backend, "reworded"):
        raise InputError(f"--bias-paraphrases audits an LLM's rating prompt; the {backend.name} backend has none "
                         "(use --backend llm)", field="--bias-paraphrases")
    if not 2 <= n <= len(RATING_PARAPHRASES):
        raise InputError(f"--bias-paraphrases takes 2..{len(RATING_PARAPHRASES)} wordings, got {n}",
                         field="--bias-paraphrases")


def audit_pairs(profile: Profile, groups: Sequence[Any], pairs: int, seed: int) -> list[tuple[int, int]]:
    """A seeded sample of observed (participant, statement) entries, the same number from each group
    (⌈pairs / groups⌉, or all a group has), in participant order."""
    names = list(dict.fromkeys(g for g in groups if g is not None))
    rng = np.random.default_rng(seed)
    quota = -(-pairs // max(len(names), 1))
    rows, cols = np.nonzero(profile.observed)
    lab = np.array([None if g is None else names.index(g) for g in groups], dtype=object)[rows]
    chosen: list[tuple[int, int]] = []
    for g in range(len(names)):
        at = np.flatnonzero(lab == g)
        take = at if len(at) <= quota else rng.choice(at, quota, replace=False)
        chosen += [(int(rows[a]), int(cols[a])) for a in take]
    return sorted(chosen)


def paraphrase_bias_audit(profile: Profile, backend: Any, paraphrases: int, *, groups: Sequence[Any] | None = None,
                          pairs: int = 48, seed: int = 0) -> dict[str, Any]:
    """The predictor bias audit of an LLM backend under ``paraphrases`` wordings of its rating prompt
    (:data:`pnyx.queries.prompts.RATING_PARAPHRASES` 0..paraphrases−1), on a seeded sample of ``pairs``
    observed judgments stratified by group (:func:`audit_pairs`), aggregated by
    :func:`pnyx.methods.bias.paraphrase_bias`.

    Every judgment is out of sample for the model: the prompt that rates statement j for a participant
    leaves their judgment of j out. Calls go through ``backend``'s client and cache (the wording is in the
    prompt, so in the cache key) at temperature 0; ``usage`` counts them.

    Parameters
    ----------
    backend
        A :class:`pnyx.queries.llm.LLMBackend`.
    groups
        One label per participant (default: the data's ``group``).

    Raises
    ------
    InputError
        ``paraphrases`` outside 2..len(RATING_PARAPHRASES), fewer than two groups with judgments, or a
        failed model call (:class:`pnyx.queries.client.ModelError`).
    """
    from pnyx.queries.prompts import RATING_PARAPHRASES

    check_paraphrases(paraphrases, backend)
    labels = profile.groups() if groups is None else list(groups)
    entries = audit_pairs(profile, labels, pairs, seed)
    rows, cols = (np.array(x, dtype=int) for x in zip(*entries)) if entries else (np.zeros(0, int),) * 2
    truth = np.full(profile.utilities.shape, np.nan)
    truth[rows, cols] = profile.utilities[rows, cols]
    first = backend.reworded(0, temperature=0.0)  # one client for every wording: its usage is this audit's
    predictions, sources = [], []
    for p in range(paraphrases):
        mean, _, source, _ = (first if p == 0 else first.reworded(p)).rate_pairs(profile, entries)
        P = np.full(truth.shape, np.nan)
        P[rows, cols] = mean
        predictions.append(P)
        sources.append({s: int((source == s).sum()) for s in ("logprobs", "parsed", "none")})
    res = paraphrase_bias(truth, predictions, labels, paraphrases=range(paraphrases), seed=seed)
    return {**res.to_dict(), "pairs": len(entries), "participants": int(len(set(rows.tolist()))),
            "wordings": [RATING_PARAPHRASES[p][1] for p in range(paraphrases)], "sources": sources,
            "model": first.model, "temperature": 0.0, "usage": dict(first.client.usage)}


def _bias(profile: Profile, groups: Groups, slate: list[int], predicted, seed: int, backend: str) -> dict[str, Any]:
    m = profile.m
    truth = np.where(profile.observed, profile.utilities, np.nan)
    if predicted is None:
        from pnyx.evaluate.accuracy import holdout_mask
        from pnyx.queries import get_discriminative

        hide = holdout_mask(profile.observed, 0.2, seed)
        pred = get_discriminative(backend, {"seed": seed}).predict(profile.hide(hide))
        predicted = np.full(truth.shape, np.nan)
        predicted[np.ix_(pred.participants, pred.statements)] = pred.utilities
        truth = np.where(hide, truth, np.nan)
        how = f"{backend}, on a seeded 20% of the observed judgments hidden from it"
    else:
        predicted = np.asarray(predicted, dtype=float)[:, :m]
        how = "the given predictions, on every observed judgment"
    res = bias_audit(truth, predicted, _labels(groups), slate=[j for j in slate if j < m] or None, seed=seed)
    return {**res.to_dict(), "predictions": how}


def explain_slate_statement(profile: Profile, slate: dict[str, Any], statement: str, *, by: str = "groups",
                            permutations: int = 200, seed: int = 0) -> dict[str, Any]:
    """Shapley attribution of a slate statement's support (:func:`pnyx.methods.shapley.support_game`):
    the alternatives are the slate's other statements found in the data (else every other statement);
    players are groups (Polis ``group-id``, else EM groups), participants, or participants with the
    groups as coalition structure (``owen``: Owen values). Unknown utilities are predicted with the
    ``cf`` backend first."""
    if by not in ("groups", "participants", "owen"):
        raise InputError(f"--by must be groups, participants or owen, got {by!r}", field="--by")
    if not isinstance(slate, dict) or not isinstance(slate.get("statements"), list):
        raise InputError("the slate must be a JSON object with a list of statements (slate.json)", field="--slate")
    ids = {s.id: j for j, s in enumerate(profile.statements)}
    chosen = [str(s.get("id")) for s in slate["statements"] if isinstance(s, dict)]
    if statement not in chosen:
        raise InputError(f"statement {statement!r} is not in the slate; the slate has: {', '.join(chosen)}",
                         field="--statement")
    if statement not in ids:
        raise InputError(f"slate statement {statement!r} is not one of the data's statements (generated text "
                         "has no judgments to attribute)", field="--statement")
    U = profile.utilities
    if np.isnan(U).any():
        from pnyx.queries import get_discriminative

        U = get_discriminative("cf", {"seed": seed}).predict(profile).apply(profile).utilities
    j = ids[statement]
    alternatives = [ids[s] for s in chosen if s in ids and s != statement] or None
    groups = None if by == "participants" else _labels(_groups(profile, U, seed))
    res = explain_statement(U, j, groups=groups, alternatives=alternatives, permutations=permutations, seed=seed,
                            owen=by == "owen")
    if by != "groups":
        res.players = [p.id for p in profile.participants]
    return {"statement": {"id": statement, "text": profile.statements[j].text}, "by": by,
            "alternatives": [_id(profile, q) for q in (alternatives or [])] or "every other statement",
            **res.to_dict()}


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def opinion_sentences(profile: Profile, i: int) -> list[tuple[str, str]]:
    """Participant ``i``'s answers split into sentences, as (answer key, sentence) in order."""
    return [(key, s) for key, text in profile.participants[i].answers.items() if text
            for s in _SENTENCE_END.split(text.strip()) if s]


def llm_sentence_attribution(profile: Profile, participant: int, statement: int, backend: Any, *,
                             max_sentences: int = 10) -> ShapleyValues:
    """Which sentences of a participant's opinion drove an LLM's rating of a statement: exact Shapley
    values of v(S) = the backend's expected rating of ``statement`` for the participant when their
    answers keep only the sentences in S (their other judgments stay in the prompt as they are).

    ``backend`` is a :class:`pnyx.queries.llm.LLMBackend`; every coalition is one request through its
    client, so through the cache (2ⁿ calls, answered once each). Its temperature must be 0, so that v
    is a function and the Shapley axioms hold.

    Raises
    ------
    InputError
        Temperature above 0, no sentences, or more than ``max_sentences``.
    """
    from pnyx.queries.llm import expected_rating

    if getattr(backend.config, "temperature", None) != 0:
        raise InputError("sentence attribution needs the LLM at temperature 0 (a deterministic value function)",
                         field="temperature")
    pieces = opinion_sentences(profile, participant)
    if not 1 <= len(pieces) <= max_sentences:
        raise InputError(f"participant {profile.participants[participant].id!r} has {len(pieces)} sentences; exact "
                         f"attribution takes 1..{max_sentences}", field="participant")
    person = profile.participants[participant]

    def with_sentences(row: np.ndarray) -> Profile:
        answers: dict[str, str] = {}
        for (key, sentence), keep in zip(pieces, row):
            if keep:
                answers[key] = f"{answers[key]} {sentence}" if key in answers else sentence
        people = list(profile.participants)
        people[participant] = replace(person, answers=answers)
        return replace(profile, participants=people)

    def v(S: np.ndarray) -> np.ndarray:
        requests = [backend.request(with_sentences(row), participant, statement) for row in S]
        return np.array([expected_rating(r)[0] for r in backend.client.run_many(requests)])

    return shapley_exact(v, len(pieces), [s for _, s in pieces])
