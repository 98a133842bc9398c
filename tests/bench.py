"""`make bench`: speed and memory, each as a ratio against a baseline measured in the same run.

- Ingestion (sample library, and a synthetic library of 200+ ACR-layout topics): the whole
  pipeline (parse, chunk, embed, store, commit) against the raw sentence-transformers encode
  time of the very same chunk texts. Target: at most 1.3x. Re-ingest of the unchanged
  library against the first ingest. Target: under 5%.
- Answering (sample questions, default model): retrieval latency and time to first token
  against the plain llama-index recipe (VectorStoreIndex, top-2) with the same models.

Results go to stdout and bench-results/bench.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "corpora"))


def _synthetic_library(folder: Path, n_topics: int) -> Path:
    """ACR-layout PDFs made from the sample sources with new titles and reshuffled tables."""
    import build_sample

    topics = [build_sample.load_topic(p) for p in build_sample.source_paths()]
    for i in range(n_topics):
        base = topics[i % len(topics)]
        variants = []
        for v in base.variants:
            shift = i % max(1, len(v.rows))
            rows = v.rows[shift:] + v.rows[:shift]
            variants.append(dataclasses.replace(v, rows=rows, scenario=f"{v.scenario} Cohort {i}."))
        t = dataclasses.replace(base, title=f"{base.title} Synthetic {i:03d}", variants=variants,
                                path=folder / f"synthetic_{i:03d}.toml")
        pdf, _ = build_sample.render(t)
        (folder / f"synthetic_{i:03d}.pdf").write_bytes(pdf)
    return folder


def _warm_up(encode) -> None:
    """The first encodes of each padded length run slower (allocator, kernel choice); both the
    pipeline's encoder and the raw one get the same warm-up before their clocks start."""
    encode([("lorem ipsum dolor sit amet " * k)[: k * 30] for k in (2, 8, 24, 64) for _ in range(32)])


def bench_ingest(name: str, corpus: Path, rounds: int) -> dict:
    """Whole-pipeline ingest against the raw encode of the same texts, in alternating rounds
    (ingest, encode, ingest, encode, ...) so that slow and fast spells of a shared machine fall
    on both sides; the ratio is total ingest time over total raw encode time."""
    from sentence_transformers import SentenceTransformer

    from assistant.backends import embed_documents
    from assistant.library import Library
    from assistant.models import embedding_dir
    from assistant.settings import load_settings
    from ingest.pipeline import ingest_paths

    def fresh_library() -> Library:
        lib = Library(load_settings(home=Path(tempfile.mkdtemp(prefix=f"radguide-bench-{name}-"))))
        lib.vector_store  # noqa: B018 - opened before the clock starts, as the raw encoder is loaded
        return lib

    lib = fresh_library()
    embed_model = lib.embed_model
    _warm_up(lambda t: embed_documents(embed_model, t))
    cfg = lib.settings.embedding
    model = SentenceTransformer(str(cfg.model_path or embedding_dir()), device="cpu")
    model.max_seq_length = cfg.max_seq_length
    _warm_up(lambda t: model.encode(t, batch_size=cfg.batch_size))

    ingest_times, raw_times = [], []
    first_lib = rep = texts = None
    for r in range(rounds):
        if r:
            lib = fresh_library()
            lib.embed_model = embed_model  # the same loaded model, not a second copy
        t0 = time.perf_counter()
        rep_r = ingest_paths(lib, [corpus], progress=False)
        ingest_times.append(time.perf_counter() - t0)
        assert rep_r["failed"] == 0, [d["error"] for d in rep_r["documents"] if d["error"]]
        if r == 0:
            first_lib, rep = lib, rep_r
            texts = [row["embed_text"] for row in lib.db.chunks(lib.current_version_ids())]
        t0 = time.perf_counter()
        model.encode(texts, batch_size=cfg.batch_size, normalize_embeddings=True)
        raw_times.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    rep2 = ingest_paths(first_lib, [corpus], progress=False)
    again = time.perf_counter() - t0
    assert rep2["unchanged"] == rep["added"]

    first, raw = statistics.mean(ingest_times), statistics.mean(raw_times)
    ratio = sum(ingest_times) / sum(raw_times)
    pages = sum(d["pages"] for d in rep["documents"])
    return {
        "library": name, "documents": rep["added"], "pages": pages, "chunks": len(texts), "rounds": rounds,
        "ingest_s": round(first, 2), "pages_per_s": round(pages / first, 1), "chunks_per_s": round(len(texts) / first, 1),
        "raw_encode_s": round(raw, 2), "ingest_vs_raw_encode": round(ratio, 3),
        "ingest_vs_raw_encode_by_round": [round(i / w, 3) for i, w in zip(ingest_times, raw_times)],
        "reingest_s": round(again, 3), "reingest_vs_first": round(again / first, 4),
        "targets_met": {"ingest_vs_raw_encode<=1.3": ratio <= 1.3, "reingest<5%": again / first < 0.05},
    }


def bench_answer(n_questions: int) -> dict:
    from assistant.engine import Engine
    from assistant.evaluation import Baseline, load_questions
    from assistant.library import Library
    from assistant.settings import load_settings
    from ingest.pipeline import ingest_paths

    home = Path(tempfile.mkdtemp(prefix="radguide-bench-answer-"))
    settings = load_settings(home=home, overrides={"audit": {"enabled": False}})
    ingest_paths(Library(settings), [REPO / "corpora" / "sample"], progress=False)
    questions = [q for q in load_questions(REPO / "corpora" / "sample" / "eval.jsonl")
                 if not q["expect"].get("refuse")][:n_questions]
    engine = Engine(settings)
    engine.llm  # noqa: B018 - load the model outside the timings
    ours = [engine.ask(q["question"])["timings_ms"] for q in questions]
    retrieval_only = []
    for q in questions:
        t0 = time.perf_counter()
        engine.retriever.retrieve(q["question"])
        retrieval_only.append((time.perf_counter() - t0) * 1000)
    base = Baseline(engine)
    theirs = [base.row(q)["timings_ms"] for q in questions]

    def p50(xs):
        xs = [x for x in xs if x is not None]
        return round(statistics.median(xs), 1) if xs else None

    out = {
        "questions": len(questions), "model": engine.model_label,
        "retrieval_ms_p50": p50(retrieval_only), "baseline_retrieval_ms_p50": p50([t["retrieval"] for t in theirs]),
        "first_token_ms_p50": p50([t["first_token"] for t in ours]),
        "baseline_first_token_ms_p50": p50([t["first_token"] for t in theirs]),
        "total_ms_p50": p50([t["total"] for t in ours]), "baseline_total_ms_p50": p50([t["total"] for t in theirs]),
    }
    out["first_token_vs_baseline"] = round(out["first_token_ms_p50"] / out["baseline_first_token_ms_p50"], 3)
    out["retrieval_vs_baseline"] = round(out["retrieval_ms_p50"] / out["baseline_retrieval_ms_p50"], 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--topics", type=int, default=200, help="synthetic library size")
    ap.add_argument("--questions", type=int, default=12, help="questions for the answering benchmark")
    ap.add_argument("--rounds", type=int, default=2, help="alternating ingest/encode rounds per library "
                    "(the sample library gets twice as many)")
    ap.add_argument("--skip-answer", action="store_true")
    args = ap.parse_args(argv)
    results: dict = {"ingest": []}
    results["ingest"].append(bench_ingest("sample", REPO / "corpora" / "sample", args.rounds * 2))
    print(json.dumps(results["ingest"][-1]), flush=True)
    with tempfile.TemporaryDirectory(prefix="radguide-synthetic-") as tmp:
        t0 = time.perf_counter()
        _synthetic_library(Path(tmp), args.topics)
        print(f"synthetic library of {args.topics} topics generated in {time.perf_counter() - t0:.0f}s", flush=True)
        results["ingest"].append(bench_ingest(f"synthetic-{args.topics}", Path(tmp), args.rounds))
        print(json.dumps(results["ingest"][-1]), flush=True)
    if not args.skip_answer:
        results["answer"] = bench_answer(args.questions)
        print(json.dumps(results["answer"]), flush=True)
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out = REPO / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "bench.json").write_text(json.dumps(results, indent=2))
    print(render(results))
    return 0


def render(r: dict) -> str:
    lines = ["", f"{'library':16}{'docs':>6}{'pages':>7}{'chunks':>8}{'pages/s':>9}{'chunks/s':>10}"
                 f"{'ingest s':>10}{'raw enc s':>11}{'ratio':>7}{'re-ingest':>11}"]
    for i in r["ingest"]:
        lines.append(f"{i['library']:16}{i['documents']:>6}{i['pages']:>7}{i['chunks']:>8}{i['pages_per_s']:>9}"
                     f"{i['chunks_per_s']:>10}{i['ingest_s']:>10}{i['raw_encode_s']:>11}"
                     f"{i['ingest_vs_raw_encode']:>7}{i['reingest_vs_first'] * 100:>10.2f}%"
                     f"   rounds {min(i['ingest_vs_raw_encode_by_round'])}-{max(i['ingest_vs_raw_encode_by_round'])}")
    if "answer" in r:
        a = r["answer"]
        lines.append(f"answering ({a['questions']} questions, {a['model']}): retrieval p50 {a['retrieval_ms_p50']} ms "
                     f"(baseline {a['baseline_retrieval_ms_p50']} ms), first token p50 {a['first_token_ms_p50']} ms "
                     f"(baseline {a['baseline_first_token_ms_p50']} ms, ratio {a['first_token_vs_baseline']})")
    lines.append(f"peak RSS {r['peak_rss_mb']} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
