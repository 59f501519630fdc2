"""The built-in text model (numpy forward pass) against sentence-transformers' own vectors.

The reference file was made by tools/make_minilm_reference.py with the original stack (torch,
sentence-transformers); its versions are recorded inside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from apps.similarity.text_model import MAX_TOKENS, SIZE, text_embed, text_model

REFERENCE = Path(__file__).parent / "data" / "minilm_reference.json"


def _reference():
    return json.loads(REFERENCE.read_text())


def test_every_reference_vector_is_reproduced():
    reference = _reference()
    texts = [case["text"] for case in reference["cases"]]
    expected = np.array([case["vector"] for case in reference["cases"]], dtype=np.float64)
    got = text_embed(texts).astype(np.float64)
    assert got.shape == (20, SIZE)
    worst = np.abs(got - expected).max(axis=1)
    cosine = (got * expected).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
    assert worst.max() < 1e-4, dict(zip(texts, worst.round(7), strict=True))
    assert cosine.min() > 0.99995


def test_one_text_at_a_time_gives_the_batch_vectors():
    """Padding in a batch changes nothing: each text alone gives the same vector."""
    reference = _reference()
    for case in reference["cases"][:6] + reference["cases"][-2:]:
        alone = text_embed([case["text"]])[0]
        assert np.abs(alone - np.array(case["vector"])).max() < 1e-4, case["text"][:40]


def test_truncation_matches_sentence_transformers():
    reference = _reference()
    assert reference["max_seq_length"] == MAX_TOKENS
    long_cases = [case for case in reference["cases"] if case["tokens"] == MAX_TOKENS]
    assert len(long_cases) == 2
    for case in reference["cases"]:
        assert len(text_model().tokenizer.encode(case["text"]).ids) == case["tokens"]


def test_vectors_are_unit_length_and_an_empty_batch_is_empty():
    vectors = text_embed(["one", "two words", ""])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert vectors.dtype == np.float32
    assert text_embed([]).shape == (0, SIZE)


def test_the_model_is_loaded_once_per_process():
    assert text_model() is text_model()
