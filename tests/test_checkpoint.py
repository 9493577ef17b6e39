"""Checkpoints: round trip, manifest, wrong-base refusal, key reporting, official-layout interop."""

from __future__ import annotations

import json
import re

import pytest
import torch
from model_helpers import tiny_config, tiny_dir
from safetensors.torch import load_file, save_file

from lamm.model.checkpoint import CheckpointError, load_checkpoint, load_trainable, save_trainable
from lamm.model.config import LoraSettings
from lamm.model.lamm_model import build_model
from lamm.model.official_delta import convert_official, export_official, import_official, load_official


def _perturbed(cfg):
    """A model whose trainable weights differ from any fresh build (LoRA B is zero at init)."""
    torch.manual_seed(0)
    model, tok = build_model(cfg)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval(), tok


def _inputs(model):
    ids = torch.tensor([[1] + [model.media_token_id] * model.num_media_tokens + [10, 11, 12, 13, 14]])
    return ids, torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))


@pytest.fixture(scope="module")
def lora_ckpt(tmp_path_factory):
    model, tok = _perturbed(tiny_config(lora=True))
    d = save_trainable(model, tmp_path_factory.mktemp("ck") / "step-1", tokenizer=tok)
    ids, media = _inputs(model)
    with torch.no_grad():
        logits = model(ids, media=media).logits
    return d, model, logits


def test_round_trip_identical_logits_and_manifest(lora_ckpt):
    d, model, logits = lora_ckpt
    saved = load_file(str(d / "model.safetensors"))
    assert set(saved) == {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(".lora_" in k or k.startswith("projector.") for k in saved)  # only trainable weights
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["base_llm"]["path"] == str(tiny_dir() / "llm")
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["base_llm"]["fingerprint"])
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["encoder"]["fingerprint"])
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["tokenizer"]["fingerprint"])
    assert manifest["template"] == {"name": "lamm-v1", "version": "1"}
    assert manifest["num_media_tokens"] == 16 and manifest["lora"]["r"] == 4
    assert manifest["versions"]["lamm"]
    loaded, tok = load_checkpoint(d)
    ids, media = _inputs(loaded)
    with torch.no_grad():
        assert torch.equal(loaded(ids, media=media).logits, logits)


def test_full_ft_round_trip(tmp_path):
    model, tok = _perturbed(tiny_config())
    d = save_trainable(model, tmp_path / "full", tokenizer=tok)
    loaded, _ = load_checkpoint(d)
    ids, media = _inputs(model)
    with torch.no_grad():
        assert torch.equal(loaded(ids, media=media).logits, model(ids, media=media).logits)


def test_wrong_base_refused_unless_forced(lora_ckpt):
    d, _, _ = lora_ckpt
    other = str(tiny_dir(1) / "llm")  # same shapes and tokenizer, different weights
    with pytest.raises(CheckpointError, match="refusing to load on a different base.*base LLM") as err:
        load_checkpoint(d, base_llm=other)
    assert other in str(err.value) and "force" in str(err.value)
    model, _ = load_checkpoint(d, base_llm=other, force=True)
    assert model.config.llm == other


def test_missing_base_named(lora_ckpt, tmp_path):
    d, _, _ = lora_ckpt
    with pytest.raises(CheckpointError, match="base LLM '/nonexistent/llm' not found"):
        load_checkpoint(d, base_llm="/nonexistent/llm")


def test_missing_and_unexpected_keys_reported(lora_ckpt, tmp_path):
    d, _, _ = lora_ckpt
    state = load_file(str(d / "model.safetensors"))
    torch.manual_seed(0)
    model, _ = build_model(tiny_config(lora=True))
    dropped = dict(state)
    dropped.pop("projector.bias")
    save_file(dropped, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"1 missing keys.*projector\.bias"):
        load_trainable(model, tmp_path)
    assert load_trainable(model, tmp_path, allow_missing=True)["missing"] == ["projector.bias"]
    extra = dict(state, **{"llm.extra.weight": torch.zeros(2)})
    save_file(extra, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"1 unexpected keys.*llm\.extra\.weight"):
        load_trainable(model, tmp_path)


def test_official_export_import_round_trip(lora_ckpt, tmp_path):
    _, model, logits = lora_ckpt
    f = export_official(model, tmp_path / "pytorch_model.pt")
    raw = torch.load(f, weights_only=True)
    pattern = re.compile(
        r"llama_proj\.(weight|bias)|llama_model\.base_model\.model\.model\.layers\.\d+\.self_attn\."
        r"[qkvo]_proj\.lora_[AB]\.default\.weight"
    )
    assert all(pattern.fullmatch(k) for k in raw), list(raw)
    assert raw["llama_proj.weight"].shape == (64, 64)  # [llm hidden, encoder hidden]
    assert raw[
        "llama_model.base_model.model.model.layers.1.self_attn.o_proj.lora_A.default.weight"
    ].shape == (4, 64)
    assert len(raw) == 2 + 2 * 4 * 2  # projector w/b + 2 layers x 4 projections x A/B
    torch.manual_seed(123)  # a fresh model with other LoRA/projector init
    fresh, _ = build_model(tiny_config(lora=True))
    fresh.eval()
    ids, media = _inputs(fresh)
    assert import_official(fresh, f) == {"missing": [], "unexpected": []}
    with torch.no_grad():
        assert torch.equal(fresh(ids, media=media).logits, logits)
    # peft 0.3-style names without the adapter name load too
    old_style = {k.replace(".default.weight", ".weight"): v for k, v in raw.items()}
    torch.save(old_style, tmp_path / "old.pt")
    assert import_official(fresh, tmp_path / "old.pt")["unexpected"] == []
    # official file -> lamm checkpoint folder -> load_checkpoint: same logits again
    d = convert_official(f, tiny_config(lora=True), tmp_path / "converted")
    loaded, _ = load_checkpoint(d)
    with torch.no_grad():
        assert torch.equal(loaded(ids, media=media).logits, logits)
    # an official file for another LoRA rank is refused with the shapes named
    # load_official: rank and targets read from the file (alpha given: the paper's is 32, the test's 8)
    root = tiny_dir()
    off, _ = load_official(
        f, base_llm=str(root / "llm"), encoder=str(root / "clip"), num_media_tokens=16, lora_alpha=8
    )
    assert (off.config.lora.r, sorted(off.config.lora.target_modules)) == (
        4,
        ["k_proj", "o_proj", "q_proj", "v_proj"],
    )
    with torch.no_grad():
        assert torch.equal(off(ids, media=media).logits, logits)
    cfg = tiny_config(lora=True)
    cfg.lora = LoraSettings(r=2, alpha=2)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        import_official(build_model(cfg)[0], f)


class Payload:  # a pickled object: must never be unpickled
    pass


def test_official_import_refuses_pickled_code(lora_ckpt, tmp_path):
    _, model, _ = lora_ckpt
    torch.save({"llama_proj.weight": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt: not a plain dict of tensors"):
        import_official(model, tmp_path / "evil.pt")


def test_official_export_needs_lora(tmp_path):
    torch.manual_seed(0)
    model, _ = build_model(tiny_config())
    with pytest.raises(CheckpointError, match="LoRA"):
        export_official(model, tmp_path / "x.pt")
