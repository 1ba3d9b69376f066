from pnyx.methods.base import METHODS
from pnyx.methods import bias, consensus, diversity, fair_lottery, groups, lottery, ranking, shapley  # noqa: F401
