"""Resume safety for a build folder: ``build_state.json`` ties it to the recipe, limit and source files
it started with, so a ``--resume`` continues that build or refuses; finished jobs are read back by key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from lamm.data.construct.recipe import Recipe
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import iter_jsonl

SAMPLES, REJECTS, STATE = "samples.jsonl", "rejects.jsonl", "build_state.json"


def changed_settings(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """``key: old -> new`` for the settings that differ (None: the old build recorded none)."""
    if not old:
        return []

    def flat(d: Any, prefix: str = "") -> dict[str, Any]:
        if not isinstance(d, dict):
            return {prefix.rstrip("."): d}
        return {k: v for key, val in d.items() for k, v in flat(val, f"{prefix}{key}.").items()}

    a, b = flat(old), flat(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def fingerprint(recipe: Recipe, limit: int | None, legacy: bool = False) -> dict[str, Any]:
    """What the build's content depends on. Knobs that change speed or where the server runs, not
    content, may differ on --resume (a restarted server on another port: ``--base-url``); ``legacy``:
    the hash as lamm computed it before base_url was such a knob (builds started then resume)."""
    rec = recipe.to_json()
    speed = (
        "concurrency",
        "requests_per_minute",
        "tokens_per_minute",
        "timeout_s",
        "max_retries",
        "backoff_s",
    )
    for k in speed + (() if legacy else ("base_url", "api_key_env")):
        rec["generator"].pop(k, None)
    if legacy:
        rec["generator"]["api_key_env"] = "LAMM_API_KEY"
    rec["recipe"] = {k: v for k, v in rec["recipe"].items() if k != "generator"}
    blob = json.dumps({"recipe": rec, "limit": limit}, sort_keys=True, default=str)
    fp = {"recipe_sha256": hashlib.sha256(blob.encode()).hexdigest(), "limit": limit}
    if not legacy:
        fp["settings"] = {"generator": rec["generator"], "seed": rec["seed"], "post": rec["post"],
                          "sources": rec["recipe"].get("sources"), "limit": limit}  # fmt: skip
    return fp


def prepare_out(out: Path, recipe: Recipe, limit: int | None, resume: bool) -> None:
    """Start or resume a build in ``out``: refuses a folder holding another build, or one whose recipe,
    limit or content settings changed (it names each changed setting)."""
    out.mkdir(parents=True, exist_ok=True)
    state_path, fp = out / STATE, fingerprint(recipe, limit)
    started = (out / SAMPLES).exists() or (out / REJECTS).exists()
    if started and not resume:
        raise FormatError(out, "holds an earlier build; pass --resume to continue it or choose another --out")
    kept: dict[str, Any] = {}
    if started and state_path.is_file():
        old = json.loads(state_path.read_text("utf-8"))
        kept = {k: old[k] for k in ("source_files",) if k in old}  # checked once the sources load
        same = old.get("recipe_sha256") == fp["recipe_sha256"]
        if "settings" not in old:
            same = old == fingerprint(recipe, limit, legacy=True)
        if not same:
            changed = changed_settings(old.get("settings"), fp["settings"]) or ["the recipe"]
            raise FormatError(
                out,
                f"changed since the build in this folder: {'; '.join(changed)} (a resume must produce what the "
                "build started; --base-url, --concurrency, --rpm/--tpm may change); use a new --out",
            )
    state_path.write_text(json.dumps({**fp, **kept}, indent=2), "utf-8")


def check_sources(out: Path, source_info: list[dict[str, Any]]) -> None:
    """A resume refuses source files (annotations) whose contents changed since the build started:
    its finished samples were made from the old ones. The first run records their SHA-256."""
    state_path = out / STATE
    state = json.loads(state_path.read_text("utf-8"))
    files = {s["name"]: {f["path"]: f["sha256"] for f in s["files"]} for s in source_info}
    old = state.get("source_files")
    if old is not None and old != files:
        changed = [
            f"{name}: {path}"
            for name in sorted(set(old) | set(files))
            for path in sorted(set(old.get(name, {})) | set(files.get(name, {})))
            if old.get(name, {}).get(path) != files.get(name, {}).get(path)
        ] or ["the sources"]
        raise FormatError(
            out,
            f"source files changed since the build in this folder: {', '.join(changed)} (a resume must "
            "produce what the build started); use a new --out",
        )
    state["source_files"] = files
    state_path.write_text(json.dumps(state, indent=2), "utf-8")


def finished(out: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """The finished jobs by key: accepted samples and rejects (a --resume skips final ones)."""
    samples: dict[str, dict] = {}
    rejects: dict[str, dict] = {}
    if (out / SAMPLES).exists():
        for rec in iter_jsonl(out / SAMPLES):
            samples[rec["key"]] = rec
    if (out / REJECTS).exists():
        for rec in iter_jsonl(out / REJECTS):
            rejects[rec["key"]] = rec
    return samples, rejects
