"""What the scale tests share: a seeded synthetic vote matrix."""

from __future__ import annotations

import numpy as np


def votes(n: int, m: int, density: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded two-opinion agree/disagree utilities (0 or 4) with a random ``density`` observed, NaN elsewhere."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
    U = np.where(x @ y.T + rng.normal(0, 0.5, (n, m)) > 0, 4.0, 0.0)
    observed = rng.random((n, m)) < density
    U[~observed] = np.nan
    return U, observed
