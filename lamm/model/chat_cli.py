"""Interactive multi-turn chat with a trained checkpoint about one image (or point cloud).

stdout carries only the model's answers (scriptable); the session's own messages (help, what /image and
/reset did, a file that cannot be read) go to stderr. On an official delta (``pytorch_model.pt``) the
conversation is rendered as official ``cli_demo.py`` renders it, with its default system message.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lamm.model.official_args import (
    add_modality_arguments,
    missing_base,
    read_encoder_config,
    unstated_modality,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="a lamm checkpoint folder, or an official LAMM pytorch_model.pt (then give --base-llm and --encoder)",
    )
    parser.add_argument("--image", "--media", dest="media", help="image (or .npy point cloud) to talk about")
    parser.add_argument(
        "--system",
        default=None,
        help="system message before the first question (default: none; official .pt: cli_demo.py's)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument(
        "--sample",
        "--do-sample",
        dest="sample",
        action="store_true",
        help="sample (official: top_p 0.9, top_k 50, temperature 1.0); --do-sample as in lamm eval",
    )
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--top-k", type=int, default=50)
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
        "--dtype",
        default=None,
        choices=["fp16", "bf16", "float32"],
        help="official .pt only (default bf16 on GPU, float32 on CPU; official cli_demo: fp16)",
    )
    parser.add_argument(
        "--template",
        default="lamm-v1",
        help="official .pt only: the delta's conversation template (llama2-chat for the LLaMA-2-chat delta)",
    )
    add_modality_arguments(parser)


def _is_image(path: str) -> bool:
    return Path(path).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


HELP = """commands (handled here, never sent to the model):
  /image PATH   talk about another image or point cloud (clears the history)
  /reset        clear the conversation history
  /help         this help
  /quit         end the session (or Ctrl-D)"""


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    import torch

    from lamm.formats.errors import FormatError
    from lamm.model.checkpoint import CheckpointError, load_checkpoint
    from lamm.model.generate import GenItem, generate
    from lamm.model.official_delta import load_official
    from lamm.model.template import cli_demo_system, get_template
    from lamm.protocol.prompts import prompt

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    official = Path(args.checkpoint).is_file()
    if official:  # an official delta: no manifest, the bases are given
        if not (args.base_llm and args.encoder):
            print("lamm chat: an official .pt checkpoint needs --base-llm and --encoder", file=sys.stderr)
            return 2
        if missing_base(args):
            print(f"lamm chat: error: {missing_base(args)}", file=sys.stderr)
            return 2
        if args.modality is None and args.media and not _is_image(args.media):
            print(f"lamm chat: {unstated_modality(args.checkpoint)}", file=sys.stderr)
            return 2
        try:
            get_template(args.template)
        except KeyError as exc:
            print(f"lamm chat: --template: {exc.args[0]}", file=sys.stderr)
            return 2
        dtype = args.dtype or ("bf16" if device.startswith("cuda") else "float32")
        try:
            model, tokenizer = load_official(
                args.checkpoint,
                base_llm=args.base_llm,
                encoder=args.encoder,
                modality=args.modality or "image",
                num_media_tokens=args.num_media_tokens,
                encoder_options=read_encoder_config(args.encoder_config),
                dtype=dtype,
                device=device,
                template=args.template,
            )
        except (CheckpointError, ValueError, OSError) as exc:  # as import-official: one line, exit 2
            print(f"lamm chat: error: {exc}", file=sys.stderr)
            return 2
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
    # Official deltas in a "###" template talk in cli_demo.py's layout, history folded into the text
    # before the question; lamm checkpoints continue the conversation as they were trained.
    cli_demo = official and get_template(model.config.template).separator == "###"
    system = args.system
    if system is None:
        system = prompt("cli_demo_v1", "SYS_MSG") if official else ""
    preprocess = model.encoder.preprocessor()

    def load(path: str):
        try:
            return preprocess(path)
        except (FormatError, OSError, ValueError) as exc:
            _say(f"lamm chat: cannot read {path}: {exc}")
            return None

    media = None
    if args.media:
        media = load(args.media)
        if media is None:
            return 2
    interactive = sys.stdin.isatty()
    if interactive:
        _say("lamm chat: type a message; /help lists the commands.")
    history: list[tuple[str, str]] = []
    while True:
        if interactive:
            print("you> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        query = line.rstrip("\n")
        command = query.strip()
        if not command:
            continue
        if command == "/quit":
            break
        if command == "/help":
            _say(HELP)
            continue
        if command == "/reset":
            history = []
            _say("lamm chat: history cleared")
            continue
        if command == "/image" or command.startswith("/image "):
            path = command[len("/image") :].strip()
            if not path:
                _say("lamm chat: usage: /image PATH")
                continue
            new = load(path)
            if new is not None:
                media, history = new, []
                _say(f"lamm chat: now talking about {path} (history cleared)")
            else:
                _say("lamm chat: kept the previous " + ("media" if media is not None else "text-only chat"))
            continue
        if command.startswith("/"):
            _say(f"lamm chat: unknown command {command.split()[0]}; /help lists the commands")
            continue
        if cli_demo:
            item = GenItem(media=media, system=cli_demo_system(system, history), query=query)
        else:
            item = GenItem(media=media, system=system, query=query, history=list(history))
        answer = generate(
            model,
            tokenizer,
            [item],
            max_new_tokens=args.max_new_tokens,
            do_sample=args.sample,
            top_p=args.top_p,
            top_k=args.top_k,
            temperature=args.temperature,
            seed=args.seed,
        )[0]
        # The history holds the answer as shown: a trained conversation's turns carry no padding whitespace.
        answer = answer.strip()
        history.append((query, answer))
        print(("lamm> " if interactive else "") + answer, flush=True)
    return 0
