"""The CLI's commands: each takes the settings and parsed args, prints, returns an exit code."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from assistant import models
from assistant.cli import _print_json
from assistant.errors import ConfigError, LibraryError
from assistant.settings import Settings, describe

RRL_WIDTH = 6


def cmd_config(settings: Settings, args) -> int:
    data = json.loads(settings.model_dump_json())
    if args.json:
        _print_json(data)
        return 0
    desc = dict(describe())

    def walk(node, prefix=""):
        for k, v in node.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                name = f"{prefix}{k}"
                print(f"{name:32} = {json.dumps(v)}    # {desc.get(name, '')}")

    walk(data)
    return 0


def cmd_models(settings: Settings, args) -> int:
    from assistant import backends

    if args.assemble:
        for spec in models.GGUF_MODELS.values():
            models.assemble(spec, settings.paths.model_cache)
    rows = models.status(settings.paths.model_cache)
    active = {"llm_backend": settings.llm.backend, "llm": backends.llm_label(settings),
              "llm_path": str(settings.llm.model_path) if settings.llm.model_path else None,
              "embedding_path": str(settings.embedding.model_path) if settings.embedding.model_path else None}
    if settings.llm.model_path:
        p = settings.llm.model_path
        rows.append({"name": p.name, "kind": "llm", "description": "configured llm.model_path",
                     "path": str(p), "size_bytes": p.stat().st_size if p.is_file() else None,
                     "sha256_expected": None, "checksum": "present" if p.is_file() else "MISSING"})
    if args.json:
        _print_json({"active": active, "models": rows})
        return 0
    print(f"active llm: {active['llm']} ({settings.llm.backend})")
    for r in rows:
        size = f"{r['size_bytes'] / 1e6:,.0f} MB" if r["size_bytes"] else "-"
        print(f"  {r['kind']:9} {r['name']:40} {size:>9}  {r['checksum']:14} {r['path']}")
    return 0 if all(r["checksum"] != "MISMATCH" for r in rows) else 1


def _library(settings: Settings):
    from assistant.library import Library

    return Library(settings)


def cmd_ingest(settings: Settings, args) -> int:
    from ingest.diff import render
    from ingest.pipeline import ingest_paths

    lib = _library(settings)
    if args.if_empty and lib.db.versions(include_superseded=True, include_retired=True):
        if not args.json:
            print(f"library in {settings.home} already holds documents; nothing ingested")
        return 0
    if args.doc_id and len(args.paths) != 1:
        raise ConfigError("--doc-id names one document; pass exactly one file with it")
    report = ingest_paths(lib, args.paths, dry_run=args.dry_run, doc_id=args.doc_id)
    if args.json:
        _print_json(report)
    else:
        for d in report["documents"]:
            mark = {"added": "+", "updated": "~", "unchanged": "=", "failed": "!"}[d["status"]]
            if d["status"] == "failed":
                print(f"{mark} {d['source']}: {d['error']}")
                continue
            print(f"{mark} {d['status']:9} {d['title']} ({d['version']}) — {d['pages']} pages, "
                  f"{d['variants']} variants, {d['chunks']} chunks [{d['source']}]")
            for w in d["warnings"]:
                print(f"    warning: {w}")
            if d.get("diff") is not None:
                for line in render(d["diff"]):
                    print(f"    {line}")
        verb = "would be" if args.dry_run else ""
        print(f"{report['added']} added, {report['updated']} updated, {report['unchanged']} unchanged, "
              f"{report['failed']} failed {verb}".rstrip())
    return 1 if report["failed"] else 0


def _docs_rows(lib, include_all: bool) -> list[dict]:
    out = []
    for v in lib.db.versions(include_superseded=include_all, include_retired=include_all):
        out.append({"doc_id": v["doc_id"], "title": v["title"], "version": v["version"], "status": v["status"],
                    "source": v["source"], "sha256": v["sha256"], "pages": v["pages"], "chunks": v["chunks"],
                    "variants": v["variants"], "kind": v["kind"], "version_id": v["version_id"],
                    "ingested_at": datetime.fromtimestamp(v["ingested_at"], timezone.utc).isoformat(
                        timespec="seconds"),
                    "warnings": json.loads(v["warnings"])})
    return out


def cmd_docs(settings: Settings, args) -> int:
    lib = _library(settings)
    rows = _docs_rows(lib, args.all)
    if args.json:
        _print_json({"documents": rows})
        return 0
    if not rows:
        print(f"the library in {settings.home} is empty; add guidelines with `radguide ingest PATH`")
        return 0
    for r in rows:
        print(f"{r['doc_id']:45} {r['version']:28} {r['status']:10} {r['pages']:>3}p {r['variants']:>2}v "
              f"{r['chunks']:>3}c  {r['source']}")
    print(f"{len({r['doc_id'] for r in rows})} documents")
    return 0


def cmd_remove(settings: Settings, args) -> int:
    lib = _library(settings)
    if lib.db.document(args.doc_id) is None:
        raise LibraryError(f"no document {args.doc_id!r} in the library; see `radguide docs` for ids")
    n = lib.db.retire(args.doc_id)
    if args.json:
        _print_json({"doc_id": args.doc_id, "retired": n})
    else:
        print(f"retired {args.doc_id}" if n else f"{args.doc_id} had no current version; nothing changed")
    return 0


def cmd_diff(settings: Settings, args) -> int:
    from ingest.diff import diff_variants, render

    lib = _library(settings)
    versions = lib.db.versions(include_superseded=True, include_retired=True, doc_id=args.doc_id)
    if not versions:
        raise LibraryError(f"no document {args.doc_id!r} in the library; see `radguide docs` for ids")
    versions = sorted(versions, key=lambda v: v["ingested_at"])
    if len(versions) < 2:
        raise LibraryError(f"{args.doc_id} has one version ({versions[0]['version']}); ingest a newer version "
                           "of it to compare")
    old, new = versions[-2], versions[-1]
    # The current version is the "new" side even if an older file was ingested later.
    current = [v for v in versions if v["status"] == "current"]
    if current and current[0]["version_id"] != new["version_id"]:
        new = current[0]
        old = next(v for v in reversed(versions) if v["version_id"] != new["version_id"])
    d = diff_variants(lib.db.variants(old["version_id"]), lib.db.variants(new["version_id"]))
    data = {"doc_id": args.doc_id, "from": {"version": old["version"], "version_id": old["version_id"]},
            "to": {"version": new["version"], "version_id": new["version_id"]}, **d}
    if args.json:
        _print_json(data)
    else:
        print(f"{new['title']}: {old['version']} -> {new['version']}")
        for line in render(d):
            print(f"  {line}")
    return 0


def render_answer(r: dict) -> str:
    """The readable answer, as in ANSWER_EXAMPLE.md."""
    lines: list[str] = []
    if r["refused"]:
        return r["answer"]
    v = r.get("variant")
    if v:
        lines.append(f"{v['title']} — {v['version']}")
        lines.append(f"Variant {v['number']}: {v['scenario']}")
        lines.append("")
        width = max(len(rec["procedure"]) for rec in r["recommendations"]) if r["recommendations"] else 0
        for rec in r["recommendations"]:
            cat = rec["category"] + (f" ({rec['rating']})" if rec.get("rating") is not None else "")
            lines.append(f"  {cat:36} {rec['procedure']:{width}}  {rec['rrl'] or '-':{RRL_WIDTH}} [{rec['citation']}]")
        lines.append("")
    lines.append(r["answer"])
    lines.append("")
    for c in r["citations"]:
        mark = "✓ verified" if c["verified"] else "✗ NOT verified"
        where = f"Variant {c['variant']} table" if c.get("section", "").endswith("table") else c.get("section", "")
        lines.append(f"[{c['key']}] {c['title']} ({c['version']}), p. {c['page']}, {where}    {mark}")
        lines.append(f"    \"{c['quote']}\"")
    t = r["timings_ms"]
    ft = f"{t['first_token'] / 1000:.1f} s" if t.get("first_token") else "-"
    extra = f" · audit #{r['audit_id']}" if r.get("audit_id") else ""
    lines.append("")
    lines.append(f"model {r['model']} · retrieval {t['retrieval']:.0f} ms · first token {ft} · "
                 f"total {t['total'] / 1000:.1f} s{extra}")
    if r.get("removed_markers"):
        lines.append(f"{r['removed_markers']} citation marker(s) naming no passage were removed")
    return "\n".join(lines)


def cmd_ask(settings: Settings, args) -> int:
    from assistant.engine import Engine

    engine = Engine(settings)
    r = engine.ask(args.question, doc_ids=args.docs, topic=args.topic)
    if args.json:
        _print_json(r)
    else:
        print(render_answer(r))
    return 0


def cmd_eval(settings: Settings, args) -> int:
    from assistant.evaluation import render_report, run_eval

    report = run_eval(settings, args.file, baseline=not args.no_baseline, limit=args.limit)
    if args.json:
        _print_json(report)
    else:
        print(render_report(report))
    return 0


def cmd_ui(settings: Settings, args) -> int:
    import streamlit  # noqa: F401 - fail early with a clear message if missing

    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    port = args.port or settings.ui.port
    env = dict(os.environ)
    env["RADGUIDE_HOME"] = str(settings.home)
    if args.config:
        env["RADGUIDE_CONFIG"] = str(args.config)
    for item in args.set:  # --set section.name=value reaches the app as RADGUIDE_SECTION__NAME
        key, value = item.split("=", 1)
        env["RADGUIDE_" + "__".join(part.upper() for part in key.strip().split("."))] = value
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", settings.ui.address,
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--global.developmentMode", "false"]
    print(f"radguide UI: http://{settings.ui.address}:{port}", flush=True)
    return subprocess.call(cmd, env=env)
