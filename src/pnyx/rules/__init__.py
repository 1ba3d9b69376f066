"""Slate rules over an n × m utility matrix, by id: ``compute(rule_id, U, k, **params) -> RuleResult``.

| id | rule | module |
|---|---|---|
| ``gsc`` | Generative Social Choice round rule (arXiv 2309.01291) | :mod:`~pnyx.rules.gsc` |
| ``gsc-budgeted`` | its budgeted variant (arXiv 2505.22939) | :mod:`~pnyx.rules.gsc` |
| ``pav``, ``cc`` | Proportional Approval Voting, Chamberlin–Courant (exact, MILP) | :mod:`~pnyx.rules.thiele` |
| ``seq-pav`` | sequential PAV | :mod:`~pnyx.rules.thiele` |
| ``equal-shares`` | Method of Equal Shares (completions as abcvoting) | :mod:`~pnyx.rules.equal_shares` |
| ``seq-phragmen`` | sequential Phragmén | :mod:`~pnyx.rules.phragmen` |
| ``monroe``, ``greedy-monroe`` | Monroe (exact, MILP) and Greedy Monroe | :mod:`~pnyx.rules.monroe` |
| ``maxmin-groups`` | egalitarian group slate (MaxMin-RLHF, arXiv 2402.08925) | :mod:`~pnyx.methods.groups` |
| ``fair-lottery`` | a draw from the BW-MES fair lottery (arXiv 2404.05198) | :mod:`~pnyx.methods.fair_lottery` |

The GSC rules read cardinal utilities; the others are approval rules and take ``threshold``
(default :data:`pnyx.data.DEFAULT_APPROVAL_THRESHOLD`): approval is U ≥ threshold, NaN is not
approved. The approval rules' committees are checked against abcvoting's (``tests/rules``).
``cc`` and ``monroe`` also take ``cardinal=True``: the utilitarian forms over U itself (exact MILPs
that get slow on large unstructured profiles).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pnyx.rules import equal_shares, gsc, monroe, phragmen, thiele  # noqa: F401  (register the rules)
from pnyx.rules.base import RULES, Rule, RuleResult, register

import pnyx.methods.fair_lottery  # noqa: E402,F401  (the toolbox's slate rules register here too)
import pnyx.methods.groups  # noqa: E402,F401

__all__ = ["RULES", "Rule", "RuleResult", "compute", "register"]


def compute(rule_id: str, U: np.ndarray, k: int, **params: Any) -> RuleResult:
    """Run rule ``rule_id`` on utilities ``U`` (n × m) for a slate of k statements."""
    return RULES[rule_id](U, k, **params)
