"""``hf:`` on tiny random checkpoints of every supported image-text-to-text family, through ``lamm eval``.

Per family: the rendered prompt holds the image placeholder exactly once, in the user turn where the family
puts it; the model's input ids hold exactly one BOS (none for families without one); answers at batch 4
(mixed image sizes, left padding, nested images) equal those at batch 1 (greedy, fp32).
Checkpoints are built in ``tests/hf_families.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import make_benchmark_2d
from hf_families import FAMILIES, HAS_TORCHVISION, QWEN_IMAGE, Family, qwen2_vl
from PIL import Image

from lamm.bench.eval.adapters import GenRequest
from lamm.bench.eval.adapters.hf import HFAdapter
from lamm.bench.eval.adapters.hf_load import load_model
from lamm.cli import main

SIZES = [(12, 16), (40, 24), (20, 64), (33, 33)]  # (h, w): portrait, landscape, wide, square


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = make_benchmark_2d(tmp_path_factory.mktemp("bench") / "2D", n=4)
    for folder in ("cifar10_images", "sqaimage_images"):
        for i, (h, w) in enumerate(SIZES):
            pixels = np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / folder / f"{i}.png")
    return root


def lamm_eval(model, bench, out, *extra: str) -> int:
    return main(
        ["eval", "--model", f"hf:{model}", "--benchmark-dir", str(bench), "--datasets", "CIFAR10,SQAimage",
         "--out", str(out), "--max-new-tokens", "4", "--no-score", "--device", "cpu", *extra]
    )  # fmt: skip


def rows(out):
    return [json.loads(line) for line in (out / "answers.jsonl").open()]


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_family_end_to_end(family: Family, bench, tmp_path):
    for pkg in family.needs:
        pytest.importorskip(pkg, reason=f"{family.name}'s processor needs {pkg} (pip install 'lamm[hf]')")
    model = family.build(tmp_path / "ckpt")
    for bs in (1, 4):
        assert (
            lamm_eval(
                model, bench, tmp_path / f"b{bs}", "--batch-size", str(bs), "--model-args", "dtype=float32"
            )
            == 0
        )
    one, four = rows(tmp_path / "b1"), rows(tmp_path / "b4")
    texts = [(r["dataset"], r["index"], r["text"]) for r in four]
    assert texts == [(r["dataset"], r["index"], r["text"]) for r in one] and len(texts) == 8
    # single-pass answers (SQAimage's text also holds its second-pass prompt): not all empty, or the
    # comparison would be vacuous (an encoder-decoder sliced by the prompt length answers "")
    assert any(t for d, _, t in texts if d == "CIFAR10"), texts

    adapter = HFAdapter(str(model), max_new_tokens=4, device="cpu")
    request = GenRequest(bench / "cifar10_images/1.png", "image", "SYS", "What is the object in the image?")
    prompt = four[0]["prompt"][0]
    if family.image:
        assert prompt.count(family.image) == 1, prompt
        assert family.before + family.image in prompt, prompt
    else:  # plain prompt: system message, newline, query; the processor inserts the image tokens
        assert prompt.startswith("You are an AI visual assistant") and prompt.endswith(
            "\nWhat is the object in the image?"
        )
    ids = adapter.encode([request])["input_ids"][0].tolist()
    tok = adapter.processor.tokenizer
    if family.bos is None:
        assert tok.bos_token is None or tok.bos_token_id not in ids
    else:
        assert tok.bos_token == family.bos and ids.count(tok.bos_token_id) == 1, tok.convert_ids_to_tokens(
            ids
        )
    run = json.loads((tmp_path / "b4" / "results.json").read_text())["run"]
    assert (
        run["decoding"]["model_args"] == {"dtype": "float32"} and run["decoding"]["dtype"] == "torch.float32"
    )


def test_model_args_processor_options_resume_and_errors(bench, tmp_path, capsys, monkeypatch):
    model = qwen2_vl(tmp_path / "ckpt")
    request = GenRequest(bench / "cifar10_images/2.png", "image", "", "q")  # 20 x 64 px

    def n_image_tokens(**model_args):
        adapter = HFAdapter(str(model), device="cpu", model_args=model_args)
        ids = adapter.encode([request])["input_ids"][0].tolist()
        return ids.count(adapter.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>"))

    # min/max_pixels reach the image processor: 20x64 px -> 28x56 (2 tokens of 28x28 px), capped at one
    # token by max_pixels=784, raised to 8 tokens by min_pixels=3136 (the checkpoint caps at 3136)
    assert n_image_tokens() == 2 and n_image_tokens(max_pixels=784) == 1
    assert n_image_tokens(min_pixels=3136, max_pixels=6272) == 8
    assert lamm_eval(model, bench, tmp_path / "r", "--model-args", "dtype=float32,max_pixels=784") == 0
    run = json.loads((tmp_path / "r" / "results.json").read_text())["run"]
    assert run["decoding"]["model_args"] == {"dtype": "float32", "max_pixels": 784}
    capsys.readouterr()
    # resuming with other model args is refused, naming them
    assert lamm_eval(model, bench, tmp_path / "r", "--model-args", "dtype=float32") == 2
    err = capsys.readouterr().err
    assert "model_args: {" in err and "'max_pixels': 784" in err
    # an option nothing in the processor knows is an error, not silently ignored
    assert lamm_eval(model, bench, tmp_path / "x", "--model-args", "max_pixel=10") == 2
    assert "max_pixel=...: neither a model option" in capsys.readouterr().err
    assert lamm_eval(model, bench, tmp_path / "x", "--model-args", "dtype=fp8") == 2
    assert "dtype='fp8'; one of auto, float32" in capsys.readouterr().err
    assert lamm_eval(model, bench, tmp_path / "x", "--model-args", "trust_remote_code=yes") == 2
    assert "trust_remote_code='yes'; true or false" in capsys.readouterr().err
    assert main(["eval", "--model", "baseline:trivial", "--benchmark-dir", str(bench), "--out", str(tmp_path / "x"),
                 "--model-args", "dtype=float32"]) == 2  # fmt: skip
    assert "--model-args is for hf: models" in capsys.readouterr().err

    # system_role=false folds the system message into the user turn
    folded = HFAdapter(str(model), device="cpu", model_args={"system_role": False})
    text = folded.render(GenRequest(request.media, "image", "SYS", "q"))
    assert text.startswith("<|im_start|>user\n" + QWEN_IMAGE + "SYS\nq<|im_end|>"), text
    # device_map replaces --device: accelerate places the model (here all on the CPU) and the inputs follow it
    assert lamm_eval(model, bench, tmp_path / "dm", "--model-args", "device_map=cpu", "--limit", "1") == 0
    run = json.loads((tmp_path / "dm" / "results.json").read_text())["run"]
    assert run["decoding"]["model_args"] == {"device_map": "cpu"} and run["decoding"]["device"] == "cpu"
    # one model sharded over the node's GPUs does not mix with torchrun's one model copy per rank
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(
        ValueError, match="device_map=auto shards one model over the node's GPUs; run one process"
    ):
        load_model(str(model), "hf:m", {"device_map": "auto"}, "cpu")


def test_datasets_list_and_unknown_name(tmp_path, capsys):
    assert main(["eval", "--datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "2D_Benchmark, --mode common: CIFAR10, VOC2012, SQAimage" in out
    assert "2D_Benchmark, --mode locating: VOC2012, LSP, FSC147" in out
    assert "3D_Benchmark, --mode common: ScanNet, ScanRefer, ScanQA_multiplechoice" in out
    bench = make_benchmark_2d(tmp_path / "2D", n=1)
    rc = main(["eval", "--model", "baseline:trivial", "--benchmark-dir", str(bench), "--datasets", "CIFAR100",
               "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "unknown dataset 'CIFAR100'" in err and "2D_Benchmark, --mode common: CIFAR10" in err
    assert "Traceback" not in err


@pytest.mark.skipif(HAS_TORCHVISION, reason="checks the message given when torchvision is not installed")
def test_processor_needing_torchvision_is_named(tmp_path, capsys):
    """Mistral3's Pixtral processor (like Phi-4-multimodal's image processor) exists only with torchvision."""
    from transformers import Mistral3Config

    Mistral3Config().save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "processor_config.json").write_text(json.dumps({"processor_class": "PixtralProcessor"}))
    bench = make_benchmark_2d(tmp_path / "2D", n=1)
    assert lamm_eval(tmp_path / "m", bench, tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "this model needs the Python package 'torchvision', which is not installed" in err
    assert "Traceback" not in err


def test_broken_torchvision_is_reported(tmp_path):
    """A torchvision that is installed but does not import (PyPI's CUDA wheel on CPU torch) breaks
    transformers' Auto classes; the adapter names it before importing them. A stand-in package that
    raises like the real one is put first on the path of a ``lamm eval`` subprocess."""
    fake = tmp_path / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    bench = make_benchmark_2d(tmp_path / "2D", n=1)
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(root)])}
    proc = subprocess.run(
        [sys.executable, "-m", "lamm.cli", "eval", "--model", f"hf:{tmp_path / 'ckpt'}", "--benchmark-dir",
         str(bench), "--datasets", "CIFAR10", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert (
        "torchvision is installed but does not import (RuntimeError: operator torchvision::nms" in proc.stderr
    )
    assert "Traceback" not in proc.stderr


def test_over_long_prompt_fails_that_record_by_name(bench, tmp_path, capsys):
    """An hf: prompt longer than the language model's positions fails its record (named), not the run."""
    model = FAMILIES[0].build(tmp_path / "ckpt")  # LLaVA-1.5: ~530 prompt tokens with the image
    cfg_file = model / "config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["text_config"]["max_position_embeddings"] = 256  # RoPE: no weight depends on it
    cfg_file.write_text(json.dumps(cfg))
    assert lamm_eval(model, bench, tmp_path / "r") == 1  # a failed record stops the run, named
    assert "exceeds the model's context length of 256 tokens" in capsys.readouterr().err
    assert lamm_eval(model, bench, tmp_path / "s", "--on-error", "skip") == 0
    errors = [json.loads(line) for line in (tmp_path / "s" / "errors.jsonl").open()]
    assert len(errors) == 8 and all("context length of 256" in e["error"] for e in errors), errors[:1]


def test_remote_code_runs_only_when_asked_for(bench, tmp_path):
    """A checkpoint that ships its own code (``auto_map``) is loaded with transformers' own class unless
    ``--model-args trust_remote_code=true``; the shipped modules record in a marker file when imported."""
    model = FAMILIES[0].build(tmp_path / "ckpt")  # LLaVA-1.5, a family transformers ships
    marker = tmp_path / "remote-code-ran"
    (model / "configuration_custom.py").write_text(
        f"from transformers import LlavaConfig\nopen({str(marker)!r}, 'a').write('config\\n')\n\n\n"
        "class CustomLlavaConfig(LlavaConfig):\n    pass\n"
    )
    (model / "modeling_custom.py").write_text(
        "from transformers import LlavaForConditionalGeneration\n"
        f"from .configuration_custom import CustomLlavaConfig\nopen({str(marker)!r}, 'a').write('model\\n')\n\n\n"
        "class CustomLlava(LlavaForConditionalGeneration):\n    config_class = CustomLlavaConfig\n"
    )
    cfg = json.loads((model / "config.json").read_text())
    cfg["auto_map"] = {
        "AutoConfig": "configuration_custom.CustomLlavaConfig",
        "AutoModelForImageTextToText": "modeling_custom.CustomLlava",
    }
    (model / "config.json").write_text(json.dumps(cfg))
    # not asked for: in process (transformers copies shipped code into its modules cache only when trusted)
    assert lamm_eval(model, bench, tmp_path / "default", "--limit", "1") == 0
    assert not marker.exists()  # the shipped code never ran
    run_info = json.loads((tmp_path / "default" / "results.json").read_text())["run"]
    assert run_info["decoding"]["model_args"] == {}
    # asked for: a subprocess, so the shipped modules land in this test's own modules cache
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "HF_MODULES_CACHE": str(tmp_path / "modules")}
    cmd = [sys.executable, "-m", "lamm.cli", "--quiet", "eval", "--model", f"hf:{model}", "--benchmark-dir",
           str(bench), "--datasets", "CIFAR10", "--limit", "1", "--max-new-tokens", "2", "--no-score",
           "--device", "cpu", "--out", str(tmp_path / "trusted"), "--model-args", "trust_remote_code=true"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert marker.read_text().splitlines().count("model") == 1  # asked for: the shipped model class ran
    run_info = json.loads((tmp_path / "trusted" / "results.json").read_text())["run"]
    assert run_info["decoding"]["model_args"] == {"trust_remote_code": True}


def test_unloadable_model_names_are_one_line_errors(bench, tmp_path, capsys):
    """A missing folder, a name neither a folder nor in the (offline) hub cache, a folder without weights:
    each one line naming the model (a relative missing path was a raw OSError traceback)."""
    assert lamm_eval(tmp_path / "missing", bench, tmp_path / "a") == 2
    assert f"no such folder {tmp_path / 'missing'} (hub ids look like ORG/NAME)" in capsys.readouterr().err
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # conftest: the hub lookup fails without the network
    assert lamm_eval("runs/missing-model", bench, tmp_path / "b") == 2
    err = capsys.readouterr().err
    assert (
        "hf:runs/missing-model: cannot load 'runs/missing-model': not a local folder, and transformers" in err
    )
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    model = FAMILIES[0].build(tmp_path / "ckpt")
    (model / "model.safetensors").unlink()
    assert lamm_eval(model, bench, tmp_path / "c") == 2
    err = capsys.readouterr().err
    assert f"cannot load {str(model)!r}: transformers says: " in err and "model.safetensors" in err
    assert "Traceback" not in err
