"""The 2-D layout of a set of vectors: PCA, then UMAP fitted on a sample, the rest placed from the sample.

UMAP's own ``transform`` of a million points runs its optimiser again over them and takes longer than
the 10-minute budget on two cores; placing each remaining point at the distance-weighted mean of its
nearest sample points (in the PCA space UMAP was fitted in) keeps the sample's layout (clusters land
where their sample points are) and costs one nearest-neighbour query per point: through the
neighbour index UMAP built while fitting (pynndescent, ~4 s per million), or by blocks of matrix
products when UMAP made none (small samples). Measured figures and the
choice of sizes are in README "## Scatter plot".

Pure numpy and umap-learn: no database here (``apps.similarity.services`` reads and writes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PCA_DIMENSIONS = 50  # UMAP's neighbour graph is as good on 50 principal components and ~10x cheaper than 512-d
SAMPLE_SIZE = 20_000  # points UMAP is fitted on: ~40 s on one core; the layout of 1M is then set by them
PLACE_NEIGHBOURS = 8  # sample points a remaining point is placed between
PROJECT_BLOCK = 100_000  # rows put on the principal components per matrix product (~200 MB at 512-d)
PLACE_QUERY_ROWS = 100_000  # points per neighbour-index query: ~0.4 s, and a progress report
PLACE_BLOCK_CELLS = 25_000_000  # distances per block (points x sample): 100 MB of float32, ~0.1 s
UMAP_NEIGHBOURS = 15
UMAP_MIN_DIST = 0.1


@dataclass(frozen=True)
class Layout:
    """Positions in [-1, 1] on both axes (what WebGL plots draw without a transform), one row per input."""

    xy: np.ndarray  # float32 (n, 2)
    method: str
    params: dict


def layout_compute(vectors: np.ndarray, *, seed: int = 42, sample_size: int = SAMPLE_SIZE,
                   progress: Callable[[float], None] | None = None, overwrite: bool = False) -> Layout:
    """The 2-D layout of ``vectors`` (float32 (n, d)); the same input and seed give the same output.
    ``overwrite=True`` lets it normalise ``vectors`` in place (a million 512-d vectors are 2 GB)."""
    report = progress or (lambda fraction: None)
    n = len(vectors)
    params = {"seed": seed, "sample": min(n, sample_size), "pca": PCA_DIMENSIONS, "n_neighbors": UMAP_NEIGHBOURS,
              "min_dist": UMAP_MIN_DIST, "place_neighbors": PLACE_NEIGHBOURS}
    if n == 0:
        return Layout(np.zeros((0, 2), np.float32), "umap", params)
    rng = np.random.default_rng(seed)
    vectors = np.array(vectors, dtype=np.float32, copy=None if overwrite else True)
    vectors = _unit_rows(vectors)  # cosine, as the key's index measures
    sample = np.sort(rng.choice(n, size=params["sample"], replace=False))
    reduced = _pca(vectors, sample)
    report(0.1)
    if n < 4:  # UMAP needs a few points to build a graph; so few points just keep their PCA place
        xy = reduced[:, :2] if reduced.shape[1] >= 2 else np.pad(reduced, ((0, 0), (0, 2 - reduced.shape[1])))
        return Layout(_normalised(xy), "pca", params)
    fitted, index = _umap(reduced[sample], seed=seed)
    report(0.6)
    xy = np.empty((n, 2), np.float32)
    xy[sample] = fitted
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    _place(reduced, rest, reduced[sample], fitted, xy, report, index=index)
    return Layout(_normalised(xy), "umap", params)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    """The rows scaled to length 1, in place when ``vectors`` is writable."""
    if not vectors.flags.writeable:
        vectors = vectors.copy()
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.where(norms == 0, 1, norms)
    return vectors


def _pca(vectors: np.ndarray, sample: np.ndarray) -> np.ndarray:
    """All vectors on the first principal components of the sample (float32 (n, k))."""
    fitted = vectors[sample].astype(np.float64)
    mean = fitted.mean(axis=0)
    # Eigenvectors of the d x d covariance, not an SVD of the sample: the same components, and ~100x
    # faster (the SVD also builds the n x d left factor; 32 s for 20,000 x 512 on a busy 2-core machine).
    centred = fitted - mean
    values, eigenvectors = np.linalg.eigh(centred.T @ centred)
    components = eigenvectors[:, np.argsort(values)[::-1][:PCA_DIMENSIONS]].T
    mean = mean.astype(np.float32)
    # A component's sign is arbitrary; fix it so a layout does not flip between runs or machines.
    components *= np.where(components[np.arange(len(components)), np.abs(components).argmax(axis=1)] < 0, -1, 1)[:, None]
    basis = components.T.astype(np.float32)
    reduced = np.empty((len(vectors), basis.shape[1]), np.float32)
    for start in range(0, len(vectors), PROJECT_BLOCK):  # by blocks: no second n x d copy of the vectors
        reduced[start:start + PROJECT_BLOCK] = (vectors[start:start + PROJECT_BLOCK] - mean) @ basis
    return reduced


def _umap(points: np.ndarray, *, seed: int):
    """The fitted 2-D positions and UMAP's neighbour index over ``points`` (None when it used exact
    neighbours). The index is a private attribute of umap-learn 0.5 (``_knn_search_index``), read
    with a fallback so a later version without it only makes placing slower."""
    import umap  # numba compiles on first use: imported here so the web processes never pay for it

    n_neighbors = max(2, min(UMAP_NEIGHBOURS, len(points) - 1))
    model = umap.UMAP(n_neighbors=n_neighbors, min_dist=UMAP_MIN_DIST, n_components=2, random_state=seed,
                      init="spectral" if len(points) > n_neighbors + 2 else "random", n_jobs=1)
    fitted = model.fit_transform(points).astype(np.float32)
    return fitted, getattr(model, "_knn_search_index", None)


def _place(reduced: np.ndarray, rest: np.ndarray, anchors: np.ndarray, anchor_xy: np.ndarray, xy: np.ndarray,
           report: Callable[[float], None], *, index=None) -> None:
    """Put each of ``rest`` at the inverse-distance mean of its nearest anchors' positions."""
    k = min(PLACE_NEIGHBOURS, len(anchors))
    if index is not None and len(rest):
        for start in range(0, len(rest), PLACE_QUERY_ROWS):
            rows = rest[start:start + PLACE_QUERY_ROWS]
            nearest, distances = index.query(reduced[rows], k=k)
            weights = 1.0 / (distances + 1e-6)
            weights /= weights.sum(axis=1, keepdims=True)
            xy[rows] = (anchor_xy[nearest] * weights[..., None]).sum(axis=1)
            report(0.6 + 0.35 * min(1.0, (start + len(rows)) / len(rest)))
        return
    anchor_norms = (anchors * anchors).sum(axis=1)
    block = max(1, PLACE_BLOCK_CELLS // max(len(anchors), 1))
    for start in range(0, len(rest), block):
        rows = rest[start:start + block]
        points = reduced[rows]
        distances = anchor_norms[None, :] - 2 * points @ anchors.T  # + |p|^2, the same for the whole row
        nearest = np.argpartition(distances, k - 1, axis=1)[:, :k] if k < len(anchors) else \
            np.broadcast_to(np.arange(len(anchors)), (len(rows), len(anchors)))
        squared = np.take_along_axis(distances, nearest, axis=1) + (points * points).sum(axis=1)[:, None]
        weights = 1.0 / (np.sqrt(np.maximum(squared, 0)) + 1e-6)
        weights /= weights.sum(axis=1, keepdims=True)
        xy[rows] = (anchor_xy[nearest] * weights[..., None]).sum(axis=1)
        report(0.6 + 0.35 * min(1.0, (start + len(rows)) / len(rest)))


def _normalised(xy: np.ndarray) -> np.ndarray:
    """Scaled into [-1, 1] keeping the aspect ratio (centred on the middle of the bounding box)."""
    xy = np.asarray(xy, dtype=np.float64)
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = float((high - low).max()) or 1.0
    return ((xy - (low + high) / 2) * (2 / span)).astype(np.float32)
