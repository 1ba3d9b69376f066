"""abcvoting's YAML instance files (``*.abc.yaml``), as ``abcvoting.fileio.read_abcvoting_yaml_file`` reads them.

Keys: ``profile`` (required: one list of approved candidates 0 … num_cand − 1 per voter),
``num_cand`` (default: the largest approved candidate + 1), ``voter_weights`` (one per voter),
``committeesize``, ``compute`` (rule instances with their results), ``description``; no other key.

Voter ``i`` becomes participant ``"i"`` and candidate ``c`` statement ``"c"`` (text ``"candidate c"``).
Approval → utility 4, non-approval → 0, every entry observed. A voter of integer weight ``w > 1``
counts as ``w`` participants ``"i.1"`` … ``"i.w"``; fractional weights are rejected. ``committeesize``,
``compute`` and ``description`` go to ``Profile.info``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pnyx.data import InputError, Participant, Profile, Statement
from pnyx.io._common import approval_profile, check_size, read_text

VALID_KEYS = ("profile", "num_cand", "committeesize", "compute", "voter_weights", "description")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it: ~10× faster


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_abc_yaml(path: str | Path) -> Profile:
    """Read an abcvoting YAML file (see the module docstring)."""
    path = Path(path)
    where = str(path)
    text = read_text(path)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML ({getattr(exc, 'problem', exc)})", path=where,
                         line=None if mark is None else mark.line + 1) from None
    finally:
        loader.dispose()
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        raise InputError("expected a YAML mapping with a 'profile' key", path=where, line=1)
    nodes: dict[str, yaml.Node] = {}
    for key, value in root.value:
        line = key.start_mark.line + 1
        if key.value not in VALID_KEYS:
            raise InputError(f"unknown key (valid keys: {', '.join(VALID_KEYS)})", path=where, line=line, field=key.value)
        if key.value in nodes:
            raise InputError("duplicate key", path=where, line=line, field=key.value)
        nodes[key.value] = value

    def fail(message: str, key: str, node: yaml.Node | None = None) -> InputError:
        return InputError(message, path=where, line=(node or nodes[key]).start_mark.line + 1, field=key)

    if "profile" not in nodes:
        raise InputError("missing key", path=where, line=1, field="profile")
    ballots = data["profile"]
    if not isinstance(ballots, list) or not ballots:
        raise fail("expected a non-empty list of approval sets", "profile")
    voter_nodes = nodes["profile"].value
    for ballot, node in zip(ballots, voter_nodes):
        if not isinstance(ballot, list) or not all(_int(c) and c >= 0 for c in ballot):
            raise fail(f"an approval set is a list of candidates 0, 1, 2, …; got {ballot!r}", "profile", node)
        if len(set(ballot)) != len(ballot):
            raise fail(f"a candidate is approved twice in {ballot!r}", "profile", node)
    largest = max((c for ballot in ballots for c in ballot), default=-1)
    num_cand = data.get("num_cand", largest + 1)
    key = "num_cand" if "num_cand" in nodes else "profile"
    if not _int(num_cand) or num_cand < 1:
        raise fail(f"expected a positive integer, got {num_cand!r}", key)
    check_size(0, num_cand, path=where, line=nodes[key].start_mark.line + 1, field=key)
    for ballot, node in zip(ballots, voter_nodes):
        if any(c >= num_cand for c in ballot):
            raise fail(f"candidate out of range: num_cand is {num_cand}, candidates are 0 … {num_cand - 1}", "profile", node)

    weights = data.get("voter_weights", [1] * len(ballots))
    if "voter_weights" in nodes:
        if not isinstance(weights, list) or len(weights) != len(ballots):
            raise fail(f"expected one weight per voter ({len(ballots)})", "voter_weights")
        for w, node in zip(weights, nodes["voter_weights"].value):
            if isinstance(w, bool) or not isinstance(w, (int, float)) or w <= 0 or w != int(w):
                raise fail(f"voter weights must be positive integers (each counts as that many participants), got {w!r}",
                           "voter_weights", node)
    key = "voter_weights" if "voter_weights" in nodes else "profile"
    check_size(int(sum(weights)), num_cand, path=where, line=nodes[key].start_mark.line + 1, field=key)
    if "committeesize" in nodes and (not _int(data["committeesize"]) or data["committeesize"] < 1):
        raise fail(f"expected a positive integer, got {data['committeesize']!r}", "committeesize")

    participants, rows = [], []
    for i, (ballot, w) in enumerate(zip(ballots, weights)):
        ids = [str(i)] if w == 1 else [f"{i}.{c}" for c in range(1, int(w) + 1)]
        participants += [Participant(pid) for pid in ids]
        rows += [ballot] * len(ids)
    approved = np.zeros((len(rows), num_cand), dtype=bool)
    for r, ballot in enumerate(rows):
        approved[r, ballot] = True
    statements = [Statement(str(c), f"candidate {c}") for c in range(num_cand)]
    info: dict[str, Any] = {"format": "abcvoting", "voters": len(ballots)}
    info.update({k: data[k] for k in ("committeesize", "compute", "description") if k in data})
    return approval_profile(participants, statements, approved, source=where, info=info)
