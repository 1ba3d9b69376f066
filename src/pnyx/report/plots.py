"""The report's figures, drawn with matplotlib (object API, no pyplot state) and returned as SVG text.

* :func:`assigned_ratings_figure` — for each slate statement, a stacked bar of how many of its
  assigned participants gave it each rating (the form of Figures 4–5 of Fish et al., arXiv 2309.01291).
* :func:`opinion_map_figure` — participants in the plane of the first two principal components of
  the utility matrix, coloured by the statement they are assigned to, each statement placed at the
  centroid of its group (:func:`opinion_map` computes the coordinates).
"""

from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Colour-blind-safe ramp from "not at all" (red) to "perfectly" (blue).
LEVEL_COLOURS = ["#b2182b", "#ef8a62", "#d9d9d9", "#67a9cf", "#2166ac"]
GROUP_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
                 "#1f78b4", "#b15928"]


def to_svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buf.getvalue()


def data_uri(svg: str) -> str:
    """``data:`` URI of an SVG, for an ``<img>`` that needs no network and no file beside the HTML."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def assigned_ratings_figure(counts: np.ndarray, labels: Sequence[str], level_labels: Sequence[str]) -> str:
    """Horizontal stacked bars: row ``s`` of ``counts`` (k × levels) counts statement s's assigned
    participants per judgment level, lowest level first."""
    counts = np.asarray(counts, dtype=float)
    k, levels = counts.shape
    colours = LEVEL_COLOURS if levels == 5 else [LEVEL_COLOURS[0], LEVEL_COLOURS[2], LEVEL_COLOURS[4]]
    fig = Figure(figsize=(7.5, 0.55 * k + 1.3))
    ax = fig.add_subplot()
    left = np.zeros(k)
    y = np.arange(k)[::-1]
    for level in range(levels):
        ax.barh(y, counts[:, level], left=left, color=colours[level], edgecolor="white",
                label=level_labels[level])
        for yi, li, c in zip(y, left, counts[:, level]):
            if c > 0:
                ax.text(li + c / 2, yi, f"{int(c)}", ha="center", va="center", fontsize=8)
        left += counts[:, level]
    ax.set_yticks(y, list(labels))
    ax.set_xlabel("assigned participants")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(ncols=levels, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return to_svg(fig)


def opinion_map(U: np.ndarray, assignment: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Participant coordinates (PCA of the centred utility matrix, 2 components), statement
    coordinates (centroid of each slate position's assigned participants), explained variance ratios."""
    from sklearn.decomposition import PCA

    U = np.asarray(U, dtype=float)
    if U.shape[1] < 2 or U.shape[0] < 3:
        coords, ratio = np.zeros((U.shape[0], 2)), np.zeros(2)
    else:
        pca = PCA(n_components=2, random_state=seed).fit(U)
        coords, ratio = pca.transform(U), pca.explained_variance_ratio_
    centres = np.array([coords[assignment == s].mean(axis=0) if np.any(assignment == s) else [np.nan, np.nan]
                        for s in range(k)])
    return coords, centres, ratio


def opinion_map_figure(coords: np.ndarray, centres: np.ndarray, assignment: np.ndarray, ratio: np.ndarray) -> str:
    fig = Figure(figsize=(6.5, 5.0))
    ax = fig.add_subplot()
    for s, centre in enumerate(centres):
        colour = GROUP_COLOURS[s % len(GROUP_COLOURS)]
        members = assignment == s
        ax.scatter(coords[members, 0], coords[members, 1], s=12, alpha=0.55, color=colour, linewidths=0)
        ax.scatter([centre[0]], [centre[1]], s=260, color=colour, edgecolors="black", marker="o", zorder=3)
        ax.annotate(str(s + 1), centre, ha="center", va="center", color="white", fontweight="bold", zorder=4)
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return to_svg(fig)
