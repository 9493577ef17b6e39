"""Official LAMM deltas (``pytorch_model.pt``) run as they are: ``lamm eval --model lamm:DELTA.pt`` for
2D and, with ``--modality pcl``, 3D; ``lamm checkpoint import-official`` / ``export-official``.

The deltas are written as the official agent saves them (LAMM_FORMATS §5.5): a ``torch.save``d dict of
the trainable parameters in fp16 (DeepSpeed fp16 training), ``llama_proj.*`` and peft's
``llama_model.base_model.model.….lora_[AB].default.weight`` names."""

from __future__ import annotations

import json
from collections import OrderedDict

import pytest
import torch
import yaml
from eval_helpers import make_benchmark_2d, make_benchmark_3d
from model_helpers import tiny_config, tiny_dir
from safetensors.torch import save_file

from lamm.cli import main
from lamm.model.config import LoraSettings, ModelConfig
from lamm.model.lamm_model import build_model
from lamm.model.official_delta import load_official, official_encoder
from lamm.train.config import preset_path

TINY_EPCL = {
    "num_points": 256, "num_groups": 16, "group_size": 8, "hidden_size": 32, "depth": 2, "num_heads": 4,
    "pointnet_dims": [16, 32], "radius": 0.5, "num_prompt_tokens": 3, "num_tokens": 16,
}  # fmt: skip


def save_as_official(model, path):
    """As the official agent: every requires_grad parameter by module path, fp16."""
    state = OrderedDict()
    for name, p in model.named_parameters():
        if p.requires_grad:
            key = name.replace("projector.", "llama_proj.", 1).replace("llm.", "llama_model.", 1)
            state[key] = p.detach().to(torch.float16).clone()
    assert all(k.startswith("llama_proj.") or ".lora_" in k and ".default." in k for k in state)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def delta_2d(tmp_path_factory):
    torch.manual_seed(3)
    model, _ = build_model(tiny_config(lora=True))
    return save_as_official(model, tmp_path_factory.mktemp("d2") / "pytorch_model.pt")


@pytest.fixture(scope="module")
def delta_3d(tmp_path_factory):
    """A 3D delta on a tiny EPCL-style encoder (weights file + the encoder keys that shrink the preset's)."""
    root = tmp_path_factory.mktemp("d3")
    enc = {**official_encoder("pcl", ""), **TINY_EPCL, "weights_format": "auto"}
    enc.pop("path")
    torch.manual_seed(4)
    model, _ = build_model(
        ModelConfig(llm=str(tiny_dir() / "llm"), encoder=enc, num_media_tokens=16, lora=LoraSettings(r=4))
    )
    save_file(
        {
            k[len("encoder.") :]: v.contiguous()
            for k, v in model.state_dict().items()
            if k.startswith("encoder.")
        },
        str(root / "epcl.safetensors"),
    )
    (root / "encoder.yaml").write_text(yaml.safe_dump({**TINY_EPCL, "weights_format": "auto"}), "utf-8")
    return save_as_official(model, root / "pytorch_model.pt"), root


def _base(encoder):
    return ["--base-llm", str(tiny_dir() / "llm"), "--encoder", str(encoder), "--num-media-tokens", "16"]


def _answers(run, name):
    return json.loads((run / "answers" / name).read_text("utf-8"))


def test_eval_runs_a_2d_delta_directly_and_after_import_export(delta_2d, tmp_path, capsys):
    bench = make_benchmark_2d(tmp_path / "2D", n=3)
    common = ["eval", "--benchmark-dir", str(bench), "--datasets", "CIFAR10", "--max-new-tokens", "4"]
    base = _base(tiny_dir() / "clip")
    assert main([*common, "--model", f"lamm:{delta_2d}", *base, "--out", str(tmp_path / "direct")]) == 0
    assert "running it as a 2D (image) delta (--modality pcl for 3D)" in capsys.readouterr().err
    direct = _answers(tmp_path / "direct", "Classification_CIFAR10.json")
    assert [a["id"] for a in direct] == ["c0", "c1", "c2"]
    assert {a["delta_path"] for a in direct} == {str(delta_2d)}
    run = json.loads((tmp_path / "direct" / "run.json").read_text("utf-8"))["answer_options"]
    assert run["base_llm"] == str(tiny_dir() / "llm") and run["num_media_tokens"] == 16

    # import-official states the modality even for 2D (the folder records it for good)
    ckpt = tmp_path / "ckpt"
    assert main(["checkpoint", "import-official", str(delta_2d), *base, "--out", str(ckpt)]) == 2
    assert "pass --modality pcl for a 3D (point-cloud) delta" in capsys.readouterr().err
    args = ["checkpoint", "import-official", str(delta_2d), *base, "--modality", "image", "--out", str(ckpt)]
    assert main(args) == 0
    manifest = json.loads((ckpt / "manifest.json").read_text("utf-8"))
    assert manifest["encoder"]["type"] == "clip" and manifest["lora"]["r"] == 4
    assert main([*common, "--model", f"lamm:{ckpt}", "--out", str(tmp_path / "imported")]) == 0
    imported = _answers(tmp_path / "imported", "Classification_CIFAR10.json")
    assert [a["text"] for a in imported] == [a["text"] for a in direct]
    # the LLaMA-2-chat delta's template is recorded by the import, and the folder prompts with it
    chat = tmp_path / "ckpt-llama2"
    assert main([*args[:-1], str(chat), "--template", "llama2-chat"]) == 0
    assert json.loads((chat / "manifest.json").read_text("utf-8"))["template"]["name"] == "llama2-chat"
    assert main([*common, "--model", f"lamm:{chat}", "--out", str(tmp_path / "llama2")]) == 0
    prompt = json.loads((tmp_path / "llama2" / "answers.jsonl").open().readline())["prompt"][0]
    assert "[INST]" in prompt and "<<SYS>>" in prompt and "### Human" not in prompt, prompt
    assert main([*args[:-1], str(tmp_path / "x"), "--template", "nope"]) == 2

    # export-official: the official layout again, tensor for tensor (fp16 as saved)
    out = tmp_path / "back.pt"
    assert main(["checkpoint", "export-official", str(ckpt), "--out", str(out)]) == 0
    orig, back = torch.load(delta_2d, weights_only=True), torch.load(out, weights_only=True)
    assert sorted(back) == sorted(orig)
    assert all(back[k].dtype == torch.float16 and torch.equal(back[k], orig[k]) for k in orig)
    assert main(["checkpoint", "export-official", str(ckpt), "--out", str(out)]) == 2  # no overwrite


def test_3d_delta_needs_its_modality_stated_then_runs_on_the_epcl_encoder(delta_3d, tmp_path, capsys):
    delta, root = delta_3d
    bench = make_benchmark_3d(tmp_path / "3D", n=2)
    args = ["eval", "--model", f"lamm:{delta}", *_base(root / "epcl.safetensors"), "--benchmark-dir",
            str(bench), "--max-new-tokens", "3", "--encoder-config", str(root / "encoder.yaml")]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert "does not record its modality" in err and "pass --modality pcl for a 3D" in err
    assert not (tmp_path / "refused").exists()  # refused before any model is loaded

    assert main([*args, "--modality", "pcl", "--out", str(tmp_path / "run")]) == 0
    answers = _answers(tmp_path / "run", "VQA_ScanQA_multiplechoice.json")
    assert [a["id"] for a in answers] == ["s0", "s1"] and all(isinstance(a["text"], str) for a in answers)
    results = json.loads((tmp_path / "run" / "results.json").read_text("utf-8"))
    assert results["datasets"]["ScanQA_multiplechoice"]["n_answered"] == 2
    rows = [json.loads(x) for x in (tmp_path / "run" / "answers.jsonl").open()]
    assert all("<Pcl>" in p or "<Img>" in p for r in rows for p in r["prompt"])


def test_pcl_deltas_load_onto_the_lamm_13b_3d_encoder(delta_3d):
    enc = official_encoder("pcl", "/models/epcl.pth")
    preset = yaml.safe_load(preset_path("lamm-13b-3d").read_text("utf-8"))
    assert enc == {**preset["model"]["encoder"], "path": "/models/epcl.pth"}
    assert (enc["style"], enc["hidden_size"], enc["num_tokens"], enc["depth"]) == ("epcl", 1024, 256, 24)
    assert official_encoder("image", "clip") == {"type": "clip", "feature": "local", "path": "clip"}
    # the 3D delta's weights land where they belong: projector and LoRA equal the fp16 file's values
    delta, root = delta_3d
    model, _ = load_official(
        delta, base_llm=str(tiny_dir() / "llm"), encoder=str(root / "epcl.safetensors"), modality="pcl",
        num_media_tokens=16, encoder_options={**TINY_EPCL, "weights_format": "auto"},
    )  # fmt: skip
    raw = torch.load(delta, weights_only=True)
    assert model.modality == "pcl" and model.encoder.cfg.style == "epcl"
    assert torch.equal(model.projector.weight.to(torch.float16), raw["llama_proj.weight"])


def test_chat_refuses_a_point_cloud_without_modality_and_other_adapters_refuse_base_options(
    delta_3d, tmp_path, capsys
):
    import numpy as np

    delta, root = delta_3d
    np.save(tmp_path / "scene.npy", np.zeros((64, 3), dtype=np.float32))
    chat = ["chat", "--checkpoint", str(delta), *_base(root / "epcl.safetensors"), "--image"]
    assert main([*chat, str(tmp_path / "scene.npy")]) == 2
    assert "lamm chat:" in (err := capsys.readouterr().err) and "pass --modality pcl for a 3D" in err
    bench = make_benchmark_2d(tmp_path / "2D", n=1)
    args = [
        "eval",
        "--model",
        "baseline:trivial",
        "--benchmark-dir",
        str(bench),
        "--out",
        str(tmp_path / "r"),
    ]
    assert main([*args, "--encoder", "clip"]) == 2
    assert "--encoder applies to lamm: models only" in capsys.readouterr().err


def test_dtype_option_loads_delta_and_imported_folder_alike(delta_2d, tmp_path, capsys):
    """``--dtype``: a delta loads bf16 on GPU by default and its imported folder in the float32 it
    records; the same ``--dtype`` makes both the same model (same answers), and it joins the resume check."""
    bench = make_benchmark_2d(tmp_path / "2D", n=3)
    common = ["eval", "--benchmark-dir", str(bench), "--datasets", "CIFAR10", "--max-new-tokens", "4"]
    base = _base(tiny_dir() / "clip")
    ckpt = tmp_path / "ckpt"
    assert (
        main(
            ["checkpoint", "import-official", str(delta_2d), *base, "--modality", "image", "--out", str(ckpt)]
        )
        == 0
    )
    assert json.loads((ckpt / "config.json").read_text("utf-8"))["dtype"] == "float32"
    direct = ["--model", f"lamm:{delta_2d}", *base, "--out", str(tmp_path / "direct")]
    assert main([*common, *direct, "--dtype", "bf16"]) == 0
    folder = ["--model", f"lamm:{ckpt}", "--out", str(tmp_path / "folder")]
    assert main([*common, *folder, "--dtype", "bf16"]) == 0
    for run in ("direct", "folder"):
        assert json.loads((tmp_path / run / "results.json").read_text())["run"]["decoding"]["dtype"] == (
            "torch.bfloat16"
        )
    texts = {run: [a["text"] for a in _answers(tmp_path / run, "Classification_CIFAR10.json")] for run in ("direct", "folder")}  # fmt: skip
    assert texts["direct"] == texts["folder"]
    capsys.readouterr()
    assert main([*common, *folder]) == 2  # the folder's answers are bf16 ones: float32 would mix two models
    assert "dtype: 'bf16' there, 'unset' now" in capsys.readouterr().err
    args = [
        "eval",
        "--model",
        "baseline:trivial",
        "--benchmark-dir",
        str(bench),
        "--out",
        str(tmp_path / "b"),
    ]
    assert main([*args, "--dtype", "fp16"]) == 2
    assert "--dtype applies to lamm: models only" in capsys.readouterr().err
    # a mistyped delta path is said to be missing (was "no manifest.json; not a lamm checkpoint")
    missing = tmp_path / "pytorch_model_typo.pt"
    assert main([*common, "--model", f"lamm:{missing}", *base, "--out", str(tmp_path / "m")]) == 2
    assert f"{missing}: no such checkpoint folder or official .pt file" in capsys.readouterr().err


def test_unreadable_delta_files_are_one_line_errors(tmp_path, capsys):
    """Empty, truncated and foreign-pickle .pt files: named one-line errors in eval and chat (an empty file
    was a raw EOFError in eval, a truncated one a raw CheckpointError traceback in chat), and the refusal
    to unpickle never passes on torch's advice to load with weights_only=False."""
    from fractions import Fraction

    from lamm.model.official_delta import export_official

    torch.manual_seed(0)
    model, _ = build_model(tiny_config(lora=True))
    good = export_official(model, tmp_path / "pytorch_model.pt")
    files = {"empty": b"", "truncated": good.read_bytes()[:2000]}
    for name, data in files.items():
        (tmp_path / f"{name}.pt").write_bytes(data)
    torch.save({"x": Fraction(1, 3)}, tmp_path / "foreign.pt")
    bench = make_benchmark_2d(tmp_path / "2D", n=1)
    base = _base(tiny_dir() / "clip")
    for name, says in [("empty", "not a readable torch.save file (empty file)"),
                       ("truncated", "not a readable torch.save file"),
                       ("foreign", "not a plain dict of tensors; refusing to unpickle it (Unsupported global: GLOBAL fractions.Fraction")]:  # fmt: skip
        delta = tmp_path / f"{name}.pt"
        args = [
            "eval",
            "--model",
            f"lamm:{delta}",
            *base,
            "--benchmark-dir",
            str(bench),
            "--out",
            str(tmp_path / name),
        ]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"lamm: error: {delta}: {says}" in err and "weights_only" not in err, err
        assert main(["chat", "--checkpoint", str(delta), *base]) == 2
        assert f"lamm chat: error: {delta}: {says}" in capsys.readouterr().err


def test_bad_base_options_are_one_line_errors(delta_2d, tmp_path, capsys):
    """A missing --base-llm/--encoder folder is said before anything loads (was transformers' OSError
    traceback, 'Repo id must be in the form ...'), in eval, chat and import-official; an unreadable
    --encoder-config is one line in eval (was a CheckpointError traceback)."""
    bench = make_benchmark_2d(tmp_path / "2D", n=1)
    nollm = tmp_path / "vicuna-typo"
    bases = ["--base-llm", str(nollm), "--encoder", str(tiny_dir() / "clip")]
    run = ["eval", "--model", f"lamm:{delta_2d}", "--benchmark-dir", str(bench), "--out", str(tmp_path / "r")]
    for args, prefix in [
        (run + bases, "lamm: error: "),
        (["chat", "--checkpoint", str(delta_2d), *bases], "lamm chat: error: "),
        (["checkpoint", "import-official", str(delta_2d), *bases, "--modality", "image", "--out", str(tmp_path / "c")],
         "lamm: error: "),
    ]:  # fmt: skip
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"{prefix}--base-llm {nollm}: no such folder or file" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "c").exists()
    (tmp_path / "enc.yaml").write_text("num_points: [\n")
    args = [*run, *_base(tiny_dir() / "clip"), "--encoder-config", str(tmp_path / "enc.yaml")]
    assert main(args) == 2
    assert f"lamm: error: --encoder-config {tmp_path / 'enc.yaml'}: cannot read it" in capsys.readouterr().err
