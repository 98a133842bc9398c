"""Answering: retrieve, decide whether the library covers the question, take the
recommendations from the matched variant's source table, let the model write a
short cited explanation, then check every citation against the stored pages."""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from assistant import backends, citations, lexicon, prompts
from assistant.audit import AuditLog
from assistant.errors import LibraryError, ModelError, QuestionError
from assistant.library import Library
from assistant.records import CATEGORIES, USUALLY_APPROPRIATE
from assistant.retrieval import Hit, Retrieval, Retriever
from assistant.settings import Settings

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000


@dataclass
class Evidence:
    passages: list[prompts.Passage]
    hits: list[Hit]  # hit behind each passage, same order
    variant_hit: Hit | None


def _without_reasoning(text: str) -> str:
    """Drop a hidden reasoning step (<think>...</think>, also when the model never closed it)."""
    text = re.sub(r"(?s)<think>.*?</think>", "", text)
    return re.sub(r"(?s)<think>.*", "", text).strip()


class Engine:
    """One per process: holds the library, the retriever and (lazily) the model."""

    def __init__(self, settings: Settings, library: Library | None = None, llm=None):
        self.settings = settings
        self.library = library or Library(settings)
        self.retriever = Retriever(self.library)
        self._llm = llm
        self.audit = AuditLog(settings.audit_db) if settings.audit.enabled else None
        # Load the embedding model and the vector store now, so a question's timings measure
        # retrieval rather than start-up.
        if self.library.db.versions():
            self.retriever.warm_up()

    @cached_property
    def llm(self):
        return self._llm if self._llm is not None else backends.make_llm(self.settings)

    @property
    def model_label(self) -> str:
        return backends.llm_label(self.settings)

    # ------------------------------------------------------------------
    def ask(self, question: str, *, on_token: Callable[[str], None] | None = None,
            doc_ids: list[str] | None = None, topic: str | None = None) -> dict:
        question = (question or "").strip()
        if not question:
            raise QuestionError("the question is empty; type a clinical question, e.g. "
                                "\"suspected appendicitis in pregnancy, first imaging?\"")
        if len(question) > MAX_QUESTION_CHARS:
            raise QuestionError(f"the question is {len(question)} characters long; keep it under "
                                f"{MAX_QUESTION_CHARS} (ask about one clinical scenario at a time)")
        if not self.library.db.versions():
            raise LibraryError(f"the library in {self.settings.home} is empty; ingest guidelines first "
                               "(`radguide ingest corpora/sample`)")
        t0 = time.perf_counter()
        ret = self.retriever.retrieve(question, doc_ids=doc_ids, topic=topic)
        timings = {"retrieval": round(ret.ms, 1), "first_token": None, "total": None}
        response: dict = {
            "question": question, "answer": "", "refused": False, "citations": [], "recommendations": [],
            "variant": None, "model": self.model_label, "timings_ms": timings,
            "removed_markers": 0, "unsupported_sentences": [], "closest_topics": [], "library_versions":
                len(ret.version_ids), "gate": {"best_dense": round(ret.best_dense, 3),
                                               "coverage": round(ret.coverage, 3),
                                               "out_of_scope": lexicon.out_of_scope(question)},
        }
        response["retrieved"] = [
            {"chunk_id": h.chunk_id, "version_id": h.version_id, "doc_id": h.doc_id, "title": h.title,
             "kind": h.kind, "variant": h.variant, "score": round(h.score, 5), "bm25": round(h.bm25, 3),
             "dense": round(h.dense, 3)} for h in ret.hits[:20]]
        covered = self._covered(ret)
        response["gate"]["covered"] = covered
        if not covered:
            response["refused"] = True
            response["closest_topics"] = self._closest_topics(ret)
            response["answer"] = prompts.refusal_text(response["closest_topics"])
            timings["total"] = round((time.perf_counter() - t0) * 1000, 1)
            self._record(response, prompt="")
            return response

        ev = self._evidence(ret)
        if ev.variant_hit is not None:
            response["variant"] = {"doc_id": ev.variant_hit.doc_id, "title": ev.variant_hit.title,
                                   "version": ev.variant_hit.version, "number": ev.variant_hit.variant,
                                   "scenario": self._scenario(ev.variant_hit)}
            response["recommendations"] = self._recommendations(ev.variant_hit)

        focus = None
        if response["variant"]:
            ua = [x["procedure"] for x in response["recommendations"] if x["category"] == USUALLY_APPROPRIATE]
            focus = prompts.focus_text(1, response["variant"]["scenario"], ua)
        messages = prompts.build_messages(question, ev.passages, few_shot=self.settings.llm.few_shot,
                                          reasoning=self.settings.llm.reasoning, focus=focus)
        draft, first_token_ms = self._generate(messages, on_token, t0)
        timings["first_token"] = first_token_ms
        if self.settings.llm.self_check and draft.strip():
            checked = prompts.build_self_check(question, _without_reasoning(draft), ev.passages)
            draft, _ = self._generate(checked, None, t0)
        response["raw_answer"] = draft
        answer = _without_reasoning(draft)
        self._cite(response, answer, ev)
        timings["total"] = round((time.perf_counter() - t0) * 1000, 1)
        self._record(response, prompt=self._render_prompt(messages))
        return response

    # ------------------------------------------------------------------
    def _covered(self, ret: Retrieval) -> bool:
        """Does the library cover the question? Calibrated on corpora/sample/eval.jsonl (README)."""
        cfg = self.settings.retrieval
        if not ret.hits or lexicon.out_of_scope(ret.question):
            return False
        if lexicon.side_conflict(ret.expanded, ret.hits[0].title):
            return False  # "left lower quadrant pain" is not covered by "Right Lower Quadrant Pain"
        if ret.best_dense >= cfg.decisive_dense_score:
            return True
        if ret.coverage < cfg.min_coverage or ret.best_dense < cfg.min_dense_score:
            return False
        return ret.coverage >= cfg.confident_coverage or ret.best_dense >= cfg.confident_dense_score

    @staticmethod
    def _closest_topics(ret: Retrieval, n: int = 2) -> list[str]:
        titles: list[str] = []
        for h in sorted(ret.hits, key=lambda h: -h.dense):
            if h.title not in titles:
                titles.append(h.title)
            if len(titles) == n:
                break
        return titles

    def _evidence(self, ret: Retrieval) -> Evidence:
        """Passages for the model: the matched variant's table, the narrative about that variant,
        then other clinical passages of the same document; look-alike variants and reference
        sections stay out (a small model mixes them up)."""
        top_k = self.settings.retrieval.top_k
        top = ret.hits[0]
        variant_hit = next((h for h in ret.hits if h.kind == "variant" and h.version_id == top.version_id), None)
        chosen: list[Hit] = []
        if variant_hit is not None:
            chosen.append(variant_hit)
            same = [self.retriever.hit_for(r) for r in self.library.db.chunks([variant_hit.version_id])
                    if r["kind"] == "section" and r["variant"] == variant_hit.variant]
            chosen += same[: max(0, top_k - 2)]
            pool = [h for h in ret.hits if h.version_id == variant_hit.version_id and h.kind == "section"
                    and h.variant is None]
        else:
            pool = [h for h in ret.hits if h.kind != "reference"] or ret.hits
        seen = {h.chunk_id for h in chosen}
        for h in pool:
            if len(chosen) >= top_k:
                break
            if h.chunk_id not in seen:
                chosen.append(h)
                seen.add(h.chunk_id)
        passages = [prompts.Passage(key=i + 1, header=self._header(h), body=prompts.passage_body(h.text))
                    for i, h in enumerate(chosen)]
        return Evidence(passages=passages, hits=chosen, variant_hit=variant_hit)

    @staticmethod
    def _header(h: Hit) -> str:
        return h.text.split("\n", 1)[0]

    @staticmethod
    def _scenario(h: Hit) -> str:
        first = h.text.split("\n", 1)[0]
        return first.split(": ", 1)[1] if ": " in first else first

    def _recommendations(self, h: Hit) -> list[dict]:
        variants = {v.number: v for v in self.library.db.variants(h.version_id)}
        v = variants.get(h.variant)
        if v is None:
            return []
        order = {c: i for i, c in enumerate(CATEGORIES)}
        rows = sorted(v.rows, key=lambda r: order.get(r.category, len(order)))
        return [{"procedure": r.procedure, "category": r.category, "rating": r.rating, "rrl": r.rrl,
                 "comments": r.comments, "variant": v.number, "variant_text": v.scenario, "page": r.page,
                 "citation": 1} for r in rows]

    def _generate(self, messages: list[dict], on_token, t0: float) -> tuple[str, float | None]:
        from llama_index.core.llms import ChatMessage

        chat = [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
        text, first = "", None
        try:
            for chunk in self.llm.stream_chat(chat):
                delta = chunk.delta or ""
                if delta and first is None:
                    first = round((time.perf_counter() - t0) * 1000, 1)
                text += delta
                if on_token and delta:
                    on_token(delta)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - server down, bad model: one clear line
            raise ModelError(f"the language model failed ({self.model_label}): {exc}; check the llm settings "
                             "(`radguide config`) and that the model or server is available") from exc
        return text, first

    def _cite(self, response: dict, answer: str, ev: Evidence) -> None:
        valid = {p.key for p in ev.passages}
        answer, removed = citations.clean_markers(answer, valid)
        response["removed_markers"] = removed
        by_key = {p.key: h for p, h in zip(ev.passages, ev.hits)}
        page_cache: dict[str, dict[int, str]] = {}
        cites: dict[int, dict] = {}
        flagged: list[str] = []
        out_sentences: list[str] = []
        for sentence in citations.split_sentences(answer):
            keys = [k for k in citations.markers(sentence) if k in valid]
            supported = False
            for k in keys:
                if k not in cites:
                    cites[k] = self._citation(k, by_key[k], sentence, page_cache)
                supported = supported or (cites[k]["verified"]
                                          and citations.supports(sentence, by_key[k].text))
            if supported and citations.table_conflicts(sentence, response["recommendations"]):
                supported = False  # a claim the source table contradicts is never passed as supported
            if not supported:
                flagged.append(citations.strip_markers(sentence))
                sentence = sentence + " [unverified]"
            out_sentences.append(sentence)
        if ev.variant_hit is not None and 1 not in cites and response["recommendations"]:
            cites[1] = self._citation(1, by_key[1], self._table_sentence(response), page_cache)
        response["answer"] = " ".join(out_sentences)
        response["citations"] = [cites[k] for k in sorted(cites)]
        response["unsupported_sentences"] = flagged

    @staticmethod
    def _table_sentence(response: dict) -> str:
        first = response["recommendations"][0]
        return f"{first['procedure']} {first['category']}"

    def _pages(self, version_id: str, cache: dict) -> dict[int, str]:
        if version_id not in cache:
            rows = self.library.db.conn.execute(
                "SELECT number, text FROM pages WHERE version_id = ?", (version_id,)).fetchall()
            cache[version_id] = {r["number"]: r["text"] for r in rows}
        return cache[version_id]

    def _citation(self, key: int, h: Hit, sentence: str, cache: dict) -> dict:
        pages = self._pages(h.version_id, cache)
        if h.kind == "variant":
            v = {x.number: x for x in self.library.db.variants(h.version_id)}.get(h.variant)
            spans = [r.source_text for r in (v.rows if v else []) if r.source_text]
        else:
            spans = citations.candidate_spans(prompts.passage_body(h.text))
        quote = citations.best_span(sentence, spans) or (spans[0] if spans else "")
        in_range = {n: t for n, t in pages.items() if h.page_start <= n <= h.page_end} or pages
        page = citations.locate(quote, in_range) or citations.locate(quote, pages)
        verified = page is not None and citations.verify_at(quote, pages, page)
        return {"key": key, "doc_id": h.doc_id, "title": h.title, "source": h.source, "version": h.version,
                "version_id": h.version_id, "page": page if page is not None else h.page_start, "quote": quote,
                "verified": verified, "section": h.section, "variant": h.variant, "chunk_id": h.chunk_id}

    @staticmethod
    def _render_prompt(messages: list[dict]) -> str:
        return "\n\n".join(f"<{m['role']}>\n{m['content']}" for m in messages)

    def _record(self, response: dict, *, prompt: str) -> None:
        if self.audit is None:
            return
        response["audit_id"] = self.audit.record(response, prompt=prompt, retrieved=response["retrieved"])

    def close(self) -> None:
        self.library.close()
        if self.audit:
            self.audit.close()
