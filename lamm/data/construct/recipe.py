"""Build recipes: a YAML file naming sources, what to produce from each, the generator and a seed.

``data_root`` is relative to the recipe file; source ``root``s are relative to ``data_root`` and must stay
inside it; the written ``image`` / ``pcl`` paths are relative to ``data_root`` (the training media root).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lamm.formats.errors import FormatError

# Conversation kinds (paper C1-C3) -> official task_type (2D; 3D appends "3d").
KINDS = {
    "daily_dialogue": "conversation",  # C1
    "factual_knowledge": "commomsenseqa",  # C2 (official spelling)
    "detailed_description": "description",  # C3
}
KIND_ALIASES = {"c1": "daily_dialogue", "c2": "factual_knowledge", "c3": "detailed_description"}
GENERATORS = ("template", "llm")


@dataclass
class GeneratorSpec:
    """How C1-C3 are written. ``template`` needs no API; ``llm`` calls an OpenAI-compatible server."""

    type: str = "template"
    model: str = ""
    base_url: str = ""
    # set by --api-key-env only (a recipe could send any secret to its base_url); None: LAMM_API_KEY, then
    # OPENAI_API_KEY. The key itself is never stored.
    api_key_env: str | None = None
    concurrency: int = 8
    requests_per_minute: float = 0.0  # 0 = unlimited
    tokens_per_minute: float = 0.0
    max_retries: int = 6  # per HTTP call, on 429 / 5xx / timeouts / malformed bodies
    format_retries: int = 2  # extra samples (new seed) when a reply fails validation
    timeout_s: float = 120.0
    backoff_s: float = 1.0  # first retry delay; doubles each time (jitter added), capped at 60 s
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1024
    price_input_per_1m: float = 0.0  # currency units per million prompt tokens, for cost accounting
    price_output_per_1m: float = 0.0


@dataclass
class SourceSpec:
    name: str
    type: str
    root: Path  # absolute
    produce: dict[str, Any]  # kind -> count | "all" | fraction;  vision_task -> {task: count}
    options: dict[str, Any] = field(default_factory=dict)

    def path(self, key: str, default: str | None = None, *, required: bool = True) -> Path | None:
        """An option naming a file/folder, resolved against the source root."""
        value = self.options.get(key, default)
        if value is None:
            if required:
                raise FormatError(None, f"source {self.name!r} ({self.type}) needs option {key!r}")
            return None
        return (self.root / str(value)).resolve()


@dataclass
class PostSpec:
    dedup: bool = True
    min_chars: int = 1  # per gpt turn
    max_chars: int = 4000  # per turn
    language: str = "en"  # "en" keeps mostly-Latin text; "" turns the filter off
    shuffle: bool = True
    val_ratio: float = 0.0  # fraction of media (images / point clouds) held out, all their samples


@dataclass
class Recipe:
    name: str
    seed: int
    data_root: Path
    sources: list[SourceSpec]
    generator: GeneratorSpec
    post: PostSpec
    path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        gen = asdict(self.generator)
        return {"name": self.name, "seed": self.seed, "generator": gen, "post": asdict(self.post),
                "recipe": self.raw}  # fmt: skip


def _fields(cls: type) -> set[str]:
    return set(cls.__dataclass_fields__)


def _check_count(where: str, value: Any, path: Path) -> None:
    ok = value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
    ok = ok or (isinstance(value, float) and 0.0 <= value <= 1.0)
    if not ok:
        raise FormatError(
            path, f"{where}: count must be an integer >= 0, a fraction in [0, 1] or 'all', got {value!r}"
        )


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate a recipe; errors name the file and the offending key."""
    from lamm.data.c4.builders import BUILDERS
    from lamm.data.construct.sources import SOURCE_TYPES

    path = Path(path).resolve()
    if not path.is_file():
        raise FormatError(path, "recipe file not found")
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise FormatError(path, f"malformed YAML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:  # unreadable, or not text (a binary file)
        raise FormatError(path, f"cannot read the recipe ({exc.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise FormatError(path, "a recipe must be a mapping")
    unknown = set(raw) - {"name", "seed", "data_root", "sources", "generator", "postprocess"}
    if unknown:
        raise FormatError(path, f"unknown top-level keys {sorted(unknown)}")
    base = path.parent
    data_root = (base / str(raw.get("data_root", "."))).resolve()

    gen_raw = raw.get("generator", {}) or {}
    if isinstance(gen_raw, str):
        gen_raw = {"type": gen_raw}
    if "api_key_env" in gen_raw:
        raise FormatError(
            path,
            "generator.api_key_env: a recipe cannot choose which environment variable is sent as the API key "
            "(it could send any secret to its base_url); remove it and set LAMM_API_KEY or OPENAI_API_KEY, "
            "or name the variable with --api-key-env NAME",
        )
    bad = set(gen_raw) - _fields(GeneratorSpec)
    if bad:
        raise FormatError(path, f"generator: unknown keys {sorted(bad)}")
    gen = GeneratorSpec(**gen_raw)
    if gen.type not in GENERATORS:
        raise FormatError(path, f"generator.type must be one of {GENERATORS}, got {gen.type!r}")
    if gen.concurrency < 1:
        raise FormatError(path, "generator.concurrency must be >= 1")

    post_raw = raw.get("postprocess", {}) or {}
    bad = set(post_raw) - _fields(PostSpec)
    if bad:
        raise FormatError(path, f"postprocess: unknown keys {sorted(bad)}")
    post = PostSpec(**post_raw)
    if not 0.0 <= post.val_ratio < 1.0:
        raise FormatError(path, "postprocess.val_ratio must be in [0, 1)")

    sources: list[SourceSpec] = []
    src_list = raw.get("sources")
    if not isinstance(src_list, list) or not src_list:
        raise FormatError(path, "sources: need a non-empty list")
    names: set[str] = set()
    for i, s in enumerate(src_list):
        where = f"sources[{i}]"
        if not isinstance(s, dict) or "type" not in s:
            raise FormatError(path, f"{where}: need a mapping with 'type'")
        if s["type"] not in SOURCE_TYPES:
            raise FormatError(
                path, f"{where}: unknown source type {s['type']!r}; known: {sorted(SOURCE_TYPES)}"
            )
        name = str(s.get("name", s["type"]))
        if name in names:
            raise FormatError(path, f"{where}: duplicate source name {name!r}")
        names.add(name)
        root = (data_root / str(s.get("root", "."))).resolve()
        if root != data_root and data_root not in root.parents:
            raise FormatError(path, f"{where}: root {root} is outside data_root {data_root}")
        produce = s.get("produce") or {}
        if not isinstance(produce, dict) or not produce:
            raise FormatError(path, f"{where}: 'produce' must map conversation kinds to counts")
        norm: dict[str, Any] = {}
        for kind, count in produce.items():
            kind = KIND_ALIASES.get(str(kind).lower(), kind)
            if kind in ("vision_task", "c4"):
                if not isinstance(count, dict) or not count:
                    raise FormatError(path, f"{where}.produce.vision_task: map C4 tasks to counts")
                for task, c in count.items():
                    if task not in BUILDERS:
                        raise FormatError(
                            path, f"{where}: unknown C4 task {task!r}; known: {sorted(BUILDERS)}"
                        )
                    _check_count(f"{where}.produce.vision_task.{task}", c, path)
                norm["vision_task"] = dict(count)
            elif kind in KINDS:
                _check_count(f"{where}.produce.{kind}", count, path)
                norm[kind] = count
            else:
                raise FormatError(
                    path, f"{where}: unknown kind {kind!r}; use {sorted(KINDS)} (or C1-C3) and vision_task"
                )
        options = {k: v for k, v in s.items() if k not in ("name", "type", "root", "produce")}
        sources.append(SourceSpec(name, s["type"], root, norm, options))
    seed = raw.get("seed", 0)
    if not isinstance(seed, int):
        raise FormatError(path, f"seed must be an integer, got {seed!r}")
    return Recipe(str(raw.get("name", path.stem)), seed, data_root, sources, gen, post, path, raw)
