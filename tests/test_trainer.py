"""Trainer on a tiny random model: exact resume, packing == padding, bad samples counted, CLI, schedule."""

from __future__ import annotations

import json
import math

import pytest
import torch
from train_helpers import make_base, make_instruct

from lamm.formats.errors import FormatError
from lamm.train.config import load_config
from lamm.train.run import train
from lamm.train.schedule import lr_factor


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    data = make_instruct(root / "data", n=32)
    model = make_base(root / "base", data)
    return root, data, model


def _cfg(setup, out, **train_kw):
    root, data, model = setup
    data_kw = train_kw.pop("data", {})
    model_kw = train_kw.pop("model", {})
    train = {"global_batch_size": 8, "micro_batch_size": 4, "epochs": 2, "lr": 3e-3, "warmup_shape": "linear",
             "min_warmup_steps": 2, "tensorboard": False} | train_kw  # fmt: skip
    return load_config(
        {
            "model": model | model_kw,
            "data": {"files": [{"path": str(data)}], "max_length": 64, "num_workers": 0} | data_kw,
            "train": train,
            "out_dir": str(out),
        }
    )


def test_lr_schedule_values():
    # linear warm-up over 4 steps, then linear decay to 0 at step 10
    assert [lr_factor(s, 10, 4, "linear", "linear") for s in (0, 3, 4, 7)] == [0.25, 1.0, 1.0, 0.5]
    # DeepSpeed WarmupDecayLR's log warm-up: log(step+1)/log(warmup)
    assert lr_factor(0, 100, 10, "linear", "log") == 0.0
    assert lr_factor(4, 100, 10, "linear", "log") == pytest.approx(math.log(5) / math.log(10))
    assert lr_factor(55, 100, 10, "cosine", "log") == pytest.approx(0.5)
    assert lr_factor(100, 100, 10, "cosine", "linear", min_ratio=0.1) == pytest.approx(0.1)


def test_tiny_sizes_have_one_default():
    """15.3: ``TinyConfig`` (what the presets build with: tiny-3d leaves vision_layers unset) and
    ``build_tiny`` agree on every size they share (they disagreed on vision_layers, 2 vs 3)."""
    import dataclasses
    import inspect

    from lamm.model.tiny import build_tiny
    from lamm.train.config import TinyConfig

    params = inspect.signature(build_tiny).parameters
    shared = [f for f in dataclasses.fields(TinyConfig) if f.name in params]
    assert {f.name for f in shared} >= {
        "image_size",
        "patch_size",
        "vision_layers",
        "vision_hidden",
        "llm_layers",
    }
    assert {f.name: params[f.name].default for f in shared} == {f.name: f.default for f in shared}
    assert TinyConfig().vision_layers == 2


def test_resume_continues_exactly(setup, tmp_path):
    """LoRA with dropout 0.1: the RNG state matters, so this also checks it is restored."""
    lora = {"lora": {"r": 4, "alpha": 8, "dropout": 0.1}}
    full = train(_cfg(setup, tmp_path / "full", model=lora, save_every=3), progress=False)
    assert len(full.losses) == 8
    part = train(_cfg(setup, tmp_path / "part", model=lora, save_every=3), stop_after=3, progress=False)
    assert part.checkpoint.name == "step-0000003"
    rest = train(_cfg(setup, tmp_path / "part", model=lora, save_every=3), resume=True, progress=False)
    resumed = part.losses + rest.losses
    assert len(resumed) == 8
    assert max(abs(a - b) for a, b in zip(full.losses, resumed)) <= 1e-6, (full.losses, resumed)
    from safetensors.torch import load_file

    a = load_file(str(full.checkpoint / "model.safetensors"))
    b = load_file(str(rest.checkpoint / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    # the JSONL log holds each step once, also after the resume
    steps = [json.loads(line)["step"] for line in (tmp_path / "part" / "train_log.jsonl").open()]
    assert steps == list(range(1, 9))


def test_packing_gives_the_padding_loss(setup, tmp_path):
    """Same global batches packed into rows (block-diagonal attention, restarting positions) or padded:
    the loss and the whole loss curve agree (relative 1e-4 after 3 updates; float summation order only)."""
    padded = train(_cfg(setup, tmp_path / "pad", max_steps=3, data={"packing": False}), progress=False)
    packed = train(
        _cfg(setup, tmp_path / "pack", max_steps=3, data={"packing": True, "pack_length": 400}),
        progress=False,
    )
    assert abs(packed.losses[0] - padded.losses[0]) <= 1e-5 * padded.losses[0]
    for a, b in zip(padded.losses, packed.losses):
        assert abs(a - b) <= 1e-4 * a, (padded.losses, packed.losses)


def _broken_data(setup, tmp_path):
    root, data, _ = setup
    recs = json.loads(data.read_text())
    recs[1]["image"] = "images/missing.png"
    recs[4]["conversations"][0]["value"] = "<image>\n" + "why " * 100  # truncation leaves no answer
    bad_img = data.parent.parent / "images" / "corrupt.png"
    bad_img.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    recs[6]["image"] = "images/corrupt.png"
    out = data.parent / "broken.json"
    out.write_text(json.dumps(recs))
    return out


def test_bad_samples_are_counted_or_named(setup, tmp_path):
    broken = _broken_data(setup, tmp_path)
    cfg = _cfg(
        setup, tmp_path / "skip", epochs=1, data={"files": [{"path": str(broken)}], "on_error": "skip"}
    )
    cfg.train.num_threads = 1  # the loop's thread count must not leak to what the process does next
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        res = train(cfg, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert res.skipped == {"missing_media": 1, "empty_supervision": 1, "bad_media": 1}
    logged = [json.loads(line) for line in (tmp_path / "skip" / "skipped.jsonl").open()]
    assert sorted(e["index"] for e in logged) == [1, 4]
    cfg = _cfg(setup, tmp_path / "raise", epochs=1, data={"files": [{"path": str(broken)}]})
    with pytest.raises(FormatError, match=r"broken.json, record 1, id 'train-1'.*not found"):
        train(cfg, progress=False)


def test_cli_config_with_overrides(setup, tmp_path):
    import yaml

    from lamm.cli import main

    cfg = _cfg(setup, tmp_path / "unused")
    path = tmp_path / "run.yaml"
    cfg.save(path)
    out = tmp_path / "cli"
    rc = main(["train", str(path), "train.lr=1e-3", "--max-steps", "2", "--out", str(out), "--quiet"])
    assert rc == 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").open()]
    assert [r["step"] for r in log] == [1, 2] and log[0]["lr"] == pytest.approx(1e-3 / 2)
    ckpt = out / "checkpoints" / "step-0000002"
    assert (ckpt / "COMPLETE").is_file() and (ckpt / "model.safetensors").is_file()
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["lr"] == 1e-3
    state = torch.load(ckpt / "train_state.pt", weights_only=True)  # no pickle needed to resume
    assert state["step"] == 2 and "optimizer" in state
    assert main(["train", str(path), "train.nope=1"]) == 2


def test_gpu_step_bench_smoke(monkeypatch, capsys, tmp_path):
    """bench/gpu_step.py runs end to end (tiny shapes on the CPU) and reports its numbers."""
    import runpy
    import sys

    out = tmp_path / "gpu_step.json"
    monkeypatch.setattr(
        sys, "argv", ["gpu_step.py", "--smoke", "--steps", "2", "--warmup", "0", "--json", str(out)]
    )
    from pathlib import Path

    runpy.run_path(str(Path(__file__).parents[1] / "bench" / "gpu_step.py"), run_name="__main__")
    res = json.loads(out.read_text())
    assert res["shape"] == "smoke" and res["steps"] == 2 and res["tokens_per_s"] > 0
    assert res["seq_len"] == 1 + 16 + 16 and res["flops_per_step"] > 0 and res["lora_params"] > 0
    assert "tokens/s" in capsys.readouterr().out
