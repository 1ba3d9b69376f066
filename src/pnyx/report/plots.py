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


def assigned_ratings_figure(observed: np.ndarray, predicted: np.ndarray, labels: Sequence[str],
                            level_labels: Sequence[str]) -> str:
    """Horizontal stacked bars: for statement s, its assigned participants per judgment level (lowest
    first), observed judgments solid and predicted utilities (rounded to the nearest level) hatched and
    paler. ``observed`` and ``predicted`` are k × levels counts."""
    observed, predicted = np.asarray(observed, dtype=float), np.asarray(predicted, dtype=float)
    k, levels = observed.shape
    colours = LEVEL_COLOURS if levels == 5 else [LEVEL_COLOURS[0], LEVEL_COLOURS[2], LEVEL_COLOURS[4]]
    fig = Figure(figsize=(7.5, 0.55 * k + 1.5))
    ax = fig.add_subplot()
    left = np.zeros(k)
    y = np.arange(k)[::-1]
    for level in range(levels):
        for counts, kind in ((observed, "observed"), (predicted, "predicted")):
            if kind == "predicted" and not counts[:, level].any():
                continue
            style = ({"color": colours[level]} if kind == "observed" else
                     {"color": colours[level], "alpha": 0.45, "hatch": "///"})
            ax.barh(y, counts[:, level], left=left, edgecolor="white", linewidth=0.6,
                    label=f"{level_labels[level]}" + (" (predicted)" if kind == "predicted" else ""), **style)
            for yi, li, c in zip(y, left, counts[:, level]):
                if c >= max(3.0, 0.03 * (observed + predicted).sum(axis=1).max()):
                    ax.text(li + c / 2, yi, f"{int(c)}", ha="center", va="center", fontsize=7)
            left += counts[:, level]
    ax.set_yticks(y, list(labels))
    ax.set_xlabel("participants the statement speaks for")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(ncols=min(levels, 3) if predicted.any() else levels, loc="lower center", bbox_to_anchor=(0.5, 1.0),
              frameon=False, fontsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return to_svg(fig)


def opinion_map(U: np.ndarray, assignment: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Participant coordinates (PCA of the centred utility matrix, 2 components), statement
    coordinates (centroid of each slate position's assigned participants), explained variance ratios
    (zeros where the utilities do not vary: there is no map to draw)."""
    from sklearn.decomposition import PCA

    U = np.asarray(U, dtype=float)
    if U.shape[1] < 2 or U.shape[0] < 3 or not np.ptp(U, axis=0).any():
        coords, ratio = np.zeros((U.shape[0], 2)), np.zeros(2)
    else:
        pca = PCA(n_components=2, random_state=seed).fit(U)
        coords, ratio = pca.transform(U), np.nan_to_num(pca.explained_variance_ratio_)
    centres = np.array([coords[assignment == s].mean(axis=0) if np.any(assignment == s) else [np.nan, np.nan]
                        for s in range(k)])
    return coords, centres, ratio


def _spread_labels(points: np.ndarray, span: np.ndarray, gap: float = 0.07, steps: int = 200) -> np.ndarray:
    """Label positions near ``points`` that keep at least ``gap`` (in units of the axes' span) apart."""
    scale = np.where(span > 0, span, 1.0)
    pos = points / scale
    anchor = pos.copy()
    for _ in range(steps):
        diff = pos[:, None, :] - pos[None, :, :]
        dist = np.linalg.norm(diff, axis=2) + np.eye(len(pos))
        push = np.where((dist < gap)[..., None], diff / dist[..., None] * (gap - dist)[..., None], 0).sum(axis=1)
        if not np.abs(push).max() > 1e-6:
            break
        pos += 0.5 * push + 0.05 * (anchor - pos)
    return pos * scale


MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def opinion_map_figure(coords: np.ndarray, centres: np.ndarray, assignment: np.ndarray, ratio: np.ndarray,
                       labels: Sequence[str], groups: Sequence[str | None] | None = None) -> str:
    """Participants in the PCA plane, coloured by the statement that speaks for them (legend: the
    statement's number and id), shaped by their group (e.g. Polis ``group-id``) when there is one; the
    numbered labels mark each statement's group centre, spread so that no two overlap."""
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(7.0, 5.2))
    ax = fig.add_subplot()
    group_of = np.array(["" if g is None else str(g) for g in (groups or [None] * len(assignment))])
    names = sorted(set(group_of) - {""}, key=lambda g: (len(g), g))
    shape = {g: MARKERS[i % len(MARKERS)] for i, g in enumerate(names)} | {"": "o"}
    for s in range(len(labels)):
        for g, marker in shape.items():
            sel = (assignment == s) & (group_of == g)
            if sel.any():
                ax.scatter(coords[sel, 0], coords[sel, 1], s=14, alpha=0.6, marker=marker, linewidths=0,
                           color=GROUP_COLOURS[s % len(GROUP_COLOURS)])
    ok = ~np.isnan(centres).any(axis=1)
    span = np.ptp(coords, axis=0) if len(coords) else np.ones(2)
    spread = centres.copy()
    if ok.any():
        spread[ok] = _spread_labels(centres[ok], span)
    for s in np.flatnonzero(ok):
        colour = GROUP_COLOURS[s % len(GROUP_COLOURS)]
        ax.annotate(str(s + 1), spread[s], ha="center", va="center", fontsize=9, fontweight="bold", color="white",
                    zorder=4, bbox={"boxstyle": "circle,pad=0.25", "facecolor": colour, "edgecolor": "black",
                                    "linewidth": 0.6})
        if np.linalg.norm((spread[s] - centres[s]) / np.where(span > 0, span, 1)) > 0.01:
            ax.plot(*zip(centres[s], spread[s]), color="black", linewidth=0.5, zorder=3)
    statement_handles = [Line2D([], [], marker="o", linestyle="", color=GROUP_COLOURS[s % len(GROUP_COLOURS)],
                                label=f"{s + 1}: {label}") for s, label in enumerate(labels)]
    first = ax.legend(handles=statement_handles, title="speaks for", fontsize=7, title_fontsize=8, loc="upper left",
                      bbox_to_anchor=(1.01, 1.0), frameon=False)
    if names:
        ax.add_artist(first)
        ax.legend(handles=[Line2D([], [], marker=shape[g], linestyle="", color="#555555", label=f"group {g}")
                           for g in names], title="Polis group", fontsize=7, title_fontsize=8, loc="lower left",
                  bbox_to_anchor=(1.01, 0.0), frameon=False)
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return to_svg(fig)
