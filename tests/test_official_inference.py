"""Official LAMM inference, string for string (issue 13 items 1, 2, 3): the 3D vision tags of both
protocols, the two-pass VQA whitespace and the decoding options of ``lamm eval``.

Golden strings are copied from OpenGVLab/LAMM at commit 78fc728 (v1):

* src/model/openlamm.py L158 ``PROMPT_START = f'### Human: {VISION_TAGS["sov"][vision_type]}'`` and L603
  ``p_after_texts = [f"{eov} " + prompt + "\\n### Assistant:" for prompt in prompt_list]``;
  L178 ``self.vision_type = args["vision_type"] if "vision_type" in args else "image"``.
* src/inference_3d.py L90-97 ``conv.system = sys_msg`` ... ``prompts += conv.system`` ...
  ``prompts += "{} {}: {}\\n".format(conv.sep, conv.roles[0], input)`` (conv ``simple``: sep "###",
  roles Human/Assistant); it has no ``--vision_type`` option, so point clouds get ``<Img>``.
* src/inference_3d.py L155 ``res.split('###')[0]``, L167 ``prompt_1 + response_1 + ' ###\\nANSWER:'``,
  L172 ``reasoning + '\\n The answer is ' + option``; L146-147 ``top_p=0.9, temperature=1.0``.
* src/scripts/train_lamm3d.sh L17 ``--vision_type pcl`` (the 3D models were trained with ``<Pcl>``);
  src/scripts/inference_3D.sh L17 ``--max_tgt_len 800``, inference_2D.sh L17 ``--max_tgt_len 400``.
"""

from __future__ import annotations

import json

import pytest
import torch
from eval_helpers import EchoAdapter, make_benchmark_2d, make_benchmark_3d
from model_helpers import tiny_config

from lamm.bench.eval.config import EvalConfig
from lamm.bench.eval.datasets import select_datasets
from lamm.bench.eval.decoding import decoding_options
from lamm.bench.eval.runner import evaluate
from lamm.cli import main
from lamm.model.checkpoint import load_checkpoint, save_trainable
from lamm.model.generate import GenItem, generate
from lamm.model.lamm_model import build_model
from lamm.tasks import find_dataset

PCL_ENCODER = {"type": "pointcloud", "num_points": 256, "num_groups": 16, "group_size": 8,
               "hidden_size": 32, "depth": 2, "num_heads": 4}  # fmt: skip


def official_3d_prompt(sov: str, eov: str, sys_msg: str, query: str) -> str:
    """The official v1 3D inference text around the media (openlamm.py L158/L603, inference_3d.py L94-97)."""
    prompt = sys_msg + "{} {}: {}\n".format("###", "Human", query)
    return f"### Human: {sov}" + "<media>" + f"{eov} " + prompt + "\n### Assistant:"


@pytest.fixture(scope="module")
def pcl_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model, tok = build_model(tiny_config(encoder=PCL_ENCODER))
    return save_trainable(model, tmp_path_factory.mktemp("pcl") / "ckpt", tokenizer=tok)


def _rows(run):
    return [json.loads(line) for line in (run / "answers.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("protocol", "sov", "eov"), [("lamm", "<Pcl>", "</Pcl>"), ("lamm-v1", "<Img>", "</Img>")]
)
def test_3d_vision_tags_and_two_pass_whitespace(pcl_ckpt, tmp_path, capsys, protocol, sov, eov):
    bench = make_benchmark_3d(tmp_path / "3D", n=2)
    run = tmp_path / "run"
    args = ["eval", "--model", f"lamm:{pcl_ckpt}", "--benchmark-dir", str(bench), "--out", str(run),
            "--protocol", protocol, "--max-new-tokens", "6", "--no-score"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    spec = find_dataset("ScanQA_multiplechoice", "common")
    meta = json.loads((bench / "meta_file" / "VQA_ScanQA_multiplechoice.json").read_text())
    results = json.loads((run / "results.json").read_text())
    assert results["run"]["decoding"]["vision_tags"] == ("image" if protocol == "lamm-v1" else "pcl")
    model, tok = load_checkpoint(pcl_ckpt)
    pre = model.encoder.preprocessor()
    tags = "image" if protocol == "lamm-v1" else None
    for row, rec in zip(_rows(run), meta):
        q = rec["query"]
        first, second = row["prompt"]
        assert first == official_3d_prompt(sov, eov, spec.system_message, q)
        # the stored text is official r + '\n The answer is ' + r2, with r exactly as generated (raw)
        media = pre(str(bench / rec["pcl"]))
        r = generate(
            model, tok, [GenItem(media, spec.system_message, q)], max_new_tokens=6, vision_tags=tags
        )[0]
        r2 = generate(
            model, tok, [GenItem(media, spec.system_message, q + r + " ###\nANSWER:")], max_new_tokens=6,
            vision_tags=tags,
        )[0]  # fmt: skip
        assert row["text"] == r + "\n The answer is " + r2
        assert second == official_3d_prompt(sov, eov, spec.system_message, q + r + " ###\nANSWER:")
    # the other protocol would prompt differently: the run folder refuses to mix them
    other = "lamm" if protocol == "lamm-v1" else "lamm-v1"
    assert main([*args[:-5], "--protocol", other, "--max-new-tokens", "6", "--no-score"]) == 2
    err = capsys.readouterr().err
    assert "vision_tags:" in err and "choose another --out" in err


class PaddedEcho(EchoAdapter):
    """Answers with the padding whitespace a LLaMA decode leaves: ' text\\n' (as before '###')."""

    def generate(self, requests):
        return [f" {a}\n" for a in super().generate(requests)]


def test_vqa_second_pass_and_stored_text_keep_the_raw_first_answer(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=2)
    run = tmp_path / "run"
    evaluate(EvalConfig("py:x", bench, select_datasets(bench, "SQAimage"), run, score=False), PaddedEcho())
    for row in _rows(run):
        rec = json.loads((bench / "meta_file" / "VQA_SQAimage.json").read_text())[row["index"]]
        r = row["text"].split("\n The answer is ")[0]
        assert r.startswith(" ") and r.endswith("\n")  # not stripped
        assert row["prompt"][1].endswith(rec["query"] + r + " ###\nANSWER:")
        assert row["text"].endswith("\n The answer is  (A)\n") or row["text"].endswith(
            "\n The answer is  (B)\n"
        )
    # scoring tolerates the whitespace: the same answers stripped score the same
    stripped = tmp_path / "stripped"
    evaluate(EvalConfig("py:x", bench, select_datasets(bench, "SQAimage"), stripped), EchoAdapter())
    raw = evaluate(EvalConfig("py:x", bench, select_datasets(bench, "SQAimage"), run), PaddedEcho())
    ref = json.loads((stripped / "results.json").read_text())
    assert raw["datasets"]["SQAimage"]["value"] == ref["datasets"]["SQAimage"]["value"]


# ------------------------------------------------------------------------------------------ decoding


def test_official_decoding_preset_per_modality_and_flag_checks():
    official = {"do_sample": True, "top_p": 0.9, "top_k": 50, "temperature": 1.0}
    assert decoding_options("official", {"2d"}) == {**official, "max_new_tokens": 400}
    assert decoding_options("official", {"3d"}) == {**official, "max_new_tokens": 800}
    assert decoding_options("official", {"3d"}, temperature=0.7, max_new_tokens=64) == {
        **official, "temperature": 0.7, "max_new_tokens": 64}  # fmt: skip
    assert decoding_options("greedy", {"2d"}) == {}
    assert decoding_options("greedy", {"2d"}, do_sample=True, top_k=0) == {"do_sample": True, "top_k": 0}
    with pytest.raises(ValueError, match="--top-p, --temperature only apply when sampling"):
        decoding_options("greedy", {"2d"}, top_p=0.5, temperature=0.3)
    with pytest.raises(ValueError, match="--top-p must be in"):
        decoding_options("greedy", {"2d"}, do_sample=True, top_p=1.5)


def test_sampled_eval_is_seeded_recorded_and_resumes_only_alike(tmp_path, capsys):
    torch.manual_seed(0)
    model, tok = build_model(tiny_config())
    ckpt = save_trainable(model, tmp_path / "ckpt", tokenizer=tok)
    bench = make_benchmark_2d(tmp_path / "2D", n=3)

    def run(out, *extra):
        args = ["eval", "--model", f"lamm:{ckpt}", "--benchmark-dir", str(bench), "--out", str(tmp_path / out),
                "--datasets", "CIFAR10", "--max-new-tokens", "8", "--no-score", "--device", "cpu", *extra]  # fmt: skip
        return main(args)

    assert run("a", "--decoding", "official", "--seed", "1") == 0
    assert run("b", "--decoding", "official", "--seed", "1") == 0
    assert run("c", "--decoding", "official", "--seed", "2") == 0
    assert run("g") == 0
    texts = {k: [r["text"] for r in _rows(tmp_path / k)] for k in "abcg"}
    assert texts["a"] == texts["b"]  # same seed, same samples
    assert texts["a"] != texts["c"]  # another seed, other samples
    assert texts["a"] != texts["g"]  # sampled, not greedy
    dec = json.loads((tmp_path / "a" / "results.json").read_text())["run"]["decoding"]
    assert {k: dec[k] for k in ("do_sample", "top_p", "top_k", "temperature", "max_new_tokens")} == {
        "do_sample": True, "top_p": 0.9, "top_k": 50, "temperature": 1.0, "max_new_tokens": 8}  # fmt: skip
    greedy = json.loads((tmp_path / "g" / "results.json").read_text())["run"]["decoding"]
    assert greedy["do_sample"] is False and "top_p" not in greedy
    capsys.readouterr()
    # a resume with another temperature or seed is refused, naming the setting
    assert run("a", "--decoding", "official", "--seed", "1", "--temperature", "0.5") == 2
    assert "temperature: 1.0 there, 0.5 now" in capsys.readouterr().err
    assert run("a", "--decoding", "official", "--seed", "3") == 2
    assert "seed: 1 there, 3 now" in capsys.readouterr().err
    assert run("a", "--decoding", "official", "--seed", "1") == 0  # the same settings resume
    assert run("x", "--top-p", "0.5") == 2
    assert "--top-p only apply when sampling: add --do-sample" in capsys.readouterr().err


def test_openai_sampling_options_reach_the_request(tmp_path, monkeypatch):
    from servers.openai_stub import OpenAIStub

    from lamm.bench.eval.adapters import GenRequest, build_adapter

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    req = GenRequest(None, "image", "SYS", "What is it?")
    with OpenAIStub() as stub:
        greedy = build_adapter(f"openai:m@{stub.base_url}", max_new_tokens=8)
        sampled = build_adapter(
            f"openai:m@{stub.base_url}", **decoding_options("official", {"2d"}, max_new_tokens=8)
        )
        greedy.generate([req])
        sampled.generate([GenRequest(None, "image", "SYS", "Another?")])
    assert [(e["temperature"], e["top_p"]) for e in stub.log] == [(0.0, None), (1.0, 0.9)]
    assert sampled.decoding()["top_p"] == 0.9


def test_scorers_tolerate_the_raw_whitespace(tmp_path):
    """Raw answers (' text\\n', as a LLaMA decode before '###' leaves them) score exactly as stripped ones,
    on every LAMM-Mini dataset (2D and 3D), both protocols."""
    from lamm.bench.score import score_dataset
    from lamm.data.mini import build_mini
    from lamm.data.mini.oracle import oracle_answers
    from lamm.tasks import datasets_2d, datasets_3d

    build_mini(tmp_path, seed=3, train=2, test=6, image_size=64, progress=False)
    lamm_3d = [s for s in datasets_3d() if not s.suite_task]  # the 3D suite's files need --suite-3d

    def raw(text):
        return {k: raw(v) for k, v in text.items()} if isinstance(text, dict) else f" {text}\n"

    checked = 0
    for bench, specs in (
        (tmp_path / "2D_Benchmark", datasets_2d()),
        (tmp_path / "3D_Benchmark", lamm_3d),
    ):
        for spec in specs:
            answers = oracle_answers(bench, spec)
            padded = [{**a, "text": raw(a["text"])} for a in answers]
            for protocol in ("lamm", "lamm-v1"):
                a = score_dataset(bench, spec, answers, protocol=protocol)
                b = score_dataset(bench, spec, padded, protocol=protocol)
                assert (b["value"], b["parse_failure_rate"]) == (a["value"], a["parse_failure_rate"]), (
                    spec.key
                )
                checked += 1
    assert checked == 2 * (len(datasets_2d()) + len(lamm_3d))


def test_eval_template_option_prompts_with_that_template(pcl_ckpt, tmp_path, capsys):
    bench = make_benchmark_3d(tmp_path / "3D", n=1)
    args = ["eval", "--model", f"lamm:{pcl_ckpt}", "--benchmark-dir", str(bench), "--out", str(tmp_path / "r"),
            "--max-new-tokens", "2", "--no-score"]  # fmt: skip
    assert main([*args, "--template", "llama2-chat"]) == 0
    (row,) = _rows(tmp_path / "r")
    assert row["prompt"][0].startswith("  [INST]: <Pcl><media></Pcl> [INST]<<SYS>>\n")
    assert row["prompt"][0].endswith("\n \n  [/INST]:")
    assert (
        json.loads((tmp_path / "r" / "results.json").read_text())["run"]["decoding"]["template"]
        == "llama2-chat"
    )
    capsys.readouterr()
    assert main(args) == 2  # resuming with the checkpoint's own template would mix two layouts
    assert "template: 'llama2-chat' there, 'unset' now" in capsys.readouterr().err
    assert main([*args[:6], str(tmp_path / "bad"), *args[7:], "--template", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--template: unknown template 'nope'" in err and "Traceback" not in err


def test_hf_sampling_options_reach_generate(tmp_path):
    from eval_helpers import make_tiny_llava

    from lamm.bench.eval.adapters import GenRequest, build_adapter

    path = make_tiny_llava(tmp_path)
    bench = make_benchmark_2d(tmp_path / "2D", n=2)
    reqs = [
        GenRequest(bench / "cifar10_images" / f"{i}.png", "image", "SYS", "What is it?") for i in range(2)
    ]
    greedy = build_adapter(f"hf:{path}", max_new_tokens=6)
    options = decoding_options("greedy", {"2d"}, do_sample=True, temperature=5.0, max_new_tokens=6)
    sampled = build_adapter(f"hf:{path}", **options)
    torch.manual_seed(0)
    first = sampled.generate(reqs)
    torch.manual_seed(0)
    assert sampled.generate(reqs) == first  # seeded
    assert first != greedy.generate(reqs)  # and really sampled
    dec = sampled.decoding()
    assert (dec["do_sample"], dec["temperature"], dec["top_p"], dec["top_k"]) == (True, 5.0, 0.9, 50)
    assert greedy.decoding()["do_sample"] is False


def test_3d_run_folder_from_before_the_vision_tags_key_resumes_as_pcl(pcl_ckpt, tmp_path, capsys):
    bench = make_benchmark_3d(tmp_path / "3D", n=2)
    run = tmp_path / "run"
    base = ["eval", "--model", f"lamm:{pcl_ckpt}", "--benchmark-dir", str(bench), "--out", str(run),
            "--max-new-tokens", "2", "--no-score", "--limit", "1"]  # fmt: skip
    assert main(base) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["answer_options"] == {"max_new_tokens": 2, "vision_tags": "pcl"}
    del info["answer_options"]["vision_tags"]  # as written before this key existed (always <Pcl>)
    (run / "run.json").write_text(json.dumps(info))
    assert main([*base[:-2]]) == 0  # resumes (lamm protocol: <Pcl>) and answers the second record
    assert len(_rows(run)) == 2
    capsys.readouterr()
    assert main([*base, "--protocol", "lamm-v1"]) == 2
    assert "vision_tags: 'pcl' there, 'image' now" in capsys.readouterr().err
