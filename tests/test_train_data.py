"""Training data pipeline: tokenised items, bad-sample handling, step-exact sampling, packing collation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from train_helpers import make_instruct, texts_of

from lamm.formats.errors import FormatError
from lamm.train.config import ConfigError, DataConfig, DataFile, load_config
from lamm.train.data import Collator, InstructDataset, SkipLog, load_items
from lamm.train.sampling import StepSampler, pack_rows


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("instruct")
    return make_instruct(root, n=12)


@pytest.fixture(scope="module")
def tokenizer(data, tmp_path_factory):
    from lamm.model.tiny import train_tokenizer

    return train_tokenizer(texts_of(data), 300, tmp_path_factory.mktemp("tok"))


def _items(path, tokenizer, **kw):
    cfg = DataConfig(files=[DataFile(str(path))], **kw)
    log = SkipLog()
    items, per_file = load_items(cfg, tokenizer, num_media_tokens=4, modality="image", skip_log=log)
    return items, per_file, log


def test_items_are_template_encoded(data, tokenizer):
    from lamm.model.template import encode_sample

    items, per_file, log = _items(data, tokenizer)
    assert len(items) == 12 and per_file == [list(range(12))] and len(log) == 0
    rec = json.loads(data.read_text())[3]
    enc = encode_sample(rec["conversations"], rec["task_type"], tokenizer, num_media_tokens=4)
    assert items[3].input_ids.tolist() == enc.input_ids and items[3].labels.tolist() == enc.labels
    assert items[3].media == str(data.parent.parent / "images" / "train_3.png")
    media_id = tokenizer.convert_tokens_to_ids("<media>")
    assert (items[3].input_ids == media_id).sum() == 4


def _break(data, tmp_path, mutate):
    recs = json.loads(data.read_text())
    mutate(recs)
    root = tmp_path / "broken"
    (root / "meta_file").mkdir(parents=True)
    (root / "images").symlink_to(data.parent.parent / "images")
    out = root / "meta_file" / "bad.json"
    out.write_text(json.dumps(recs))
    return out


def test_bad_records_raise_naming_file_and_record_or_are_counted(data, tokenizer, tmp_path):
    def mutate(recs):
        recs[2]["image"] = "images/nope.png"  # missing media
        recs[5]["conversations"] = [{"from": "gpt", "value": "hi"}, {"from": "human", "value": "x"}]
        recs[7]["conversations"][0]["value"] = "<image>\n" + "why " * 200  # truncation leaves no answer

    bad = _break(data, tmp_path, mutate)
    with pytest.raises(FormatError) as err:
        _items(bad, tokenizer, max_length=50)
    assert "bad.json" in str(err.value) and "record 2" in str(err.value) and "not found" in str(err.value)
    items, _, log = _items(bad, tokenizer, max_length=50, on_error="skip")
    assert len(items) == 9
    assert log.counts() == {"missing_media": 1, "bad_record": 1, "empty_supervision": 1}
    assert {e["index"] for e in log.entries} == {2, 5, 7}


def test_empty_supervision_is_skipped_even_when_strict(data, tokenizer, tmp_path):
    bad = _break(data, tmp_path, lambda r: r[0]["conversations"][0].update(value="<image>\n" + "why " * 200))
    items, _, log = _items(bad, tokenizer, max_length=50)  # on_error="raise"
    assert len(items) == 11 and log.counts() == {"empty_supervision": 1}
    assert "no supervised token" in log.entries[0]["message"]


def test_corrupt_image_in_worker_raises_or_is_dropped(data, tokenizer, tmp_path):
    from lamm.model.encoders.clip import ClipPreprocessor

    items, _, _ = _items(data, tokenizer)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    items[1].media = str(broken)
    ds = InstructDataset(items, ClipPreprocessor(16), "raise")
    with pytest.raises(FormatError, match=r"train.json.*record 1.*bad media"):
        ds[1]
    ds = InstructDataset(items, ClipPreprocessor(16), "skip")
    batch = Collator(0)([ds[(0, 5)], ds[(1, 5)], ds[(2, 5)]])
    assert batch["num_samples"] == 2 and len(batch["errors"]) == 1 and batch["media"].shape == (2, 3, 16, 16)


def _sample(n, start, media_val):
    ids = np.arange(start, start + n, dtype=np.int64)
    labels = ids.copy()
    labels[:2] = -100
    return {"input_ids": ids, "labels": labels, "media": torch.full((1,), float(media_val)), "error": None}


def test_pack_rows_balanced():
    assert pack_rows([5, 3, 4, 2], 7) == [[0, 3], [2, 1]]
    # first-fit decreasing alone fills rows of 10 and 8 (tensor width 10); balanced: 9 and 9
    assert pack_rows([5, 5, 4, 4], 12) == [[0, 2], [1, 3]]
    with pytest.raises(ValueError, match="does not fit"):
        pack_rows([9], 8)


def test_packed_collation_positions_mask_and_media_order():
    samples = [_sample(3, 10, 0), _sample(4, 20, 1), _sample(2, 30, 2)]
    b = Collator(0, packing=True, pack_length=6)(samples)
    # two rows; balanced: [sample1 (4)], [sample0 (3) + sample2 (2)]
    assert b["input_ids"].tolist() == [[20, 21, 22, 23, 0], [10, 11, 12, 30, 31]]
    assert b["position_ids"].tolist() == [[0, 1, 2, 3, 0], [0, 1, 2, 0, 1]]
    assert b["media"].flatten().tolist() == [1.0, 0.0, 2.0]  # row-major order of the samples
    assert b["real_tokens"] == 9 and b["total_tokens"] == 10
    m = b["attention_mask"][1, 0].int()
    expect = torch.tensor(
        [[1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 1, 1]]
    )
    assert torch.equal(m, expect)
    pad = b["attention_mask"][0, 0].int()
    assert pad[4].tolist() == [0, 0, 0, 0, 1]  # padding attends to itself only (no NaN rows)
    # loss tokens: labels at positions 1.. that are supervised; the next sample's first tokens are -100
    assert b["loss_tokens"] == (4 - 2) + (3 - 2) + (2 - 2)


def test_padded_collation():
    b = Collator(0)([_sample(3, 10, 0), _sample(5, 20, 1)])
    assert b["input_ids"].tolist() == [[10, 11, 12, 0, 0], [20, 21, 22, 23, 24]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert b["labels"][0].tolist() == [-100, -100, 12, -100, -100] and b["position_ids"] is None
    assert b["real_tokens"] == 8 and b["total_tokens"] == 10


def _sampler(world=1, rank=0, **kw):
    lengths = [10 + (i * 7) % 23 for i in range(40)]
    args = {"global_batch": 8, "micro_batch": 2, "seed": 3, "total_steps": 10} | kw
    return StepSampler(lengths, [list(range(30)), list(range(30, 40))], kw.pop("weights", [1.0, 1.0]),
                       world_size=world, rank=rank, **{k: v for k, v in args.items() if k != "weights"})  # fmt: skip


def test_sampler_same_micro_batches_for_any_world_size():
    one = _sampler()
    two = [_sampler(world=2, rank=r) for r in range(2)]
    assert one.steps_per_epoch == 5 and one.accum == 4 and two[0].accum == 2
    for step in range(10):
        single = one.step_batches(step)
        split = two[0].step_batches(step) + two[1].step_batches(step)
        assert sorted(map(tuple, single)) == sorted(map(tuple, split))
    epoch0 = [p for s in range(5) for m in one.step_batches(s) for p, _ in m]
    assert sorted(epoch0) == list(range(40))  # each sample once per epoch
    epoch1 = [p for s in range(5, 10) for m in one.step_batches(s) for p, _ in m]
    assert epoch1 != epoch0 and sorted(epoch1) == list(range(40))


def test_sampler_resume_and_length_grouping():
    full = list(_sampler())
    assert list(_sampler(start_step=3)) == full[3 * 4 :]
    lengths = [10 + (i * 7) % 23 for i in range(40)]
    for m in full[:4]:  # one global batch, sorted by length and cut into micro-batches
        assert len(m) == 2
    step0 = [lengths[p] for m in full[:4] for p, _ in m]
    assert step0 == sorted(step0, reverse=True)
    ungrouped = [lengths[p] for m in list(_sampler(group_by_length=False))[:4] for p, _ in m]
    assert sorted(ungrouped, reverse=True) != ungrouped


def test_sampler_mixing_weights():
    s = _sampler(weights=[0.5, 2.0])
    assert s.epoch_size == 15 + 20 and s.steps_per_epoch == 4
    order = s.epoch_order(0)
    assert len(order) == 32
    counts = np.bincount(
        np.asarray(_sampler(weights=[0.5, 2.0], group_by_length=False).epoch_order(0)), minlength=40
    )
    assert counts[:30].max() == 1 and counts[30:].max() == 2


def test_config_overrides_and_errors(tmp_path):
    cfg = load_config(
        {"model": {"llm": "x"}, "train": {"global_batch_size": 8}},
        ["train.lr=1e-3", "data.packing=true", "train.betas=[0.8, 0.9]"],
    )
    assert cfg.train.lr == 1e-3 and cfg.data.packing is True and cfg.train.betas == (0.8, 0.9)
    assert cfg.grad_accum(2) == 2
    with pytest.raises(ConfigError, match="not divisible by micro_batch_size 2 x 3"):
        cfg.grad_accum(3)
    with pytest.raises(ConfigError, match="train.lrr"):
        load_config({"model": {"llm": "x"}}, ["train.lrr=1"])
    with pytest.raises(ConfigError, match="model: unknown model config keys"):
        load_config({"model": {"llm": "x", "nope": 1}})
    for preset in ("tiny", "lamm-7b", "lamm-13b"):
        from lamm.train.config import preset_path

        load_config(preset_path(preset))


def test_nosys_template_inference_prompt_is_the_training_layout(tokenizer):
    """lamm-v1-nosys (tiny preset): the generation prompt is exactly the training sample up to the answer."""
    from lamm.model.template import build_generation_prompt, encode_sample

    conv = [{"from": "human", "value": "<image>\nWhat colour is it?"}, {"from": "gpt", "value": "It is red."}]
    enc = encode_sample(conv, "classification", tokenizer, num_media_tokens=4, template="lamm-v1-nosys")
    prompt = build_generation_prompt("\nSome system message.\n", "What colour is it?", tokenizer, 4,
                                     template="lamm-v1-nosys")  # fmt: skip
    first_label = next(i for i, lab in enumerate(enc.labels) if lab != -100)
    assert enc.input_ids[:first_label] == prompt
    assert tokenizer.decode(enc.input_ids[first_label:]) == "It is red.\n###"


def test_task_type_filter(data, tokenizer):
    cfg = DataConfig(files=[DataFile(str(data), task_types=["classification"])])
    items, _ = load_items(cfg, tokenizer, num_media_tokens=4, modality="image")
    assert len(items) == 6 and {i.index % 2 for i in items} == {1}


def test_id_filter_selects_records_by_pattern(data, tokenizer):
    """``data.files[].ids``: fnmatch patterns on record ids (the quickstart draws LAMM-Mini's facial
    samples twice this way); kept through the CLI's path resolution."""
    from lamm.train.cli import resolve_data_paths

    cfg = DataConfig(files=[DataFile(str(data), ids=["train-1", "train-1?"])])
    items, _ = load_items(cfg, tokenizer, num_media_tokens=4, modality="image")
    assert sorted(i.index for i in items) == [1, 10, 11]
    both = DataConfig(files=[DataFile(str(data)), DataFile(str(data), ids=["train-1?"], weight=2.0)])
    items, _ = load_items(both, tokenizer, num_media_tokens=4, modality="image")
    assert len(items) == 12 + 2
    glob_path = str(data.parent / "*.json")
    (resolved,) = resolve_data_paths([DataFile(glob_path, ids=["train-1?"], weight=2.0)], None)
    assert resolved.ids == ["train-1?"] and resolved.weight == 2.0 and resolved.path == str(data)
