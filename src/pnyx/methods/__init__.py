"""The wider toolbox: consensus lotteries, egalitarian and lottery slates, diversity and inclusion,
mutual consensus, Shapley attribution, predictor bias, and ranking systems by social choice.

Every method is a pure function over numpy arrays returning a typed result, registered in
:data:`METHODS` (``METHODS.meta(id)["cite"]`` names the definition implemented):

| id | method | module |
|---|---|---|
| ``maximal-lottery`` | Fishburn's maximal lottery (the NLHF Nash equilibrium) | :mod:`~pnyx.methods.lottery` |
| ``em-groups`` | groups learned by EM (MaxMin-RLHF) | :mod:`~pnyx.methods.groups` |
| ``fair-lottery`` | BW-MES inclusion probabilities and dependent rounding | :mod:`~pnyx.methods.fair_lottery` |
| ``diversity``, ``inclusion`` | Mitchell et al.'s presence, diversity and inclusion | :mod:`~pnyx.methods.diversity` |
| ``mutual-consensus`` | κ and the minimum-cost consensus LP | :mod:`~pnyx.methods.consensus` |
| ``shapley`` | exact / permutation Shapley values | :mod:`~pnyx.methods.shapley` |
| ``predictor-bias`` | per-group errors with bootstrap intervals | :mod:`~pnyx.methods.bias` |
| ``predictor-bias-paraphrases`` | the same under paraphrased LLM prompts, and its spread | :mod:`~pnyx.methods.bias` |
| ``rank-systems`` | Vote'n'Rank rules and exact Kemeny | :mod:`~pnyx.methods.ranking` |

The slate rules ``maxmin-groups`` and ``fair-lottery`` are in :data:`pnyx.rules.RULES`.
:func:`audit_extras` is the part of a run's audit these methods give.
"""

from pnyx.methods.base import METHODS
from pnyx.methods import bias, consensus, diversity, fair_lottery, groups, lottery, ranking, shapley  # noqa: F401
from pnyx.methods.extras import audit_extras, explain_slate_statement

__all__ = ["METHODS", "audit_extras", "explain_slate_statement"]
