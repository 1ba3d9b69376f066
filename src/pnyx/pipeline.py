"""``pnyx run`` as a function: build the backends by name, choose who and what takes part, run the
process, measure the backend's accuracy, assign and audit. An adapter over the pure core
(:mod:`pnyx.process`, :mod:`pnyx.audit`); the CLI, the web app and the benchmarks call :func:`run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from pnyx.audit import Audit, audit
from pnyx.data import InputError, Profile
from pnyx.methods import audit_extras
from pnyx.methods.extras import check_paraphrases
from pnyx.process import ProcessOptions, Progress, ProcessResult, generative_social_choice
from pnyx.queries.base import require_judgments


@dataclass
class Run:
    """Everything ``pnyx run`` writes: the process result, the assignment and the audit."""

    result: ProcessResult
    assignment: Any
    """:class:`pnyx.assignment.BalancedAssignment` of every participant to the slate's seats."""
    audit: Audit
    backend: str
    generators: list[str]
    participants_excluded: dict[str, int] = field(default_factory=dict)

    @property
    def matching(self) -> np.ndarray:
        """The one assignment the outputs use: the process's matching when it covers everyone (what the
        guarantee is about), else the balanced assignment."""
        return self.result.matching if self.result.complete else np.asarray(self.assignment.assignment, dtype=int)


def default_generators(profile: Profile, llm: bool) -> list[str]:
    """LLM writing when an endpoint is configured; the data's own statements when it has some; cluster
    representatives of the participants' free text when there is nothing else to choose from.

    Offline, new text cannot be scored where people judged statements: the offline predictors put an
    unrated sentence near the participant's mean rating (benchmarks/README.md, "Text predictor"), so
    sentences taken from the answers would compete with the data's statements on guesses. Name
    ``cluster`` (or ``extractive``, which then also proposes answer sentences) to include them anyway.
    """
    names = ["llm"] if llm else []
    if profile.m:
        names.append("extractive")
    elif not llm:
        names.append("cluster")
    return names


def usage_of(backends: Sequence[Any]) -> dict[str, float]:
    """Model calls, cache hits, tokens and cost summed over the backends' clients (zeros offline)."""
    total = {"calls": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
    seen: set[int] = set()
    for b in backends:
        client = getattr(b, "client", None)
        if client is None or id(client) in seen:
            continue
        seen.add(id(client))
        for key, value in (getattr(client, "usage", None) or {}).items():
            if key in total:
                total[key] += value
    return total


def held_out_predictions(profile: Profile, report: Any) -> np.ndarray:
    """The accuracy measurement's held-out predictions as an n × m utility matrix (NaN elsewhere): what the
    bias audit compares with the observed judgments, so it audits this run's own backend."""
    pidx = {pid: i for i, pid in enumerate(profile.participant_ids)}
    sidx = {sid: j for j, sid in enumerate(profile.statement_ids)}
    out = np.full((profile.n, profile.m), np.nan)
    for p in report.predictions:
        out[pidx[p["participant"]], sidx[p["statement"]]] = profile.scale.to_utility(p["predicted"])
    return out


def select_participants(profile: Profile, *, exclude: Sequence[str] = (), silent_authors: bool = False
                        ) -> tuple[Profile, dict[str, int]]:
    """The participants who take part: less those excluded by id (e.g. Polis ``ids-to-toss.csv``) and,
    unless ``silent_authors``, those with no observed judgment in data that has judgments — on votes
    (authors who never voted), or on ratings when they wrote nothing either. Returns the profile and
    reason → count left out.

    Raises
    ------
    InputError
        An excluded id that is not in the data, or nobody left.
    """
    ids = profile.participant_ids
    unknown = sorted(set(exclude) - set(ids))
    if unknown:
        raise InputError(f"--exclude-participants names {len(unknown)} id(s) not in the data, e.g. {unknown[0]!r}",
                         field="--exclude-participants")
    keep = ~np.isin(ids, list(exclude)) if exclude else np.ones(profile.n, bool)
    left: dict[str, int] = {}
    if exclude:
        left["excluded by id"] = int((~keep).sum())
    if not silent_authors and profile.observed.any():
        # on votes (Polis) an author's text is a comment, not an opinion to predict from; on ratings it is
        silent = keep & ~profile.observed.any(axis=1)
        if profile.scale != "vote":
            silent &= np.array([not p.text().strip() for p in profile.participants])
        if silent.any():
            left["never voted or rated (e.g. authors who only wrote)"] = int(silent.sum())
            keep &= ~silent
    if not keep.any():
        raise InputError("no participant is left to represent", field="participants")
    if keep.all():
        return profile, left
    sub = profile.subset(participants=np.flatnonzero(keep))
    sub.excluded = {**profile.excluded, **{f"participants: {k}": v for k, v in left.items()}}
    return sub, left


def run(
    profile: Profile,
    k: int,
    *,
    backend: str = "offline",
    generators: Sequence[str] | None = None,
    options: ProcessOptions = ProcessOptions(),
    exclude_participants: Sequence[str] = (),
    silent_authors: bool = False,
    cache: Any = None,
    executor: Any = None,
    measure_accuracy: bool = True,
    progress: Progress | None = None,
    queries: str | None = None,
    query_budget: int | None = None,
    bias_paraphrases: int = 0,
) -> Run:
    """Build the named backends (every one gets ``options.seed``, ``cache``, a :class:`pnyx.queries.cache.Cache`,
    and ``executor``, where model calls run: :func:`pnyx.queries.executor.get_executor`),
    run :func:`pnyx.process.generative_social_choice` with ``options`` (:class:`pnyx.process.ProcessOptions`),
    the balanced assignment and :func:`pnyx.audit.audit`; ``options.seed`` also seeds the accuracy hold-out and
    the extra audit measures.

    ``generators`` None picks :func:`default_generators` (an LLM when ``PNYX_LLM_BASE_URL`` and
    ``PNYX_LLM_MODEL`` are set). The accuracy is measured on this data's observed judgments (none
    observed: not measured, and the audit says so).

    ``queries``: ``exhaustive`` (every pooled pair asked of the backend) or ``adaptive`` (the query
    planner, :mod:`pnyx.planner`, at most ``query_budget`` backend queries); default: adaptive for a
    backend that charges per call (``llm``) with the ``gsc`` rule, exhaustive otherwise. With adaptive
    queries the accuracy measured is the cheap screen's (``cf``), which fills every pair not asked.

    ``bias_paraphrases`` N ≥ 2 (an LLM backend only): the audit's ``bias_paraphrases``, the predictor bias
    audit of the backend itself under N wordings of its rating prompt
    (:func:`pnyx.methods.extras.paraphrase_bias_audit`; N × 48 calls at most, counted in ``model_usage``).
    """
    from pnyx.assignment import balanced
    from pnyx.queries import get_discriminative, get_generative

    progress = progress or (lambda phase, done, total: None)
    profile, left_out = select_participants(profile, exclude=exclude_participants, silent_authors=silent_authors)
    by_default = generators is None
    if by_default:
        from pnyx.queries.client import LLMConfig

        cfg = LLMConfig.from_env()
        generators = default_generators(profile, llm=bool(cfg.base_url and cfg.model))
    seed = options.seed
    settings = {"cache": cache, "seed": seed, "executor": executor}
    disc = get_discriminative(backend, settings)
    if bias_paraphrases:
        check_paraphrases(bias_paraphrases, disc)  # before any work, not after the process
    if disc.needs_judgments:
        require_judgments(profile, disc.name)
    oracle = adaptive_queries(disc, settings, queries, query_budget, backend, options)
    # on vote data the participants' texts are their own comments, already statements in the pool; by
    # default extractive proposes only the data's statements (see default_generators)
    source = {"source": "statements"} if profile.scale == "vote" or by_default else {}
    gens = [get_generative(g, settings, **(source if g == "extractive" else {})) for g in generators]
    progress("impute", 0, 1)
    fill, hide = one_fit(profile, disc, oracle, seed)
    result = generative_social_choice(profile, k, discriminative=fill, generators=gens, options=options,
                                      progress=progress, oracle=oracle)
    progress("assign", 0, 1)
    assignment = balanced(result.utilities, result.slate)
    progress("assign", 1, 1)
    report = None
    if measure_accuracy and profile.observed.any():
        from pnyx.evaluate.accuracy import statement_held_out, vote_held_out

        step = lambda done, total: progress("accuracy", done, total)  # noqa: E731
        measured = fill if oracle is None else oracle.screen  # (measuring the paid backend would cost calls)
        report = (vote_held_out(profile, measured, seed=seed, progress=step, hide=hide) if profile.scale == "vote"
                  else statement_held_out(profile, measured, progress=step))
        if hide is not None:
            report.info["fit"] = ONE_FIT
    progress("audit", 0, 1)
    labels = [label for label in result.profile.provenance_labels if label != "observed"]
    checked = audit(result, assignment, accuracy=report, usage=usage_of([disc, *gens]),
                    backend=labels[0] if labels else backend)
    run_ = Run(result=result, assignment=assignment, audit=checked, backend=backend, generators=list(generators),
               participants_excluded=left_out)
    progress("audit", 1, 1)
    progress("extras", 0, 1)
    checked.extras = audit_extras(result.profile, result.utilities, result.slate, run_.matching, seed=seed,
                                  predicted=None if report is None else held_out_predictions(profile, report),
                                  bias=report is not None, llm=disc if bias_paraphrases else None,
                                  paraphrases=bias_paraphrases)
    for key, value in checked.extras.get("bias_paraphrases", {}).get("usage", {}).items():
        if key in checked.model_usage:
            checked.model_usage[key] += value
    drawn = checked.extras.get("sample")
    if drawn:
        checked.caveats.append(f"The extra audit measures (maximal lottery, divisiveness, inclusion, egalitarian "
                               f"groups, bias) are computed on a seeded sample of {drawn['participants']:,} of the "
                               f"{drawn['of']:,} participants (seed {drawn['seed']}): estimates, not exact values.")
    progress("extras", 1, 1)
    return run_


ONE_FIT = ("one fit without the held-out votes both scored them and imputed the utilities the slate was chosen "
           "on (observed votes, held-out ones included, keep their observed values)")


def one_fit(profile: Profile, disc: Any, oracle: Any, seed: int) -> tuple[Any, Any]:
    """The backend that fills the pool, and the votes held out of its fit (or None).

    On vote data large enough that the accuracy hold-out is capped at its stated sample
    (:data:`pnyx.evaluate.accuracy.DEFAULT_SAMPLE` votes), a backend that can be fit once (``fitted``,
    e.g. ``cf``) with exhaustive queries is fit once without those seeded votes, whether or not the
    accuracy is measured (so the slate does not depend on that): the fit imputes the pool and is the one
    whose accuracy is measured (:data:`ONE_FIT`). Otherwise ``disc`` fills the pool, refit per use.
    """
    if not (oracle is None and profile.scale == "vote" and hasattr(disc, "fitted") and profile.observed.any()):
        return disc, None
    from pnyx.evaluate.accuracy import DEFAULT_SAMPLE, vote_holdout

    hide = vote_holdout(profile, seed=seed, sample=DEFAULT_SAMPLE)
    if np.count_nonzero(hide) < DEFAULT_SAMPLE:  # small data: every vote helps the imputation
        return disc, None
    return disc.fitted(profile, hide), hide


PAID = ("llm",)
"""Backends that charge per call: adaptive queries by default."""


def adaptive_queries(disc: Any, settings: dict, queries: str | None, query_budget: int | None, backend: str,
                     options: ProcessOptions) -> Any:
    """The :class:`pnyx.planner.AdaptiveQueries` hook of :func:`run` (None for exhaustive queries).

    Raises
    ------
    InputError
        An unknown ``queries`` mode, or a query budget without adaptive queries.
    """
    if queries is None:
        queries = "adaptive" if backend in PAID and options.effective_rule == "gsc" else "exhaustive"
    if queries not in ("adaptive", "exhaustive"):
        raise InputError(f"queries must be 'adaptive' or 'exhaustive', not {queries!r}", field="--queries")
    if query_budget is not None and queries != "adaptive":
        raise InputError("a query budget needs adaptive queries (--queries adaptive)", field="--query-budget")
    if queries == "exhaustive":
        return None
    from pnyx.planner import AdaptiveQueries, backend_oracle
    from pnyx.queries import get_discriminative

    label = f"{disc.name}:{disc.model}" if getattr(disc, "model", "") else disc.name
    return AdaptiveQueries(ask=backend_oracle(disc), screen=get_discriminative("cf", settings), label=label,
                           budget=query_budget)
