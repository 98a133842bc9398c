"""`radguide` command line. Every command has a readable form and `--json`.

Expected failures (RadguideError) become one line on stderr and exit code 1.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from assistant.errors import RadguideError
from assistant.settings import load_settings


def _parse_set(items: list[str]) -> dict[str, Any]:
    """--set llm.backend=openai --set retrieval.top_k=4 -> nested dict."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise RadguideError(f"--set {item!r} needs the form section.name=value, e.g. --set llm.max_tokens=128")
        key, value = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="radguide", description="Offline radiology guideline assistant.")
    p.add_argument("--home", help="data dir (library and audit log); env RADGUIDE_HOME")
    p.add_argument("--config", help="settings file (TOML); default <home>/radguide.toml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set llm.backend=openai (repeatable)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("config", help="print the effective settings").add_argument("--json", action="store_true")

    m = sub.add_parser("models", help="show the configured models, paths, sizes and checksums")
    m.add_argument("--json", action="store_true")
    m.add_argument("--assemble", action="store_true", help="assemble bundled models into the cache")

    i = sub.add_parser("ingest", help="add or update guideline files (PDF, Markdown, HTML, text) or folders")
    i.add_argument("paths", nargs="+", type=Path)
    i.add_argument("--json", action="store_true")
    i.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    i.add_argument("--doc-id", help="explicit document id (one document per call)")
    i.add_argument("--if-empty", action="store_true", help="only ingest when the library has no documents")

    d = sub.add_parser("docs", help="list the library")
    d.add_argument("--json", action="store_true")
    d.add_argument("--all", action="store_true", help="include superseded and retired versions")

    r = sub.add_parser("remove", help="retire a document (kept for audit, out of retrieval)")
    r.add_argument("doc_id")
    r.add_argument("--json", action="store_true")

    df = sub.add_parser("diff", help="what changed between the two latest versions of a document")
    df.add_argument("doc_id")
    df.add_argument("--json", action="store_true")

    a = sub.add_parser("ask", help="ask a clinical question")
    a.add_argument("question")
    a.add_argument("--json", action="store_true")
    a.add_argument("--doc", action="append", dest="docs", help="only this document id (repeatable)")
    a.add_argument("--topic", help="only documents whose title contains this text")

    e = sub.add_parser("eval", help="run a question set and report retrieval, answer and citation quality")
    e.add_argument("file", type=Path)
    e.add_argument("--json", action="store_true")
    e.add_argument("--no-baseline", action="store_true", help="skip the plain llama-index baseline")
    e.add_argument("--limit", type=int, help="only the first N questions")

    u = sub.add_parser("ui", help="start the Streamlit chat UI")
    u.add_argument("--port", type=int)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("chromadb", "httpx", "sentence_transformers", "transformers", "urllib3", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING if args.verbose else logging.ERROR)
    from assistant.backends import offline_guard

    offline_guard()
    try:
        settings = load_settings(home=args.home, config=args.config, overrides=_parse_set(args.set))
        from assistant import commands

        return int(getattr(commands, f"cmd_{args.command}")(settings, args) or 0)
    except RadguideError as exc:
        print(f"radguide: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("radguide: interrupted", file=sys.stderr)
        return 130


def run() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
