"""The one input check for the pure core (as scikit-learn's ``check_array``): utility matrices, slates, k.

Rules, axiom checks, the assignment and the process call these at their boundary and trust what
they return; the messages name the offending value.

>>> check_slate([0, 2], m=3, unique=True).tolist()
[0, 2]
>>> check_slate([0, 5], m=3)
Traceback (most recent call last):
    ...
pnyx.data.InputError: field 'slate': slate column 5 is out of range 0..2
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from pnyx.blocks import blocks
from pnyx.data import InputError
from pnyx.scale import MAX_UTILITY

_FILL = "fill unknown utilities with a discriminative backend (pnyx.queries) first"


def check_utilities(U: object, *, allow_nan: bool = True, finite_in: Sequence[int] | None = None,
                    rows: np.ndarray | None = None, name: str = "U", min_columns: int = 1) -> np.ndarray:
    """U as a float n × m matrix of utilities on the 0–4 scale.

    Parameters
    ----------
    U
        Participants × statements; NaN marks an unknown utility.
    allow_nan
        If False, every entry must be known.
    finite_in
        Columns (e.g. a slate) whose entries must be known even where NaN is allowed elsewhere.
    rows
        Boolean mask or indices of the rows the ``allow_nan``/``finite_in`` checks apply to.
    min_columns
        The fewest columns accepted.

    Returns
    -------
    numpy.ndarray
        ``U`` as float64, or float32 if it is one (no copy when it already is either).

    Raises
    ------
    InputError
        Not 2-D, too few columns, an entry outside 0–4 or infinite, or an unknown entry where one
        must be known; the message names the participant (row) and the statement (column).
    """
    U = np.asarray(U)
    if U.dtype not in (np.float32, np.float64):
        U = U.astype(float)
    if U.ndim != 2:
        raise InputError(f"{name} must be a 2-D participants × statements matrix, got shape {U.shape}", field=name)
    if U.shape[1] < min_columns:
        raise InputError(f"{name} has {U.shape[1]} statement columns; at least {min_columns} needed", field=name)
    # reductions that skip NaN, then a search only on failure: no n × m temporaries on good input
    if U.size and not (np.fmin.reduce(U, axis=None) >= 0 and np.fmax.reduce(U, axis=None) <= MAX_UTILITY):
        bad = np.isinf(U) | (U < 0) | (U > MAX_UTILITY)
        i, j = np.argwhere(bad)[0]
        raise InputError(f"utility of participant {i} for statement {j} is {U[i, j]:g}, outside the 0–4 scale",
                         field=name)
    need = None if allow_nan else slice(None)
    if finite_in is not None:
        need = np.asarray(finite_in, dtype=int)
    if need is not None:
        # a row's maximum is NaN iff an entry is (no infinities here); columns picked a block of rows at a time
        if isinstance(need, slice):
            unknown = np.isnan(U.max(axis=1))
        else:
            unknown = np.zeros(U.shape[0], dtype=bool)
            for part in blocks(U.shape[0], need.size) if need.size else ():
                unknown[part] = np.isnan(U[part][:, need].max(axis=1))
        if rows is not None:
            checked = np.zeros(U.shape[0], dtype=bool)
            checked[rows] = True
            unknown &= checked
        if unknown.any():
            i = int(np.flatnonzero(unknown)[0])
            j = int(np.arange(U.shape[1])[need][np.flatnonzero(np.isnan(U[i, need]))[0]])
            raise InputError(f"utility of participant {i} for statement {j} is unknown (NaN); {_FILL}",
                             field=name)
    return U


def check_slate(slate: Sequence[int], m: int, *, unique: bool = False, name: str = "slate") -> np.ndarray:
    """A non-empty 1-D array of column indices in ``0..m-1`` (distinct if ``unique``).

    Raises
    ------
    InputError
        Empty, not integers, a column out of range, or a repeated column where ``unique``.
    """
    W = np.asarray(list(slate))
    if W.ndim != 1 or W.size == 0:
        raise InputError(f"the {name} is empty", field=name)
    if not np.issubdtype(W.dtype, np.integer):
        raise InputError(f"{name} entries must be column indices (integers), got {W.tolist()}", field=name)
    out = W[(W < 0) | (W >= m)]
    if out.size:
        raise InputError(f"{name} column {int(out[0])} is out of range 0..{m - 1}", field=name)
    if unique and np.unique(W).size != W.size:
        raise InputError(f"the {name} repeats a column: {W.tolist()}", field=name)
    return W.astype(int)


def check_k(k: object, *, m: int | None = None, n: int | None = None, name: str = "k") -> int:
    """A positive integer k, at most the number of statements ``m`` and participants ``n`` where given.

    Raises
    ------
    InputError
        Not a positive integer, or larger than ``m`` or ``n``.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"{name} must be a positive integer, got {k!r}", field=name)
    if m is not None and k > m:
        raise InputError(f"{name} = {k} is larger than the number of candidate statements ({m})", field=name)
    if n is not None and k > n:
        raise InputError(f"{name} = {k} is larger than the number of participants ({n})", field=name)
    return int(k)
