"""Build LAMM instruction data from a recipe: ``lamm data build RECIPE.yaml [--out DIR] [--limit N] [--resume]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import urlparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", type=Path, help="recipe YAML (see examples/recipes/)")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: runs/data/<recipe name>)")
    p.add_argument("--limit", type=int, default=None, help="use at most N items per source (quick trials)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted build in --out")
    p.add_argument(
        "--generator", choices=("template", "llm"), default=None, help="override the recipe's generator"
    )
    p.add_argument(
        "--base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1"
    )
    p.add_argument("--model", default=None, help="model name served by the endpoint")
    p.add_argument("--concurrency", type=int, default=None, help="parallel LLM requests")
    p.add_argument("--rpm", type=float, default=None, help="requests per minute limit")
    p.add_argument("--tpm", type=float, default=None, help="tokens per minute limit")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="LLM reply cache (default: OUT/cache); share it across builds",
    )
    p.add_argument(
        "--on-error", choices=("skip", "raise"), default="skip",
        help="an item whose media is missing, empty or unreadable: reject it with the reason (default) or stop",
    )  # fmt: skip
    p.add_argument(
        "--api-key-env", default=None, metavar="NAME",
        help="environment variable holding the API key (default: LAMM_API_KEY, then OPENAI_API_KEY); "
        "a recipe cannot name one",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help=argparse.SUPPRESS)  # old name of --quiet


def _key_destination_problem(kind: str, base_url: str, url_on_cli: bool, key_env: str | None) -> str | None:
    """A recipe must not choose where the API key goes: a ``generator.base_url`` that points off this
    machine gets the key only when the command line names the same server with ``--base-url``."""
    if kind != "llm" or not base_url or url_on_cli:
        return None
    host = (urlparse(base_url).hostname or "").lower()
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return None
    from lamm.llm_client import api_key  # here: the openai client loads only for builds that call an LLM

    if api_key(key_env) == "EMPTY":
        return None  # no key would be sent
    return (
        f"the recipe's generator.base_url ({base_url}) is not on this machine, and a recipe cannot choose "
        "where your API key is sent; repeat the server on the command line (--base-url URL) to confirm it"
    )


def run(args: argparse.Namespace) -> int:
    from lamm.data.construct.pipeline import Builder
    from lamm.data.construct.recipe import load_recipe
    from lamm.formats.lock import FolderLocked

    recipe = load_recipe(args.recipe)
    g = recipe.generator
    for attr, value in (("type", args.generator), ("base_url", args.base_url), ("model", args.model),
                        ("concurrency", args.concurrency), ("requests_per_minute", args.rpm),
                        ("tokens_per_minute", args.tpm), ("api_key_env", args.api_key_env)):  # fmt: skip
        if value is not None:
            setattr(g, attr, value)
    for flag, value, least in (("--limit", args.limit, 1), ("--concurrency", args.concurrency, 1),
                               ("--rpm", args.rpm, 0), ("--tpm", args.tpm, 0)):  # fmt: skip
        if value is not None and value < least:  # --concurrency 0 was a raw ValueError traceback
            print(f"lamm data build: {flag} must be >= {least}, got {value:g}", file=sys.stderr)
            return 2
    problem = _key_destination_problem(g.type, g.base_url, args.base_url is not None, g.api_key_env)
    if problem:
        print(f"lamm data build: {problem}", file=sys.stderr)
        return 2
    if g.type == "llm" and not g.model:
        print(
            "lamm data build: the llm generator needs --model (or generator.model in the recipe)",
            file=sys.stderr,
        )
        return 2
    out = args.out or Path("runs") / "data" / recipe.name
    try:
        manifest = Builder(recipe, out, limit=args.limit, resume=args.resume, cache_dir=args.cache_dir,
                           progress=not args.no_progress, on_error=args.on_error).run()  # fmt: skip
    except FolderLocked as exc:
        print(f"lamm data build: error: {exc}", file=sys.stderr)
        return 2
    c, r = manifest["counts"], manifest["rejects"]
    print(f"wrote {c['kept']} samples ({c['train']} train, {c['val']} val) to {out}/meta_file; "
          f"{r['final']} rejected (see {out}/rejects.jsonl); manifest {out}/manifest.json")  # fmt: skip
    print(json.dumps(c["by_task_type"]))
    if manifest["llm_usage"]:
        u = manifest["llm_usage"]
        print(f"LLM: {u['requests']} requests, {u['cache_hits']} cache hits, {u['retries']} retries, "
              f"{u['prompt_tokens']}+{u['completion_tokens']} tokens, cost {u['cost']}")  # fmt: skip
    if r["api_failures_pending"]:
        print(f"lamm data build: {r['api_failures_pending']} samples failed on the API; rerun with --resume to retry them",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0
