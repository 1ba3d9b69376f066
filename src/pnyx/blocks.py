"""Passes over an n × m matrix in blocks, so that no n × m temporary is made.

Every module that reads a large utility matrix or mask in pieces uses :func:`blocks` for the pieces and
:func:`column_counts` to count the True entries of a boolean block per column.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

BLOCK_ENTRIES = 1 << 23
"""Entries read at once by a pass over blocks: bounds a pass's working memory (64 MB in float64)."""


def blocks(length: int, width: int, entries: int | None = None) -> Iterator[slice]:
    """Consecutive slices covering ``range(length)``, each ``entries // width`` long (at least 1; the last may be
    shorter): the rows of an n × ``width`` matrix, or the columns of its transpose, read about ``entries``
    (default :data:`BLOCK_ENTRIES`) at a time.

    >>> list(blocks(5, 4, entries=8))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    step = max(1, (BLOCK_ENTRIES if entries is None else entries) // max(width, 1))
    for at in range(0, length, step):
        yield slice(at, min(at + step, length))


def column_counts(mask: np.ndarray) -> np.ndarray:
    """The True entries of each column of a 2-D boolean array, as int64; added as bytes over groups of 255 rows
    (a sum that widens every entry first is several times slower)."""
    whole = mask.shape[0] - mask.shape[0] % 255
    counts = mask[whole:].sum(axis=0, dtype=np.int64)
    if whole and mask.shape[1]:
        bytes_ = mask[:whole].view(np.uint8).reshape(-1, 255, mask.shape[1])
        counts += bytes_.sum(axis=1, dtype=np.uint8).sum(axis=0, dtype=np.int64)
    return counts


def column_sums(n: int, width: int, per_block: Callable[[slice], np.ndarray]) -> np.ndarray:
    """Σ over the row blocks of an n × ``width`` matrix (:func:`blocks`) of ``per_block(rows)``, one integer per
    column: a column count over the matrix without an n × ``width`` temporary."""
    total = np.zeros(width, dtype=np.int64)
    for rows in blocks(n, width):
        total += per_block(rows)
    return total
