"""Distributed training on the CPU: torchrun with gloo (DDP) and DeepSpeed ZeRO-2 give the single-process
loss curve at the same global batch.

Tolerance: relative 1e-5 per step. Every step minimises the token-mean loss of the whole global batch,
the micro-batches are the same in every layout (the sampler deals them to processes), so only the
float summation order of the gradient all-reduce differs (observed: identical to the last digit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from train_helpers import make_base, make_instruct

from lamm.train import distributed as D
from lamm.train.config import load_config
from lamm.train.run import train

REL_TOL = 1e-5


@pytest.fixture(scope="module")
def run_config(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    data = make_instruct(root / "data", n=32)
    model = make_base(root / "base", data)  # full fine-tuning, trainable encoder (unused CLIP post-norm)
    cfg = load_config(
        {
            "model": model,
            "data": {"files": [{"path": str(data)}], "max_length": 64, "num_workers": 0},
            "train": {
                "global_batch_size": 8,
                "micro_batch_size": 2,
                "epochs": 1,
                "lr": 3e-3,
                "warmup_shape": "linear",
                "min_warmup_steps": 2,
                "tensorboard": False,
            },  # fmt: skip
            "out_dir": str(root / "one"),
        }
    )
    path = root / "run.yaml"
    cfg.save(path)
    single = train(cfg, progress=False)  # accumulation 4 on one process
    return root, path, single.losses


def _torchrun(root, config, out, *overrides):
    env = dict(os.environ, OMP_NUM_THREADS="1", LAMM_DEVICE="cpu")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "lamm.cli", "train", str(config), *overrides, "--out", str(out), "--quiet"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, [json.loads(line) for line in (out / "train_log.jsonl").open()]


def _close(a, b):
    assert len(a) == len(b) == 4
    for x, y in zip(a, b):
        assert abs(x - y) <= REL_TOL * abs(x), (a, b)


def test_two_gloo_processes_match_one(run_config):
    root, config, single = run_config
    stdout, log = _torchrun(root, config, root / "ddp")
    assert "device cpu x 2 (gloo)" in stdout and "accum 2 x 2 procs" in stdout
    _close(single, [r["loss"] for r in log])


def test_deepspeed_zero2_matches_ddp(run_config):
    pytest.importorskip("deepspeed", reason="DeepSpeed not installed (pip install deepspeed)")
    root, config, single = run_config
    stdout, log = _torchrun(root, config, root / "zero2", "train.deepspeed=zero2")
    assert "deepspeed zero2" in stdout
    _close(single, [r["loss"] for r in log])
    assert [r["lr"] for r in log] == pytest.approx([1.5e-3, 3e-3, 3e-3, 1.5e-3])


def test_single_process_env(monkeypatch):
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LAMM_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    env = D.init_distributed()
    assert (env.world_size, env.rank, env.backend, env.distributed) == (1, 0, None, False)
    expected = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else None
    assert env.device.type == (expected.type if expected is not None else "cpu")
    monkeypatch.setenv("LAMM_DEVICE", "cpu")
    assert D.pick_device(3) == torch.device("cpu")
    t = torch.ones(2)
    assert D.all_reduce_sum(t).tolist() == [1.0, 1.0]  # no process group: unchanged
