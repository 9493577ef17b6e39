"""Interactive multi-turn chat with a trained checkpoint about one image (or point cloud)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="a lamm checkpoint folder, or an official LAMM pytorch_model.pt (then give --base-llm and --encoder)",
    )
    parser.add_argument("--image", "--media", dest="media", help="image (or .npy point cloud) to talk about")
    parser.add_argument("--system", default="", help="system message placed before the first question")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--sample", action="store_true", help="sample (official: top_p 0.9, temperature 1.0)")
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--base-llm", default=None, help="load on this base LLM instead of the recorded one")
    parser.add_argument(
        "--base-encoder", default=None, help="load on this encoder folder instead of the recorded one"
    )
    parser.add_argument(
        "--force", action="store_true", help="load even if the base differs from the trained-on one"
    )
    parser.add_argument(
        "--encoder", default=None, help="CLIP folder or hub id (official .pt checkpoints only)"
    )
    parser.add_argument("--num-media-tokens", type=int, default=256, help="official .pt only (paper: 256)")
    parser.add_argument(
        "--dtype", default=None, help="official .pt only: float32 | bf16 | fp16 (default bf16 on GPU)"
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from lamm.model.checkpoint import CheckpointError, load_checkpoint, load_official
    from lamm.model.generate import GenItem, generate

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if Path(args.checkpoint).is_file():  # an official delta: no manifest, the bases are given
        if not (args.base_llm and args.encoder):
            print("lamm chat: an official .pt checkpoint needs --base-llm and --encoder", file=sys.stderr)
            return 2
        dtype = args.dtype or ("bf16" if device.startswith("cuda") else "float32")
        model, tokenizer = load_official(
            args.checkpoint,
            base_llm=args.base_llm,
            encoder=args.encoder,
            num_media_tokens=args.num_media_tokens,
            dtype=dtype,
            device=device,
        )
    else:
        try:
            model, tokenizer = load_checkpoint(
                args.checkpoint,
                base_llm=args.base_llm,
                base_encoder=args.base_encoder,
                force=args.force,
                device=device,
            )
        except CheckpointError as exc:
            print(f"lamm chat: error: {exc}", file=sys.stderr)
            return 2
    preprocess = model.encoder.preprocessor()
    media = preprocess(args.media) if args.media else None
    interactive = sys.stdin.isatty()
    if interactive:
        print(
            "lamm chat: type a message; /image PATH switches the image, /reset clears, /quit or Ctrl-D exits."
        )
    history: list[tuple[str, str]] = []
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        query = line.rstrip("\n")
        if not query.strip():
            continue
        if query.strip() == "/quit":
            break
        if query.strip() == "/reset":
            history = []
            continue
        if query.startswith("/image "):
            media, history = preprocess(query[len("/image ") :].strip()), []
            continue
        item = GenItem(media=media, system=args.system, query=query, history=list(history))
        answer = generate(
            model,
            tokenizer,
            [item],
            max_new_tokens=args.max_new_tokens,
            do_sample=args.sample,
            top_p=args.top_p,
            temperature=args.temperature,
            seed=args.seed,
        )[0]
        history.append((query, answer))
        print(("lamm> " if interactive else "") + answer, flush=True)
    return 0
