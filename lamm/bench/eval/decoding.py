"""Decoding settings of ``lamm eval``: greedy by default, sampling on request, or the official preset.

Official v1 inference samples (``do_sample=True``, top_p 0.9, temperature 1.0 and transformers' default
top_k 50, which it left on) with ``--max_tgt_len`` 400 new tokens in the 2D scripts and 800 in the 3D
ones (LAMM_FORMATS §5.4). lamm decodes greedily so that a run reproduces exactly; ``--decoding official``
gives the official values, and single flags override either.
"""

from __future__ import annotations

from typing import Any

SAMPLING = ("top_p", "top_k", "temperature")
OFFICIAL = {"do_sample": True, "top_p": 0.9, "top_k": 50, "temperature": 1.0}
OFFICIAL_MAX_NEW_TOKENS = {"2d": 400, "3d": 800}
PRESETS = ("greedy", "official")


def decoding_options(
    preset: str,
    dims: set[str],
    *,
    do_sample: bool = False,
    top_p: float | None = None,
    top_k: int | None = None,
    temperature: float | None = None,
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """Adapter options for the chosen decoding (only what is set; adapters keep their defaults for the
    rest). ``dims``: the run's benchmark dimensions ({"2d"} or {"3d"}), for the official length."""
    if preset not in PRESETS:
        raise ValueError(f"--decoding must be one of {', '.join(PRESETS)}, not {preset!r}")
    given = {"top_p": top_p, "top_k": top_k, "temperature": temperature}
    out: dict[str, Any] = {}
    if preset == "official":
        if len(dims) != 1:
            raise ValueError(f"--decoding official: one benchmark dimension per run, not {sorted(dims)}")
        out = {**OFFICIAL, "max_new_tokens": OFFICIAL_MAX_NEW_TOKENS[next(iter(dims))]}
    elif do_sample:
        out = {"do_sample": True}
    elif any(v is not None for v in given.values()):
        named = ", ".join(f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None)
        raise ValueError(f"{named} only apply when sampling: add --do-sample (or --decoding official)")
    out.update({k: v for k, v in given.items() if v is not None})
    if max_new_tokens is not None:
        out["max_new_tokens"] = max_new_tokens
    if out.get("top_p") is not None and not 0 < out["top_p"] <= 1:
        raise ValueError(f"--top-p must be in (0, 1], not {out['top_p']}")
    if out.get("temperature") is not None and out["temperature"] <= 0:
        raise ValueError(f"--temperature must be > 0 when sampling, not {out['temperature']}")
    if out.get("top_k") is not None and out["top_k"] < 0:
        raise ValueError(f"--top-k must be >= 0 (0: off), not {out['top_k']}")
    return out
