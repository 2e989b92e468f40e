"""1:N identification: which enrolled identities' references are nearest to a mark.

Each replica keeps, per (tenant, kind), an in-memory index of the enrolled reference embeddings
(:class:`GalleryIndex`): exact search (one matrix product) for galleries of up to :data:`EXACT_LIMIT` references,
an HNSW graph (hnswlib; chosen by measurement, see ``benchmarks/identify.py``) above. The index follows the store's
change log (:meth:`~stampauth.store.base.ReferenceStore.changes_since`): before every search it applies the writes
any replica made since the last one, so an enrollment or deletion anywhere is seen by the next search everywhere.

Memory: see the README (the 1-million-reference benchmark peaks at 2.4 GB resident, its generated gallery included).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from stampauth.store.base import ReferenceStore, StoredEmbedding

EXACT_LIMIT = 20_000  # below this many references exact search takes < 2 ms; above, the HNSW graph
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256  # with M 32, efConstruction 200: recall@10 0.998-0.999, p99 2 ms at 100k-1M (benchmarks/identify.py)


@dataclass(frozen=True)
class Match:
    """An identity near the query: its best reference similarity (cosine, higher = closer)."""

    identity_id: str
    similarity: float


class GalleryIndex:
    """Reference embeddings of one (tenant, kind), searchable by similarity. Thread-safe."""

    def __init__(self, dim: int):
        self.dim = dim
        self._lock = threading.RLock()
        self._vectors: dict[int, np.ndarray] = {}  # label -> (d,) unit vector
        self._identity_of: dict[int, str] = {}  # label -> identity
        self._labels_of: dict[str, list[int]] = {}  # identity -> labels
        self._next_label = 0
        self._matrix: np.ndarray | None = None  # exact search: rows in _matrix_labels order (rebuilt lazily)
        self._matrix_labels: np.ndarray | None = None
        self._hnsw = None

    def __len__(self) -> int:
        return len(self._vectors)

    def references(self, identity_id: str) -> np.ndarray:
        """The identity's reference embeddings ``(n, d)``."""
        with self._lock:
            labels = self._labels_of.get(identity_id, [])
            return np.stack([self._vectors[l] for l in labels]) if labels else np.zeros((0, self.dim), np.float32)

    def _set(self, identity_id: str, embeddings: list[np.ndarray]) -> list[int]:
        """Bookkeeping only: the identity's old labels go, new ones are made; returns the new labels."""
        for label in self._labels_of.pop(identity_id, []):
            del self._vectors[label], self._identity_of[label]
            if self._hnsw is not None:
                self._hnsw.mark_deleted(label)
        labels = list(range(self._next_label, self._next_label + len(embeddings)))
        self._next_label += len(embeddings)
        for label, vector in zip(labels, embeddings):
            self._vectors[label] = np.asarray(vector, np.float32)
            self._identity_of[label] = identity_id
        if labels:
            self._labels_of[identity_id] = labels
        self._matrix = None
        return labels

    def replace_identity(self, identity_id: str, embeddings: list[np.ndarray]) -> None:
        """The identity's references become ``embeddings`` (none: the identity leaves the index)."""
        with self._lock:
            labels = self._set(identity_id, embeddings)
            if self._hnsw is not None and labels:
                self._grow(len(labels))
                self._hnsw.add_items(np.stack([self._vectors[l] for l in labels]), np.asarray(labels))
            elif self._hnsw is None and len(self._vectors) > EXACT_LIMIT:
                self._build_hnsw()

    def load(self, galleries: dict[str, list[np.ndarray]]) -> None:
        """Add many identities at once (a first load): the graph, when one is needed, is built once, on every core."""
        with self._lock:
            had_graph, self._hnsw = self._hnsw is not None, None  # rebuilt below from every vector
            for identity_id, embeddings in galleries.items():
                self._set(identity_id, embeddings)
            if had_graph or len(self._vectors) > EXACT_LIMIT:
                self._build_hnsw()

    def _grow(self, extra: int) -> None:
        needed = self._hnsw.get_current_count() + extra
        if needed > self._hnsw.get_max_elements():
            self._hnsw.resize_index(max(needed, int(self._hnsw.get_max_elements() * 1.5)))

    def _build_hnsw(self) -> None:
        import hnswlib

        labels = np.fromiter(self._vectors, np.int64, len(self._vectors))
        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(max_elements=max(1024, int(len(labels) * 1.5)), ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M)
        index.add_items(np.stack([self._vectors[l] for l in labels]), labels)
        index.set_ef(HNSW_EF_SEARCH)
        self._hnsw = index

    def search(self, query: np.ndarray, k: int) -> list[Match]:
        """The ``k`` identities nearest to ``query`` (``(d,)`` or ``(views, d)``: an identity's similarity is its best
        over references and views), best first."""
        views = np.asarray(query, np.float32).reshape(-1, self.dim)
        with self._lock:
            if not self._vectors:
                return []
            # references per view: enough to hold k distinct identities when each has several references
            per_identity = len(self._vectors) / max(1, len(self._labels_of))
            per_view = min(len(self._vectors), int(2 * k * per_identity) + 32)
            if self._hnsw is not None:
                self._hnsw.set_ef(max(HNSW_EF_SEARCH, 2 * per_view))
                labels, distances = self._hnsw.knn_query(views, k=per_view)
                similarities = 1.0 - distances  # hnswlib "ip" distance is 1 - inner product
            else:
                if self._matrix is None:
                    self._matrix_labels = np.fromiter(self._vectors, np.int64, len(self._vectors))
                    self._matrix = np.stack([self._vectors[l] for l in self._matrix_labels])
                scores = views @ self._matrix.T
                top = np.argpartition(-scores, per_view - 1, axis=1)[:, :per_view] if per_view < scores.shape[1] \
                    else np.tile(np.arange(scores.shape[1]), (len(views), 1))
                labels = self._matrix_labels[top]
                similarities = np.take_along_axis(scores, top, axis=1)
            best: dict[str, float] = {}
            for label, similarity in zip(labels.ravel(), similarities.ravel()):
                identity = self._identity_of.get(int(label))
                if identity is not None and similarity > best.get(identity, -np.inf):
                    best[identity] = float(similarity)
        return [Match(i, s) for i, s in sorted(best.items(), key=lambda item: -item[1])[:k]]


class Identifier:
    """The indexes of one replica, following ``store``'s change log. ``versions``: kind -> the loaded model's
    version (references embedded by another version are left out until re-embedded)."""

    def __init__(self, store: ReferenceStore, versions: dict[str, str], dims: dict[str, int]):
        self.store, self.versions, self.dims = store, versions, dims
        self._indexes: dict[tuple[str, str], GalleryIndex] = {}
        self._seq: int | None = None  # read at first use: building a service touches no database
        self._lock = threading.Lock()

    def _entries(self, kind: str, tenant: str, identity_ids=None) -> dict[str, list[np.ndarray]]:
        grouped: dict[str, list[np.ndarray]] = {identity: [] for identity in identity_ids or ()}
        for identity, stored in self.store.gallery(kind, tenant=tenant, identity_ids=identity_ids):
            if isinstance(stored, StoredEmbedding) and stored.model_version == self.versions[kind]:
                grouped.setdefault(identity, []).append(stored.embedding)
        return grouped

    def sync(self) -> int:
        """Apply every write made (by any replica) since the last sync; returns how many changes were read."""
        with self._lock:
            if self._seq is None:
                self._seq = self.store.latest_change()
            read = 0
            while True:
                changes = self.store.changes_since(self._seq, 1000)
                if not changes:
                    return read
                touched: dict[tuple[str, str], set[str]] = {}
                for change in changes:
                    for kind in ([change["kind"]] if change["kind"] else list(self.versions)):
                        if (change["tenant"], kind) in self._indexes:
                            touched.setdefault((change["tenant"], kind), set()).add(change["identity_id"])
                for (tenant, kind), identities in touched.items():
                    index = self._indexes[tenant, kind]
                    for identity, embeddings in self._entries(kind, tenant, sorted(identities)).items():
                        index.replace_identity(identity, embeddings)
                self._seq = changes[-1]["seq"]
                read += len(changes)

    def index(self, tenant: str, kind: str) -> GalleryIndex:
        """The (tenant, kind) index, loaded on first use and kept in sync afterwards."""
        self.sync()
        with self._lock:
            index = self._indexes.get((tenant, kind))
            loaded = index is None
            if loaded:
                index = GalleryIndex(self.dims[kind])
                index.load(self._entries(kind, tenant))
                self._indexes[tenant, kind] = index
        if loaded:
            self.sync()  # writes that landed while it loaded
        return index
