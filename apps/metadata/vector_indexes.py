"""The per-key approximate-nearest-neighbour index of ``metadata_embedding``, and how to query through it.

Every embedding key's vectors live in one untyped ``vector`` column. Each key gets a partial HNSW
index over a sized cast of that column, chosen by pgvector's dimension caps for HNSW:

- size ≤ 2000: ``vector::vector(N)`` with ``vector_cosine_ops`` (distance ``<=>``);
- size ≤ 4000: ``vector::halfvec(N)`` with ``halfvec_cosine_ops`` (``<=>``);
- size ≤ 4096: ``binary_quantize(vector)::bit(N)`` with ``bit_hamming_ops`` (``<~>``), a coarse
  candidate list the query re-ranks by exact cosine distance.

Build parameters per kind (``m``, ``ef_construction``; the README's "Similarity" section has the figures):

- vector (≤ 2,000-d): pgvector's defaults, m=16 and ef_construction=64. On 512-d clustered vectors they
  give recall@10 of 1.0 at 100k (bench_similarity.py) and 0.997 at 200k (ef_search 100); a 1M build takes
  ~7.5 min, and build time grows about linearly with both, for no recall left to gain.
- halfvec (2,001-4,000-d): m=24, ef_construction=100. Very wide embeddings crowd their neighbours
  into a narrower band of distances, which a sparser graph navigates worse; these keys are rare and small.
- bit (4,096-d, binary quantized): m=24, ef_construction=128. Hamming distances over sign bits tie
  often, so a denser graph with a wider build beam keeps the coarse candidate list from missing true
  neighbours; the query re-ranks the candidates by exact cosine distance anyway.

PostgreSQL uses such an index only when the query repeats the indexed expression and the predicate
``key_id = <id>`` exactly, so the query side builds its SQL from ``embedding_index`` rather than
writing the casts itself::

    index = embedding_index(key)
    sql = (f"SELECT item_id FROM metadata_embedding WHERE {index.predicate} "
           f"ORDER BY {index.column} {index.operator} {index.query} LIMIT %s")
    cursor.execute(sql, [str(vector), k])   # vector as pgvector text, e.g. "[0.1,0.2,0.3]"
"""

from __future__ import annotations

from dataclasses import dataclass

TABLE = "metadata_embedding"
HNSW_VECTOR_MAX = 2000
HNSW_HALFVEC_MAX = 4000
HNSW_BIT_MAX = 4096  # the largest embedding size Loupe accepts; bit HNSW itself goes to 64,000


@dataclass(frozen=True)
class EmbeddingIndex:
    """How one key's index is built and used. ``query`` has one ``%s`` placeholder for the query vector."""

    name: str
    kind: str  # vector | halfvec | bit
    column: str  # the indexed expression over the stored vector
    query: str  # the same cast applied to the query vector
    operator: str  # the distance the opclass serves
    opclass: str
    predicate: str
    exact: bool  # False: candidates must be re-ranked by exact cosine distance (``vector <=> %s::vector``)
    m: int = 16  # HNSW build: neighbours per node (layer 0 keeps 2m)
    ef_construction: int = 64  # HNSW build: the candidate beam while inserting


def embedding_index_name(key) -> str:
    """The index name for an embedding key (a ``MetadataKey`` row; only its ``pk`` is used)."""
    return f"{TABLE}_key_{int(key.pk)}_hnsw"


def embedding_index(key) -> EmbeddingIndex:
    """The index of an embedding key (uses ``key.pk`` and ``key.size``)."""
    size = int(key.size)
    pk = int(key.pk)
    common = {"name": embedding_index_name(key), "predicate": f"key_id = {pk}"}
    if 1 <= size <= HNSW_VECTOR_MAX:
        return EmbeddingIndex(kind="vector", column=f"(vector::vector({size}))", query=f"(%s::vector({size}))",
                              operator="<=>", opclass="vector_cosine_ops", exact=True, **common)
    if size <= HNSW_HALFVEC_MAX:
        return EmbeddingIndex(kind="halfvec", column=f"(vector::halfvec({size}))", query=f"(%s::halfvec({size}))",
                              operator="<=>", opclass="halfvec_cosine_ops", exact=True, m=24, ef_construction=100,
                              **common)
    if size <= HNSW_BIT_MAX:
        return EmbeddingIndex(
            kind="bit", column=f"(binary_quantize(vector)::bit({size}))",
            query=f"(binary_quantize(%s::vector({size}))::bit({size}))",
            operator="<~>", opclass="bit_hamming_ops", exact=False, m=24, ef_construction=128, **common,
        )
    raise ValueError(f"embedding size {size} is over {HNSW_BIT_MAX}")


def embedding_index_sql(key) -> str:
    """``CREATE INDEX`` for an embedding key's partial HNSW index."""
    index = embedding_index(key)
    return (
        f"CREATE INDEX {index.name} ON {TABLE} USING hnsw ({index.column} {index.opclass}) "
        f"WITH (m = {index.m}, ef_construction = {index.ef_construction}) WHERE {index.predicate}"
    )


def embedding_index_drop_sql(key) -> str:
    return f"DROP INDEX IF EXISTS {embedding_index_name(key)}"
