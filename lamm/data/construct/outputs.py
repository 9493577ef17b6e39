"""A build's outputs: the official meta files (2D per kind and unions, 3D union, val splits), the
rejects left open, and ``manifest.json`` (what was built from what, counts, rejects, LLM usage)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lamm.data.c4 import templates_sha256
from lamm.data.construct.jobs import Job
from lamm.data.construct.recipe import Recipe, SourceSpec
from lamm.data.construct.sources import Item
from lamm.data.construct.state import REJECTS, fingerprint, finished
from lamm.formats.jsonio import temp_path, write_json_official
from lamm.redact import redact

MANIFEST = "manifest.json"
FILES_2D = {
    "daily_dialogue": "daily_dialogue.json",
    "factual_knowledge": "factual_knowledge_dialogue.json",
    "detailed_description": "detailed_description.json",
    "vision_task": "vision_task_dialogue.json",
}
UNION_2D, UNION_3D = "LAMM_instruct.json", "LAMM_3dinstruct.json"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rewrite_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    tmp = temp_path(path)
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    os.replace(tmp, path)


def describe_source(recipe: Recipe, spec: SourceSpec, items: list[Item], files: list[Path]) -> dict[str, Any]:
    """What the manifest records of a source: its files' SHA-256 and sizes, and a hash of its media listing."""
    root = recipe.data_root
    listing = hashlib.sha256("\n".join(it.media for it in items).encode()).hexdigest()
    return {
        "name": spec.name, "type": spec.type, "root": spec.root.relative_to(root).as_posix() or ".",
        "items": len(items), "media_listing_sha256": listing,
        "files": [{"path": f.relative_to(root).as_posix() if root in f.parents else str(f),
                   "sha256": sha256_file(f), "bytes": f.stat().st_size} for f in files],
    }  # fmt: skip


def finalize(
    out: Path,
    recipe: Recipe,
    limit: int | None,
    jobs: list[Job],
    source_info: list,
    warnings: list[str],
    seconds: float,
    *,
    media_rejects: dict[str, dict[str, Any]],
    llm_usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """The build's outputs from its finished jobs, in job order: meta files (post-processed with the
    recipe seed), ``rejects.jsonl`` cut to the open rejects, and the manifest, which it returns."""
    from lamm.data.construct.postprocess import postprocess
    from lamm.data.construct.prompts import versions

    samples, rejects = finished(out)
    by_key = {j.key: j for j in jobs}
    accepted = sorted((by_key[k].seq, v) for k, v in samples.items() if k in by_key)
    records = [v["record"] for _, v in accepted]
    kinds = {id(v["record"]): by_key[v["key"]].kind for _, v in accepted}
    train, val, report = postprocess(records, recipe.post, recipe.seed)
    meta = out / "meta_file"
    written: dict[str, int] = {}

    def write(name: str, recs: list[dict]) -> None:
        if recs:
            write_json_official(meta / name, recs)
            written[f"meta_file/{name}"] = len(recs)

    for kind, name in FILES_2D.items():
        write(name, [r for r in train if "image" in r and kinds[id(r)] == kind])
    write(UNION_2D, [r for r in train if "image" in r])
    write(UNION_2D.replace(".json", "_val.json"), [r for r in val if "image" in r])
    write(UNION_3D, [r for r in train if "pcl" in r])
    write(UNION_3D.replace(".json", "_val.json"), [r for r in val if "pcl" in r])

    open_rejects = {
        k: v for k, v in rejects.items() if (k in by_key or k in media_rejects) and k not in samples
    }
    rewrite_jsonl(out / REJECTS, list(open_rejects.values()))  # no stale rows after a resume
    final_rej = [v for v in open_rejects.values() if v.get("final")]
    api_fail = [v for v in open_rejects.values() if not v.get("final")]
    reasons = Counter(v["reasons"][-1].split(":")[0] if v["reasons"] else "unknown" for v in final_rej)
    retried = Counter(r.split(":")[0] for _, v in accepted for r in v.get("retried", []))
    kept = train + val
    g = recipe.generator
    import lamm

    manifest = {
        "lamm_version": lamm.__version__, "python": platform.python_version(),
        "recipe": recipe.raw, "recipe_file": str(recipe.path), **fingerprint(recipe, limit),
        "seed": recipe.seed, "data_root": str(recipe.data_root),
        "generator": {
            "type": g.type,
            "note": "C1-C3 written by offline templates, no LLM (plainer text)" if g.type == "template" else "C1-C3 written by an LLM",
            "model": g.model if g.type == "llm" else None, "base_url": g.base_url if g.type == "llm" else None,
            "params": {k: v for k, v in asdict(g).items() if k not in ("type", "model", "base_url", "api_key_env")},
            "prompt_versions": versions() if g.type == "llm" else {"template": "t1"},
            "c4_templates_sha256": templates_sha256(),
        },
        "sources": source_info,
        "files": written,
        "counts": {
            "jobs": len(jobs), "accepted": len(records), "kept": len(kept), "train": len(train), "val": len(val),
            "by_task_type": dict(sorted(Counter(r["task_type"] for r in kept).items())),
            "by_source": dict(sorted(Counter(by_key[v["key"]].item.source for _, v in accepted).items())),
            "by_kind": dict(sorted(Counter(by_key[v["key"]].kind for _, v in accepted).items())),
            **report,
        },
        "rejects": {"file": REJECTS, "final": len(final_rej), "by_reason": dict(sorted(reasons.items())),
                    "api_failures_pending": len(api_fail), "retried_then_accepted": dict(sorted(retried.items()))},
        "llm_usage": llm_usage,
        "warnings": [redact(w) for w in warnings], "seconds": round(seconds, 3),
    }  # fmt: skip
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return manifest
