"""An eval adapter that loads chatty libraries the way real adapters do (``--model py:noisy_helpers:make``):
importing DeepSpeed logs "Setting accelerator to CPU" on a CPU machine, and transformers shows its own
progress bar ("Loading weights") and warnings while a model loads."""

from __future__ import annotations

from eval_helpers import EchoAdapter


def make(arg: str = "", **_options) -> EchoAdapter:
    import deepspeed  # noqa: F401 - its import is what talks
    from transformers.utils import logging as hf_logging

    for _ in hf_logging.tqdm(range(3), desc="Loading weights"):
        pass
    hf_logging.get_logger("transformers.modeling_utils").warning("Some weights were not initialized")
    return EchoAdapter()
