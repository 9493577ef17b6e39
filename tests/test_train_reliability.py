"""`lamm train` through the CLI: one writer per folder, no silent overwrite, exact resume or a refusal,
damaged checkpoints named, relocatable checkpoints, a `final` alias, loopback-only DeepSpeed, options.
(issues 14 and 17)"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from train_helpers import make_base, make_instruct

import lamm
from lamm.cli import main

REPO = Path(lamm.__file__).resolve().parents[1]  # the lamm under test


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainrel")
    data = make_instruct(root / "data", n=16)
    model = make_base(root / "base", data)
    return root, data, model


def _config(setup, path: Path, **train_kw) -> Path:
    root, data, model = setup
    model = train_kw.pop("model", model)
    cfg = {
        "model": model,
        "data": {"files": [{"path": str(data)}], "max_length": 64, "num_workers": 0},
        "train": {
            "global_batch_size": 4,
            "micro_batch_size": 4,
            "epochs": 1,
            "lr": 1e-3,
            "warmup_shape": "linear",
            "min_warmup_steps": 1,
            "tensorboard": False,
        }
        | train_kw,  # fmt: skip
        "out_dir": str(path.parent / "unused"),
    }
    path.write_text(yaml.safe_dump(cfg), "utf-8")
    return path


def _cli(args, cwd=None, **kw):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lamm.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        **kw,
    )


def test_existing_out_is_refused_without_resume_or_overwrite(setup, tmp_path, capsys):
    """14.1: a second run into the same --out does not silently replace the first one's checkpoints."""
    cfg, out = _config(setup, tmp_path / "run.yaml"), tmp_path / "out"
    assert main(["train", str(cfg), "--out", str(out), "--max-steps", "2", "--quiet"]) == 0
    weights = out / "checkpoints" / "step-0000002" / "model.safetensors"
    before = weights.read_bytes()
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(out), "--max-steps", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds an earlier run" in err and "--resume" in err and "--overwrite" in err
    assert weights.read_bytes() == before and not (out / "checkpoints" / "step-0000001").exists()
    assert main(["train", str(cfg), "--out", str(out), "--max-steps", "1", "--quiet", "--overwrite"]) == 0
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*")) == ["step-0000001"]
    assert [json.loads(x)["step"] for x in (out / "train_log.jsonl").open()] == [1]


def test_resume_refuses_changed_settings(setup, tmp_path, capsys):
    """17.2: changed settings on --resume are named and refused, and config.yaml is left describing the
    run; the same settings resume."""
    cfg, out = _config(setup, tmp_path / "run.yaml"), tmp_path / "out"
    assert (
        main(["train", str(cfg), "train.max_steps=3", "--out", str(out), "--stop-after", "1", "--quiet"]) == 0
    )
    saved = (out / "config.yaml").read_text()
    capsys.readouterr()
    rc = main(
        ["train", str(cfg), "train.max_steps=3", "train.lr=5e-2", "--out", str(out), "--resume", "--quiet"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "train.lr: 0.001 -> 0.05" in err and "differ from the ones it was trained with" in err
    assert (out / "config.yaml").read_text() == saved
    assert not (out / "checkpoints" / "step-0000003").exists()
    assert main(["train", str(cfg), "train.max_steps=3", "--out", str(out), "--resume", "--quiet"]) == 0
    assert [json.loads(x)["step"] for x in (out / "train_log.jsonl").open()] == [1, 2, 3]


def test_resume_refuses_training_data_whose_contents_changed(setup, tmp_path, capsys):
    """Same path, same number of records, other contents: a resume once went on silently over other
    data (the audit); the checkpoint records each data file's SHA-256 and the resume names the file."""
    root, data, model = setup
    shutil.copytree(data.parents[1], tmp_path / "data")
    mine = tmp_path / "data" / data.relative_to(data.parents[1])
    cfg = _config((root, mine, model), tmp_path / "run.yaml")
    out = tmp_path / "out"
    args = ["train", str(cfg), "train.max_steps=3", "--out", str(out), "--quiet"]
    assert main([*args, "--stop-after", "1"]) == 0
    records = json.loads(mine.read_text())
    mine.write_text(json.dumps(records[8:] + records[:8]))
    capsys.readouterr()
    assert main([*args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"data.files[0] {mine}: its contents changed" in err
    assert not (out / "checkpoints" / "step-0000003").exists()
    mine.write_text(json.dumps(records))
    assert main([*args, "--resume"]) == 0


def test_overrides_after_flags_and_resume_path_option(setup, tmp_path, capsys):
    """17.10: `lamm train CFG --quiet k=v` takes the override; 14.16: a `key=value` after --resume is an
    override (not swallowed as a checkpoint path); the path is --resume-from PATH."""
    cfg, out = _config(setup, tmp_path / "run.yaml"), tmp_path / "out"
    assert (
        main(["train", str(cfg), "--quiet", "--out", str(out), "train.max_steps=3", "--stop-after", "1"]) == 0
    )
    assert json.loads((out / "train_log.jsonl").read_text())["step"] == 1
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["max_steps"] == 3
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(out), "--resume", "train.max_steps=3", "train.lr=0.01"]) == 2
    assert "train.lr: 0.001 -> 0.01" in capsys.readouterr().err
    ckpt = out / "checkpoints" / "step-0000001"
    assert main(["train", str(cfg), "--out", str(out), "--resume", str(ckpt)]) == 2
    assert "--resume-from PATH" in capsys.readouterr().err
    latest = out / "checkpoints" / "latest"  # a pointer folder naming step-0000001
    rc = main(
        ["train", str(cfg), "--out", str(out), "--resume-from", str(latest), "train.max_steps=3", "--quiet"]
    )
    assert rc == 0
    assert [json.loads(x)["step"] for x in (out / "train_log.jsonl").open()] == [1, 2, 3]


def test_damaged_trainer_state_is_named_not_a_traceback(setup, tmp_path, capsys):
    """14.10: a pickle with code or a truncated safetensors on --resume: one line naming the file."""
    cfg, out = _config(setup, tmp_path / "run.yaml"), tmp_path / "out"
    first = ["train", str(cfg), "train.max_steps=2", "--out", str(out), "--stop-after", "1", "--quiet"]
    again = ["train", str(cfg), "train.max_steps=2", "--out", str(out), "--resume", "--quiet"]
    assert main(first) == 0
    ckpt = out / "checkpoints" / "step-0000001"
    marker = tmp_path / "pwned"
    state = ckpt / "train_state.pt"
    state.write_bytes(pickle.dumps(_Evil(str(marker))))
    capsys.readouterr()
    assert main(again) == 2
    err = capsys.readouterr().err
    assert f"cannot read {state}" in err and "delete" in err and not marker.exists(), err
    shutil.rmtree(out)
    assert main(first) == 0
    weights = ckpt / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    capsys.readouterr()
    assert main(again) == 2
    assert f"cannot read {weights}" in capsys.readouterr().err
    shutil.rmtree(out)  # a lost RNG file once resumed silently on other random streams (the audit)
    assert main(first) == 0
    (ckpt / "rng-rank0.pt").unlink()
    capsys.readouterr()
    assert main(again) == 2
    assert "rng-rank0.pt is missing, so the run cannot continue exactly" in capsys.readouterr().err


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def test_concurrent_trains_into_one_folder(setup, tmp_path):
    """17.1: a second `lamm train` into a folder another one is writing is refused, naming the holder."""
    cfg, out = _config(setup, tmp_path / "run.yaml", epochs=100), tmp_path / "out"
    first = subprocess.Popen(
        [sys.executable, "-m", "lamm.cli", "train", str(cfg), "train.max_steps=400", "--out", str(out), "--quiet"],
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lock = out / ".lamm.lock"
        deadline = time.time() + 120
        while time.time() < deadline and not (lock.is_file() and f'"pid": {first.pid}' in lock.read_text()):
            time.sleep(0.1)
        second = _cli(["train", cfg, "train.max_steps=400", "--out", out, "--quiet"])
        assert first.poll() is None, "the first run ended before the second tried"
        assert second.returncode == 2
        assert "another process is writing here" in second.stderr and f"pid {first.pid}" in second.stderr
    finally:
        first.kill()
        first.wait()


def test_checkpoint_loads_from_another_directory_and_final_alias(setup, tmp_path, monkeypatch, capsys):
    """14.3: bases given relative to the working directory still load from elsewhere (and after moving
    the whole folder); 14.18: `checkpoints/final` names the last checkpoint for `lamm chat` / `lamm:`."""
    import io

    root, data, model = setup
    work = tmp_path / "work"
    shutil.copytree(root / "base", work / "bases")
    rel = {
        **model,
        "llm": "bases/llm",
        "tokenizer": "bases/llm",
        "encoder": {**model["encoder"], "path": "bases/clip"},
    }
    cfg = _config(setup, tmp_path / "run.yaml", model=rel)
    monkeypatch.chdir(work)
    assert main(["train", str(cfg), "train.max_steps=2", "--out", "runs/x", "--quiet"]) == 0
    ckpts = work / "runs" / "x" / "checkpoints"
    monkeypatch.chdir(tmp_path)
    chat = ["chat", "--checkpoint", str(ckpts / "step-0000002"), "--max-new-tokens", "2", "--device", "cpu"]
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    assert main(chat) == 0
    shutil.move(work, tmp_path / "moved")
    ckpts = tmp_path / "moved" / "runs" / "x" / "checkpoints"
    assert json.loads((ckpts / "final" / "pointer.json").read_text()) == {"checkpoint": "../step-0000002"}
    assert (ckpts / "latest" / "pointer.json").is_file()
    chat[2] = str(ckpts / "final")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    assert main(chat) == 0
    shutil.copytree(ckpts / "step-0000002", tmp_path / "alone")  # without its bases: a clear refusal
    capsys.readouterr()
    assert main([*chat[:2], str(tmp_path / "alone"), *chat[3:]]) == 2
    err = capsys.readouterr().err
    assert "base LLM" in err and "not found (moved?)" in err and "--base-llm PATH" in err


def test_unknown_task_type_is_refused(setup, tmp_path):
    """17.10: a task_type `lamm data validate` flags is not trained on silently (no-system template)."""
    root, data, model = setup
    recs = json.loads(data.read_text())
    recs[2]["task_type"] = "no_such_task"
    bad = data.parent / "bad_task.json"
    bad.write_text(json.dumps(recs))
    cfg = _config(setup, tmp_path / "run.yaml", model={**model, "template": "lamm-v1-nosys"})
    c = yaml.safe_load(cfg.read_text())
    c["data"]["files"] = [{"path": str(bad)}]
    cfg.write_text(yaml.safe_dump(c))
    r = _cli(["train", cfg, "train.max_steps=1", "--out", tmp_path / "out", "--quiet"])
    assert r.returncode == 2 and "record 2" in r.stderr and "unknown task_type 'no_such_task'" in r.stderr, (
        r.stderr
    )


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("tensorboard") is not None, reason="tensorboard is installed here"
)
def test_missing_loggers_are_said(setup, tmp_path, capsys):
    """14.17: TensorBoard on (the default) without the package says so once; wandb=true is refused."""
    cfg = _config(setup, tmp_path / "run.yaml", tensorboard=True)
    assert main(["train", str(cfg), "train.max_steps=2", "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert capsys.readouterr().err.count("the tensorboard package is not installed") == 1
    assert (
        main(["train", str(cfg), "train.max_steps=1", "train.wandb=true", "--out", str(tmp_path / "b")]) == 2
    )
    assert "train.wandb=true needs the wandb package" in capsys.readouterr().err


def _listening(pid: int) -> list[str]:
    """Addresses (hex ip:port, as /proc/net/tcp writes them) on which process ``pid`` listens."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                found.append(cols[1])
    return found


@pytest.mark.skipif(__import__("importlib").util.find_spec("deepspeed") is None, reason="needs deepspeed")
def test_single_process_deepspeed_listens_on_loopback_only(setup, tmp_path):
    """17.8: one-process DeepSpeed training opens no socket on a non-loopback interface."""
    cfg, out = _config(setup, tmp_path / "run.yaml", deepspeed="zero1", epochs=50), tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lamm.cli", "train", str(cfg), "train.max_steps=30", "--out", str(out), "--quiet"],
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: set[str] = set()
    training = False
    try:
        while proc.poll() is None:
            try:
                seen.update(_listening(proc.pid))
            except FileNotFoundError:
                break
            training = training or (out / "train_log.jsonl").is_file()
            time.sleep(0.05)
        _, err = proc.communicate()
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert training
    loopback = ("0100007F:", "0000000000000000FFFF00000100007F:", "00000000000000000000000001000000:")
    assert all(a.startswith(loopback) for a in seen), seen


def _tiny_config(setup, path: Path, **tiny_kw) -> Path:
    root, data, _ = setup
    tiny = {"image_size": 16, "patch_size": 8, "vision_layers": 1, "vision_hidden": 32, "llm_layers": 1,
            "llm_hidden": 32, "heads": 2, "vocab_size": 400, "encoder_pretrain_steps": 10,
            "encoder_pretrain_batch": 8} | tiny_kw  # fmt: skip
    cfg = {
        "tiny": tiny,
        "model": {
            "projector": "linear",
            "template": "lamm-v1-nosys",
            "num_media_tokens": 4,
            "freeze_encoder": True,
            "encoder": {"type": "clip"},
        },  # fmt: skip
        "data": {"files": [{"path": str(data)}], "max_length": 64, "num_workers": 0},
        "train": {"global_batch_size": 4, "micro_batch_size": 4, "max_steps": 1, "tensorboard": False},
    }
    path.write_text(yaml.safe_dump(cfg), "utf-8")
    return path


def test_tiny_base_follows_its_settings_and_pretrains_ten_steps(setup, tmp_path, capsys):
    """14.8: a 10-step tower pre-training runs (no ZeroDivisionError in the one-cycle schedule);
    14.2: OUT/base is rebuilt when a tiny.* setting changed, reused when not; a resume on other
    tiny.* settings is refused."""
    out = tmp_path / "out"
    cfg = _tiny_config(setup, tmp_path / "tiny.yaml")
    assert main(["train", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert json.loads((out / "base" / "clip" / "pretrain.json").read_text())["steps"] == 10
    hidden = lambda: json.loads((out / "base" / "llm" / "config.json").read_text())["hidden_size"]  # noqa: E731
    assert hidden() == 32
    capsys.readouterr()
    assert main(["train", str(cfg), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert "rebuilding" not in capsys.readouterr().out
    # the tower's thread count changes how fast, not what: the base is kept (the quickstart uses 1)
    threads = ["tiny.encoder_pretrain_threads=1", "--out", str(out), "--quiet", "--overwrite"]
    assert main(["train", str(cfg), *threads]) == 0
    assert "rebuilding" not in capsys.readouterr().out
    args = [
        "train",
        str(cfg),
        "tiny.llm_hidden=48",
        "tiny.encoder_pretrain_steps=2",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main([*args, "--resume"]) == 2
    assert "tiny.llm_hidden: 32 -> 48" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    said = capsys.readouterr().out
    assert "rebuilding" in said and "tiny.llm_hidden: 32 -> 48" in said, said
    assert hidden() == 48 and json.loads((out / "base" / "clip" / "pretrain.json").read_text())["steps"] == 2


def test_one_cycle_schedule_runs_for_every_short_length():
    """14.8: both tower pre-trainings (lamm.train.pretrain.clip, .pointcloud) share one_cycle; torch's OneCycleLR
    divided by zero at exactly 10 steps. Every length from 1 to 40 now runs to its end."""
    import torch

    from lamm.train.pretrain.loop import one_cycle

    for steps in range(1, 41):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        sched = one_cycle(opt, 1.0, steps)
        lrs = []
        for _ in range(steps):
            opt.step()
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        assert all(lr == lr and lr >= 0 for lr in lrs), (steps, lrs)


@pytest.mark.slow
def test_quickstart_smoke_run_of_ten_steps(tmp_path):
    """14.8: the documented smoke run `lamm quickstart --max-steps 10` (tower pre-training 10 steps too)."""
    out = tmp_path / "q"
    args = ["quickstart", "--out", str(out), "--train", "16", "--test", "2", "--no-3d", "--max-steps", "10",
            "--max-new-tokens", "4"]  # fmt: skip
    assert main(args) == 0
    assert json.loads((out / "tiny" / "base" / "clip" / "pretrain.json").read_text())["steps"] == 10
    assert [json.loads(x)["step"] for x in (out / "tiny" / "train_log.jsonl").open()][-1] == 10


def test_unreadable_config_is_one_error_line(tmp_path, capsys):
    """A missing, folder or binary config was a raw FileNotFoundError/UnicodeDecodeError traceback."""
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage\x80")
    for name, reason in (("nope.yaml", "file not found"), (".", "IsADirectoryError"),
                         ("bin.yaml", "UnicodeDecodeError")):  # fmt: skip
        assert main(["train", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert (
            err.strip() == f"lamm train: error: {tmp_path / name}: cannot read the training config ({reason})"
        )


def test_non_positive_step_counts_are_refused(tmp_path, capsys):
    """``--max-steps -3`` once 'trained' -3 steps, wrote a run folder and exited 0."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"llm": "x", "encoder": {"type": "clip", "path": "y"}}}))
    for args, msg in ((["--max-steps", "-3"], "train.max_steps (--max-steps) must be >= 1, got -3"),
                      (["train.epochs=0"], "train.epochs must be > 0, got 0.0")):  # fmt: skip
        assert main(["train", str(cfg), "--out", str(tmp_path / "out"), *args]) == 2
        assert capsys.readouterr().err.strip() == f"lamm train: error: {msg}"
    assert not (tmp_path / "out").exists()


def test_samples_cut_to_max_length_are_reported(setup, tmp_path):
    """Official training cuts turns past ``max_tgt_len`` silently; lamm keeps that cut (same token ids)
    but says on stderr how many samples lost their end and names some, so a too-small max_length shows
    (the 3D suite's three-box answers were cut by the tiny-3d preset's 96 without a word)."""
    from transformers import AutoTokenizer

    from lamm.model.template import EmptySupervisionError, encode_sample

    root, data, model = setup
    tok = AutoTokenizer.from_pretrained(model.get("tokenizer") or model["llm"])
    recs = json.loads(data.read_text("utf-8"))

    def cut_at(limit: int) -> list[str]:
        kw = {"num_media_tokens": model["num_media_tokens"], "template": model["template"]}
        return [r["id"] for r in recs if encode_sample(r["conversations"], r["task_type"], tok, max_length=None, **kw).input_ids
                != encode_sample(r["conversations"], r["task_type"], tok, max_length=limit, **kw).input_ids]  # fmt: skip

    def some_cut(limit: int) -> bool:  # every sample keeps a supervised token, some are cut
        try:
            return 0 < len(cut_at(limit)) < len(recs)
        except EmptySupervisionError:
            return False

    limit = next(n for n in range(8, 400) if some_cut(n))
    cut = cut_at(limit)
    cfg = _config(setup, tmp_path / "run.yaml")
    res = _cli(
        ["train", cfg, "--out", tmp_path / "short", "--max-steps", "1", "--quiet", f"data.max_length={limit}"]
    )
    assert res.returncode == 0, res.stderr
    want = (f"[lamm train] {len(cut)} of {len(recs)} samples are longer than data.max_length={limit} text tokens "
            f"and were cut from the end (e.g. {', '.join(cut[:3])}); raise data.max_length to keep them whole")  # fmt: skip
    assert want in res.stderr.splitlines()
    whole = _cli(
        ["train", cfg, "--out", tmp_path / "whole", "--max-steps", "1", "--quiet", "data.max_length=400"]
    )
    assert whole.returncode == 0 and "were cut" not in whole.stderr
