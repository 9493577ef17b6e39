"""LAMM-7B-shaped training step on one GPU: tokens/s, peak memory and MFU.

    python bench/gpu_step.py                 # H100/H200: LLaMA-7B + CLIP ViT-L/14 shapes, LoRA r32, bf16,
                                             # decoder layers torch.compile'd (--no-compile: eager)
    python bench/gpu_step.py --smoke         # tiny shapes on the CPU (checks the script runs)

Random weights (no download): LLaMA-7B config (hidden 4096, 32 layers, 32 heads, MLP 11008, vocab 32000),
CLIP ViT-L/14 at 224 px (24 layers, width 1024, 256 local tokens), linear projector 1024 -> 4096, LoRA
r 32 / alpha 32 on q/k/v/o (dropout 0.1, the paper's), frozen base in bf16, trainable weights in fp32 with
bf16 autocast, fused AdamW, SDPA (flash-attention 2 when installed). Synthetic samples: 256 media tokens +
``--text-len`` text tokens, all text supervised. The model is ``lamm.model.lamm_model.LAMMModel``.

FLOP formula (model FLOPs, no recomputation counted; PaLM convention for attention):
    per LLM token:   4*N                        frozen matmuls: forward 2*N + backward activation grads 2*N
                                                (no weight gradients: 6*N would overcount a LoRA run)
                   + 6*N_t                      LoRA A/B: forward, activation and weight gradients
                   + 12 * L * d * T             attention scores and values, forward + backward (full T x T)
                     (N = frozen LLM matmul params incl. lm_head, excl. the embedding lookup; N_t = LoRA
                     params; T = sequence length, L layers, d hidden size)
    per image:       257 * (2*N_clip + 4 * L_v * d_v * 257)     frozen encoder, forward only (pixel input)
                   + 256 * (2*N_proj + 2*N_proj)                projector forward + weight grads
    MFU = FLOPs per step / step time / peak bf16 dense FLOP/s of the device (H100 SXM / H200: 989e12).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

PEAK_BF16 = {
    "H200": 989e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
}


def shapes(smoke: bool) -> dict:
    if smoke:
        return {"vocab": 512, "hidden": 64, "layers": 2, "heads": 4, "mlp": 172, "v_hidden": 32, "v_layers": 2,
                "v_heads": 2, "v_mlp": 64, "image": 32, "patch": 8, "lora_r": 8}  # fmt: skip
    return {"vocab": 32000, "hidden": 4096, "layers": 32, "heads": 32, "mlp": 11008, "v_hidden": 1024,
            "v_layers": 24, "v_heads": 16, "v_mlp": 4096, "image": 224, "patch": 14, "lora_r": 32}  # fmt: skip


def build(s: dict, device: torch.device, dtype: torch.dtype, attn: str, grad_ckpt: bool):
    from peft import LoraConfig, get_peft_model
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    from lamm.model.config import ModelConfig
    from lamm.model.encoders.clip import ClipEncoder
    from lamm.model.lamm_model import LAMMModel, resolve_attn_implementation
    from lamm.model.projector import build_projector

    torch.manual_seed(0)
    attn = resolve_attn_implementation(attn)
    llm_cfg = LlamaConfig(
        vocab_size=s["vocab"], hidden_size=s["hidden"], intermediate_size=s["mlp"], num_hidden_layers=s["layers"],
        num_attention_heads=s["heads"], num_key_value_heads=s["heads"], max_position_embeddings=2048,
        tie_word_embeddings=False,
    )  # fmt: skip
    llm_cfg._attn_implementation = attn
    v_cfg = CLIPVisionConfig(
        hidden_size=s["v_hidden"], intermediate_size=s["v_mlp"], num_hidden_layers=s["v_layers"],
        num_attention_heads=s["v_heads"], image_size=s["image"], patch_size=s["patch"], projection_dim=768,
    )  # fmt: skip
    v_cfg._attn_implementation = "sdpa"
    with device:
        llm = LlamaForCausalLM(llm_cfg).to(dtype)
        clip = CLIPVisionModel(v_cfg).to(dtype)
    encoder = ClipEncoder(clip, feature="local", trainable=False)
    projector = build_projector("linear", encoder.hidden_size, s["hidden"]).to(device)
    llm.config.use_cache = False
    llm = get_peft_model(
        llm,
        LoraConfig(
            task_type="CAUSAL_LM",
            r=s["lora_r"],
            lora_alpha=s["lora_r"],
            lora_dropout=0.1,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        ),  # fmt: skip
    )
    for p in llm.parameters():
        if p.requires_grad:
            p.data = p.data.float()  # fp32 master weights for the trainable part
    cfg = ModelConfig(
        llm="random-llama-7b-shape", encoder={"type": "clip", "feature": "local"}, num_media_tokens=encoder.num_tokens,
        lora=None, dtype="bfloat16" if dtype == torch.bfloat16 else "float32", attn_implementation=attn,
    )  # fmt: skip
    model = LAMMModel(cfg, llm, encoder, projector, media_token_id=s["vocab"] - 1)
    if grad_ckpt:
        model.gradient_checkpointing_enable()
    return model, attn


def synthetic_batch(s: dict, model, batch: int, text_len: int, device: torch.device, gen: torch.Generator):
    n_media = model.num_media_tokens
    text = torch.randint(0, s["vocab"] - 2, (batch, text_len), generator=gen)
    media_ids = torch.full((batch, n_media), model.media_token_id)
    ids = torch.cat([torch.ones(batch, 1, dtype=torch.long), media_ids, text], dim=1)
    labels = ids.clone()
    labels[:, : 1 + n_media] = -100
    pixels = torch.randn(batch, 3, s["image"], s["image"], generator=gen)
    return ids.to(device), labels.to(device), pixels.to(device)


def flops_per_step(model, s: dict, batch: int, seq: int) -> tuple[float, dict]:
    llm = model.base_llm
    emb = llm.get_input_embeddings().weight.numel()
    n_llm = sum(p.numel() for n, p in llm.named_parameters() if "lora_" not in n) - emb
    n_lora = sum(p.numel() for n, p in llm.named_parameters() if "lora_" in n)
    n_clip = sum(p.numel() for p in model.encoder.parameters())
    n_proj = sum(p.numel() for p in model.projector.parameters())
    tokens = batch * seq
    llm_f = tokens * (4 * n_llm + 6 * n_lora) + tokens * 12 * s["layers"] * s["hidden"] * seq
    v_tok = (s["image"] // s["patch"]) ** 2 + 1
    clip_f = batch * v_tok * (2 * n_clip + 4 * s["v_layers"] * s["v_hidden"] * v_tok)
    proj_f = batch * model.num_media_tokens * 4 * n_proj
    parts = {"llm_params": n_llm, "lora_params": n_lora, "clip_params": n_clip, "projector_params": n_proj}
    return float(llm_f + clip_f + proj_f), parts


def peak_flops(device: torch.device, override: float | None) -> float | None:
    if override:
        return override * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16.items():
        if key in name:
            return value
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny shapes, a few steps (runs on the CPU)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 300; smoke 3)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 10; smoke 1)")
    ap.add_argument("--micro-batch", type=int, default=None, help="samples per step (default 8; smoke 2)")
    ap.add_argument(
        "--text-len", type=int, default=None, help="text tokens per sample (default 256; smoke 16)"
    )
    ap.add_argument(
        "--attn", default="auto", help="auto (flash-attention 2 if installed, else sdpa) | sdpa | eager"
    )
    ap.add_argument(
        "--grad-ckpt", action="store_true", help="activation checkpointing (recompute not counted)"
    )
    ap.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile each decoder layer (fuses norms, rotary, SiLU); default on for the full-size run",
    )
    ap.add_argument(
        "--peak-tflops", type=float, help="device peak bf16 dense TFLOP/s (default: from the name)"
    )
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()

    from lamm.train.distributed import pick_device

    device = pick_device()
    smoke = args.smoke
    steps = args.steps or (3 if smoke else 300)
    warmup = args.warmup if args.warmup is not None else (1 if smoke else 10)
    batch = args.micro_batch or (2 if smoke else 8)
    text_len = args.text_len or (16 if smoke else 256)
    s = shapes(smoke)
    bf16 = device.type != "cpu"
    dtype = torch.bfloat16 if bf16 else torch.float32
    if not smoke and device.type == "cpu":
        raise SystemExit("the full-size bench needs a GPU; use --smoke on the CPU")
    model, attn = build(s, device, dtype, args.attn, args.grad_ckpt)
    model.train()
    if args.compile is None:
        args.compile = not smoke  # 35.6% -> 51.9% MFU on an H200 (bench/results/)
    if args.compile:
        model.compile_layers()
    params = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if device.type == "cuda" else {}
    opt = torch.optim.AdamW(params, lr=5e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.001, **fused)
    gen = torch.Generator().manual_seed(0)
    seq = 1 + model.num_media_tokens + text_len
    batches = [synthetic_batch(s, model, batch, text_len, device, gen) for _ in range(4)]
    autocast = (
        torch.autocast(device.type, dtype=torch.bfloat16)
        if bf16
        else torch.autocast(device.type, enabled=False)
    )

    def sync() -> None:
        if device.type != "cpu":
            torch.accelerator.synchronize()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for i in range(warmup + steps):
        ids, labels, pixels = batches[i % len(batches)]
        sync()
        t0 = time.perf_counter()
        with autocast:
            out = model(input_ids=ids, labels=labels, media=pixels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
            losses.append(float(out.loss.detach()))
    step_s = statistics.median(times)
    flops, parts = flops_per_step(model, s, batch, seq)
    peak = peak_flops(device, args.peak_tflops)
    res = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else str(device),
        "shape": "smoke" if smoke else "lamm-7b", "attn": attn, "grad_ckpt": args.grad_ckpt, "compile": args.compile,
        "micro_batch": batch, "seq_len": seq, "steps": steps, "median_step_s": step_s,
        "tokens_per_s": batch * seq / step_s, "tflops_per_s": flops / step_s / 1e12, "flops_per_step": flops,
        "mfu": flops / step_s / peak if peak else None, "peak_tflops": peak / 1e12 if peak else None,
        "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        "first_loss": losses[0], "last_loss": losses[-1], **parts,
        "versions": {"torch": torch.__version__},
    }  # fmt: skip
    print(json.dumps(res, indent=1))
    mfu = f"{res['mfu'] * 100:.1f}%" if res["mfu"] is not None else "n/a (unknown peak; --peak-tflops)"
    print(f"{res['shape']} on {res['device']}: {res['tokens_per_s']:.0f} tokens/s, {res['tflops_per_s']:.1f} TFLOP/s, "
          f"MFU {mfu}, peak memory {res['peak_memory_gib'] or 0:.1f} GiB")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1)


if __name__ == "__main__":
    main()
