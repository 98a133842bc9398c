"""What changed between two versions of a guideline: variants added or removed,
procedures added or removed, category, rating and radiation-level changes."""
from __future__ import annotations

import re

from assistant.records import Variant


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _match_variants(old: list[Variant], new: list[Variant]) -> list[tuple[Variant | None, Variant | None]]:
    """Pair variants by scenario text (numbers shift when a variant is inserted), then by number."""
    pairs: list[tuple[Variant | None, Variant | None]] = []
    old_left = {_norm(v.scenario): v for v in old}
    unmatched_new: list[Variant] = []
    for v in new:
        hit = old_left.pop(_norm(v.scenario), None)
        if hit is not None:
            pairs.append((hit, v))
        else:
            unmatched_new.append(v)
    by_number = {v.number: v for v in old_left.values()}
    for v in unmatched_new:
        hit = by_number.pop(v.number, None)
        # Same number but a different scenario counts as the same variant only when most words agree.
        if hit is not None and _similar(hit.scenario, v.scenario):
            pairs.append((hit, v))
        else:
            if hit is not None:
                by_number[hit.number] = hit
            pairs.append((None, v))
    pairs.extend((v, None) for v in by_number.values())
    return pairs


def _similar(a: str, b: str) -> bool:
    wa, wb = set(_norm(a).split()), set(_norm(b).split())
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) >= 0.6


def diff_variants(old: list[Variant], new: list[Variant]) -> dict:
    """A structured diff; empty lists everywhere mean no change."""
    out: dict = {"variants_added": [], "variants_removed": [], "variants_changed": []}
    for a, b in _match_variants(old, new):
        if a is None:
            out["variants_added"].append({"variant": b.number, "scenario": b.scenario,
                                          "procedures": [r.procedure for r in b.rows]})
            continue
        if b is None:
            out["variants_removed"].append({"variant": a.number, "scenario": a.scenario})
            continue
        rows_a = {_norm(r.procedure): r for r in a.rows}
        rows_b = {_norm(r.procedure): r for r in b.rows}
        change = {
            "variant": b.number,
            "old_variant": a.number,
            "scenario": b.scenario,
            "procedures_added": [rows_b[k].procedure for k in rows_b if k not in rows_a],
            "procedures_removed": [rows_a[k].procedure for k in rows_a if k not in rows_b],
            "category_changes": [],
            "rrl_changes": [],
            "rating_changes": [],
        }
        if _norm(a.scenario) != _norm(b.scenario):
            change["scenario_changed"] = {"from": a.scenario, "to": b.scenario}
        for k in rows_a.keys() & rows_b.keys():
            ra, rb = rows_a[k], rows_b[k]
            if ra.category != rb.category:
                change["category_changes"].append({"procedure": rb.procedure, "from": ra.category, "to": rb.category})
            if (ra.rrl or "") != (rb.rrl or ""):
                change["rrl_changes"].append({"procedure": rb.procedure, "from": ra.rrl, "to": rb.rrl})
            if ra.rating != rb.rating:
                change["rating_changes"].append({"procedure": rb.procedure, "from": ra.rating, "to": rb.rating})
        for key in ("category_changes", "rrl_changes", "rating_changes"):
            change[key].sort(key=lambda c: c["procedure"])
        if any(change[k] for k in ("procedures_added", "procedures_removed", "category_changes", "rrl_changes",
                                   "rating_changes")) or "scenario_changed" in change:
            out["variants_changed"].append(change)
    out["variants_changed"].sort(key=lambda c: c["variant"])
    return out


def is_empty(diff: dict) -> bool:
    return not (diff["variants_added"] or diff["variants_removed"] or diff["variants_changed"])


def render(diff: dict) -> list[str]:
    """Readable lines for people."""
    lines: list[str] = []
    for v in diff["variants_added"]:
        lines.append(f"+ Variant {v['variant']} added: {v['scenario']}")
    for v in diff["variants_removed"]:
        lines.append(f"- Variant {v['variant']} removed: {v['scenario']}")
    for c in diff["variants_changed"]:
        label = f"Variant {c['variant']}" + (f" (was {c['old_variant']})" if c["old_variant"] != c["variant"] else "")
        lines.append(f"~ {label}: {c['scenario']}")
        if "scenario_changed" in c:
            lines.append(f"    scenario: {c['scenario_changed']['from']!r} -> {c['scenario_changed']['to']!r}")
        lines += [f"    + {p}" for p in c["procedures_added"]]
        lines += [f"    - {p}" for p in c["procedures_removed"]]
        lines += [f"    category  {x['procedure']}: {x['from']} -> {x['to']}" for x in c["category_changes"]]
        lines += [f"    rating    {x['procedure']}: {x['from']} -> {x['to']}" for x in c["rating_changes"]]
        lines += [f"    radiation {x['procedure']}: {x['from'] or '-'} -> {x['to'] or '-'}" for x in c["rrl_changes"]]
    return lines or ["no changes in the variant tables"]
