"""Hybrid retrieval: BM25 over chunk text plus dense vectors in Chroma, fused by
weighted reciprocal rank fusion, then variant-aware ordering within a document.

Only versions that are current (in one SQLite snapshot) are searched unless
superseded versions are asked for. The BM25 index is rebuilt only when the
library's generation changes.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from assistant import lexicon
from assistant.library import Library

log = logging.getLogger(__name__)


@dataclass
class Hit:
    chunk_id: str
    version_id: str
    doc_id: str
    title: str
    version: str
    source: str
    kind: str
    text: str
    section: str
    heading_path: list[str]
    variant: int | None
    page_start: int
    page_end: int
    score: float = 0.0
    bm25: float = 0.0
    dense: float = 0.0  # cosine similarity
    bm25_rank: int | None = None
    dense_rank: int | None = None
    qualifier: float = 0.0


@dataclass
class Retrieval:
    question: str
    expanded: str
    hits: list[Hit]
    best_bm25: float
    best_dense: float
    ms: float
    version_ids: list[str] = field(default_factory=list)
    coverage: float = 0.0  # share of the question's content words the leading document knows
    variant_scores: list = field(default_factory=list)


class _BM25Index:
    def __init__(self, rows: list, generation: int, key: tuple):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import
        self.generation, self.key = generation, key
        self.rows = rows
        corpus = [lexicon.tokens(r["text"]) for r in rows]
        self.vocab: dict[str, set[str]] = {}
        for r, toks in zip(rows, corpus):
            self.vocab.setdefault(r["version_id"], set()).update(toks)
        self.empty = not any(corpus)
        self.model = bm25s.BM25()
        if not self.empty:
            self.model.index(corpus, show_progress=False)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        if self.empty or not query_tokens:
            return np.zeros(len(self.rows))
        return np.asarray(self.model.get_scores(query_tokens))


class Retriever:
    def __init__(self, library: Library):
        self.library = library
        self.settings = library.settings.retrieval
        self._bm25: _BM25Index | None = None

    def warm_up(self) -> None:
        """Load the embedding model, open the vector index and build BM25, so that the first
        question's retrieval time is retrieval, not start-up."""
        self.retrieve("warm up")

    def _index(self, version_ids: list[str]) -> _BM25Index:
        gen = self.library.db.generation()
        key = tuple(sorted(version_ids))
        if self._bm25 is None or self._bm25.generation != gen or self._bm25.key != key:
            self._bm25 = _BM25Index(self.library.db.chunks(version_ids), gen, key)
        return self._bm25

    def retrieve(self, question: str, *, top_k: int | None = None, doc_ids: list[str] | None = None,
                 topic: str | None = None, include_superseded: bool | None = None) -> Retrieval:
        t0 = time.perf_counter()
        cfg = self.settings
        top_k = top_k or cfg.top_k
        db = self.library.db
        with db.snapshot():
            versions = db.versions(include_superseded=cfg.include_superseded if include_superseded is None
                                   else include_superseded)
            if doc_ids:
                versions = [v for v in versions if v["doc_id"] in set(doc_ids)]
            if topic:
                versions = [v for v in versions if topic.lower() in v["title"].lower()]
            version_ids = [v["version_id"] for v in versions]
            index = self._index(version_ids)
        expanded = lexicon.expand(question)
        qtokens = lexicon.tokens(expanded)
        rows = index.rows
        if not rows:
            return Retrieval(question, expanded, [], 0.0, 0.0, (time.perf_counter() - t0) * 1000, version_ids)

        bm = index.scores(qtokens)
        bm_order = [int(i) for i in np.argsort(-bm, kind="stable")[: cfg.candidates] if bm[i] > 0]
        # The expanded question: MiniLM does not know "CES" or "RLQ", it knows their words.
        qemb, dense = self._dense(expanded, version_ids, cfg.candidates)
        dense_cos = dict(dense)
        by_id = {r["chunk_id"]: i for i, r in enumerate(rows)}

        fused: dict[int, float] = {}
        hit_info: dict[int, dict] = {}
        for rank, i in enumerate(bm_order):
            fused[i] = fused.get(i, 0.0) + cfg.bm25_weight / (cfg.rrf_k + rank + 1)
            hit_info.setdefault(i, {})["bm25_rank"] = rank + 1
        for rank, (cid, cos) in enumerate(dense):
            i = by_id.get(cid)
            if i is None:
                continue
            fused[i] = fused.get(i, 0.0) + cfg.dense_weight / (cfg.rrf_k + rank + 1)
            info = hit_info.setdefault(i, {})
            info["dense_rank"] = rank + 1
            info["dense"] = cos
        if not fused:
            return Retrieval(question, expanded, [], float(bm.max()), 0.0, (time.perf_counter() - t0) * 1000,
                             version_ids)
        # Documents by the sum of their three best chunks: a topic whose table and narrative both
        # match beats one lucky chunk of another topic.
        per_doc: dict[str, list[float]] = {}
        for i, sc in fused.items():
            per_doc.setdefault(rows[i]["version_id"], []).append(sc)
        doc_score = {v: sum(sorted(xs, reverse=True)[:3]) for v, xs in per_doc.items()}
        top_vid = max(doc_score, key=lambda v: doc_score[v])
        ordered = sorted(fused, key=lambda i: (-doc_score[rows[i]["version_id"]], -fused[i]))
        hits = [self._hit(rows[i], fused[i], float(bm[i]), hit_info.get(i, {})) for i in ordered]
        ranked = self._rank_top_variants(question, expanded, rows, top_vid, qemb, dense_cos)
        if ranked:
            by_vnum = {r["variant"]: i for i, r in enumerate(rows)
                       if r["version_id"] == top_vid and r["kind"] == "variant"}
            lead = [self._hit(rows[by_vnum[v.number]], fused.get(by_vnum[v.number], 0.0),
                              float(bm[by_vnum[v.number]]), hit_info.get(by_vnum[v.number], {})) for v in ranked]
            for h, v in zip(lead, ranked):
                h.qualifier, h.dense = v.score, v.dense
            lead_ids = {h.chunk_id for h in lead}
            hits = lead[:1] + [h for h in hits if h.chunk_id not in lead_ids] + lead[1:]
        groups = lexicon.content_groups(question)
        vocab = index.vocab.get(top_vid, set())
        coverage = sum(1 for g in groups if g & vocab) / len(groups) if groups else 0.0
        best_dense = max((h.dense for h in hits), default=0.0)
        best_bm25 = float(bm.max()) if len(bm) else 0.0
        return Retrieval(question, expanded, hits[: max(top_k, 1) * 3], best_bm25, best_dense,
                         (time.perf_counter() - t0) * 1000, version_ids, coverage, ranked)

    def _rank_top_variants(self, question, expanded, rows, top_vid, qemb, dense_cos):
        from assistant.variants import rank_variants

        vrows = [r for r in rows if r["version_id"] == top_vid and r["kind"] == "variant"]
        if not vrows:
            return []
        scenarios = {r["variant"]: r["text"].split("\n", 1)[0].split(": ", 1)[-1] for r in vrows}
        missing = [r["chunk_id"] for r in vrows if r["chunk_id"] not in dense_cos]
        if missing and qemb is not None:
            got = self.library.vector_store.client.get(ids=missing, include=["embeddings"])
            q = np.asarray(qemb)
            for cid, emb in zip(got["ids"], got["embeddings"]):
                e = np.asarray(emb)
                dense_cos[cid] = float(q @ e / (np.linalg.norm(q) * np.linalg.norm(e) or 1.0))
        dense = {r["variant"]: dense_cos.get(r["chunk_id"], 0.0) for r in vrows}
        return rank_variants(question, expanded, scenarios, dense)

    def _dense(self, question: str, version_ids: list[str], k: int):
        """The question's embedding and the k nearest chunks as (chunk id, cosine)."""
        if not version_ids:
            return None, []
        from llama_index.core.vector_stores.types import (
            FilterOperator,
            MetadataFilter,
            MetadataFilters,
            VectorStoreQuery,
        )

        emb = self.library.embed_model.get_query_embedding(question)
        filters = MetadataFilters(filters=[MetadataFilter(key="version_id", value=version_ids,
                                                          operator=FilterOperator.IN)])
        res = self.library.vector_store.query(VectorStoreQuery(query_embedding=emb, similarity_top_k=k,
                                                               filters=filters))
        # ChromaVectorStore reports exp(-distance); in cosine space distance = 1 - cos.
        return emb, [(nid, 1.0 + math.log(max(sim, 1e-12)))
                     for nid, sim in zip(res.ids or [], res.similarities or [])]

    def hit_for(self, row) -> Hit:
        """A Hit for a chunk row taken straight from the library (not ranked)."""
        return self._hit(row, 0.0, 0.0, {})

    @staticmethod
    def _hit(row, score: float, bm25: float, info: dict) -> Hit:
        import json

        return Hit(
            chunk_id=row["chunk_id"], version_id=row["version_id"], doc_id=row["doc_id"], title=row["title"],
            version=row["version"], source=row["source"], kind=row["kind"], text=row["text"],
            section=row["section"], heading_path=json.loads(row["heading_path"]), variant=row["variant"],
            page_start=row["page_start"], page_end=row["page_end"], score=score, bm25=bm25,
            dense=info.get("dense", 0.0), bm25_rank=info.get("bm25_rank"), dense_rank=info.get("dense_rank"),
        )
