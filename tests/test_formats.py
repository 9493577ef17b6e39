"""Readers/writers of the official LAMM files: byte layout, resumable JSONL, errors that name the place."""

from __future__ import annotations

import json

import pytest

from lamm.formats import (
    FormatError,
    InstructSample,
    JsonlAppender,
    iter_jsonl,
    load_benchmark,
    read_answers,
    read_instruct,
    read_json_array,
    resolve_media,
    write_instruct,
    write_official_answers,
)
from lamm.formats.paths import data_root
from lamm.tasks import find_dataset, spec_for_file
from lamm.tasks.lsp import LSP_JOINTS

CIFAR = find_dataset("CIFAR10")
LSP = find_dataset("LSP")


def test_official_answer_bytes(tmp_path):
    path = write_official_answers(tmp_path, CIFAR, [{"id": "7", "text": "a caf\u00e9 cat"}])
    assert path.name == "Classification_CIFAR10.json"
    # json.dump(indent=4): 4-space indent, ", " / ": " separators, ASCII escapes, no trailing newline.
    expected = '[\n    {\n        "id": "7",\n        "text": "a caf\\u00e9 cat",\n        "delta_path": ""\n    }\n]'
    assert path.read_bytes() == expected.encode("ascii")
    assert read_answers(tmp_path, CIFAR) == [{"id": "7", "text": "a caf\u00e9 cat", "delta_path": ""}]
    assert not (tmp_path / "Classification_CIFAR10.json.tmp").exists()


def test_lsp_answer_object_round_trip_and_string_refused(tmp_path):
    joints = {name: f"[{k}, {k}]" for k, name in enumerate(LSP_JOINTS)}
    write_official_answers(tmp_path, LSP, [{"id": "im1", "text": joints}])
    back = read_answers(tmp_path / "Keypoints_Detection_LSP.json", LSP)
    assert list(back[0]["text"]) == list(LSP_JOINTS)  # joint order kept

    bad = tmp_path / "bad" / "Keypoints_Detection_LSP.json"
    bad.parent.mkdir()
    bad.write_text(json.dumps([{"id": "im1", "text": joints}, {"id": "im2", "text": "[1, 2]"}]))
    with pytest.raises(FormatError) as err:
        read_answers(bad, LSP)
    e = err.value
    assert (e.path, e.index, e.record_id, e.field) == (str(bad), 1, "im2", "text")
    assert "LSP keypoint answer must be an object" in str(e) and "got str" in str(e)
    assert str(e).startswith(f"{bad}, record 1, id 'im2', field 'text': ")


def test_jsonl_appender_and_torn_tail(tmp_path):
    path = tmp_path / "answers.jsonl"
    with JsonlAppender(path) as out:
        out.write({"id": "0", "text": "na\u00efve"})
        out.write({"id": "1", "text": "b"})
    assert path.read_text("utf-8") == '{"id": "0", "text": "na\u00efve"}\n{"id": "1", "text": "b"}\n'
    # A killed writer leaves half a record, cut inside a two-byte UTF-8 character.
    with path.open("ab") as fh:
        fh.write('{"id": "2", "text": "\u00e9'.encode()[:-1])
    assert [r["id"] for r in iter_jsonl(path)] == ["0", "1"]
    with pytest.raises(FormatError, match="line 3"):
        list(iter_jsonl(path, tolerate_torn_tail=False))
    # Resuming cuts the torn tail, so the next record starts on its own line.
    with JsonlAppender(path) as out:
        out.write({"id": "2", "text": "c"})
    assert [r["id"] for r in iter_jsonl(path, tolerate_torn_tail=False)] == ["0", "1", "2"]
    assert read_answers(path, CIFAR)[2]["text"] == "c"


def test_jsonl_appender_syncs_per_record_or_at_most_every_interval(tmp_path):
    per_record, batched = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with JsonlAppender(per_record) as a, JsonlAppender(batched, sync_every_s=3600) as b:
        a.write({"id": "0"})
        b.write({"id": "0"})
        assert per_record.read_text() == '{"id": "0"}\n' and batched.read_text() == ""  # b still buffered
        b.write({"id": "1"}, sync=True)
        assert batched.read_text() == '{"id": "0"}\n{"id": "1"}\n'
        b.write({"id": "2"})
    assert [r["id"] for r in iter_jsonl(batched, tolerate_torn_tail=False)] == ["0", "1", "2"]  # close syncs


def test_jsonl_bad_middle_line_is_an_error(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "0", "text": "a"}\n\n{"id": oops}\n{"id": "2", "text": "c"}\n')
    with pytest.raises(FormatError) as err:
        list(iter_jsonl(path))
    assert err.value.index == 1 and "malformed JSON on line 3" in str(err.value)
    path.write_text('{"id": "0"}\n[1, 2]\n')
    with pytest.raises(FormatError, match="line 2 is not a JSON object"):
        list(iter_jsonl(path))


def test_malformed_json_names_file_and_position(tmp_path):
    path = tmp_path / "meta.json"
    path.write_text('[\n  {"id": "1",}\n]')
    with pytest.raises(FormatError) as err:
        read_json_array(path)
    assert str(path) in str(err.value) and "line 2 column" in str(err.value)
    path.write_text('{"id": "1"}')
    with pytest.raises(FormatError, match="expected a JSON array of records, got dict"):
        read_json_array(path)
    path.write_bytes(b'["\xff"]')
    with pytest.raises(FormatError, match="not UTF-8"):
        read_json_array(path)
    with pytest.raises(FormatError, match="file not found"):
        read_json_array(tmp_path / "nope.json")


def _voc(i, **over):
    rec = {
        "id": f"v{i}",
        "image": f"voc2012_images/{i}.jpg",
        "query": "Detect all objects.",
        "object": [{"label": "cat", "bbox": [0.1, 0.2, 0.5, 0.6]}],
    }
    rec.update(over)
    return rec


def test_load_benchmark_errors_name_record_and_field(tmp_path):
    spec = find_dataset("VOC2012")
    meta = tmp_path / "meta_file" / spec.meta_file
    meta.parent.mkdir()
    meta.write_text(json.dumps([_voc(0), _voc(1)]))
    recs = load_benchmark(tmp_path, spec)
    assert [(r.index, r.id, r.media) for r in recs] == [
        (0, "v0", "voc2012_images/0.jpg"),
        (1, "v1", "voc2012_images/1.jpg"),
    ]
    assert recs[1]["object"][0]["label"] == "cat"

    meta.write_text(json.dumps([_voc(0), _voc(1, object=[{"label": "cat", "bbox": [1, 2, 3]}])]))
    with pytest.raises(FormatError) as err:
        load_benchmark(tmp_path, spec)
    e = err.value
    assert (e.index, e.record_id, e.field) == (1, "v1", "object")
    assert "'bbox' must be 4 numbers" in e.message

    meta.write_text(json.dumps([{k: v for k, v in _voc(0).items() if k != "query"}]))
    with pytest.raises(FormatError) as err:
        load_benchmark(tmp_path, spec)
    assert (err.value.index, err.value.field) == (0, "query")


@pytest.mark.parametrize(
    ("name", "rec", "field", "msg"),
    [
        ("CelebA(Smile)", {"attr": 1}, "attr", "must be a string"),
        ("CelebA(Smile)", {"attr": "yes"}, "attr", 'must be "1" or "-1"'),
        ("SQAimage", {"gt_choice": 3, "gt_choices": ["a", "b"]}, "gt_choice", "out of range"),
        ("SQAimage", {"gt_choice": True, "gt_choices": ["a", "b"]}, "gt_choice", "must be an int"),
        ("FSC147", {"num": -1}, "num", "non-negative int"),
        ("LSP", {"gt_joints": [[1, 2, 1]] * 13}, "gt_joints", "14 [x, y, v] rows"),
        ("flickr30k", {}, "sentences", "missing ground-truth field"),
    ],
)
def test_gt_field_checks(tmp_path, name, rec, field, msg):
    spec = find_dataset(name)
    meta = tmp_path / "meta_file" / spec.meta_file
    meta.parent.mkdir()
    meta.write_text(json.dumps([{"id": "x", "image": "a.png", "query": "q", **rec}]))
    with pytest.raises(FormatError) as err:
        load_benchmark(tmp_path, spec)
    assert err.value.field == field and msg in err.value.message


def test_3d_benchmark_records(tmp_path):
    refer, qa = find_dataset("ScanRefer"), find_dataset("ScanQA_multiplechoice")
    (tmp_path / "meta_file").mkdir()
    box = [1.0, 2.0, 0.5, 0.4, 0.4, 1.0]
    (tmp_path / "meta_file" / refer.meta_file).write_text(
        json.dumps([{"id": "s0", "pcl": "./scannet_pcls/s0.npy", "query": "q", "object": box}])
    )
    assert load_benchmark(tmp_path, refer)[0].media == "./scannet_pcls/s0.npy"
    (tmp_path / "meta_file" / qa.meta_file).write_text(
        json.dumps(
            [{"id": "s0", "pcl": "p.npy", "query": "q", "gt_choice": 0, "gt_choices": list("abcdefg")}]
        )
    )
    with pytest.raises(FormatError, match="at most 6 options"):
        load_benchmark(tmp_path, qa)


def test_scanrefer_gt_box_as_object_or_jul23_gt_bbox(tmp_path):
    """The spec/ChEF store ScanRefer's gt box as ``object``, the jul23 evaluator reads ``gt_bbox``:
    a record carries exactly one of them, and a gt_bbox-only file scores like an object-only one."""
    from lamm.bench.score import score_dataset

    refer = find_dataset("ScanRefer")
    (tmp_path / "meta_file").mkdir()
    meta = tmp_path / "meta_file" / refer.meta_file
    box = [1.0, 2.0, 0.5, 0.4, 0.4, 1.0]

    def load(**gt):
        meta.write_text(json.dumps([{"id": "s0", "pcl": "./scannet_pcls/s0.npy", "query": "q", **gt}]))
        return load_benchmark(tmp_path, refer)

    assert load(gt_bbox=box)[0]["gt_bbox"] == box
    assert load(gt_bbox=[{"bbox": box}])[0]["gt_bbox"] == [{"bbox": box}]
    answers = [{"id": "s0", "text": "[1.0, 2.0, 0.5, 0.4, 0.4, 1.0]"}]
    assert score_dataset(tmp_path, refer, answers)["value"] == 1.0
    cases = [
        ({}, "object", "needs exactly one of 'object' or 'gt_bbox'"),
        (
            {"object": box, "gt_bbox": box},
            "gt_bbox",
            "given twice: keep exactly one of 'object' or 'gt_bbox'",
        ),
        ({"gt_bbox": [1, 2, 3]}, "gt_bbox", "'bbox' must be 6 numbers, got [1, 2, 3]"),
        ({"gt_bbox": "1 2 3 4 5 6"}, "gt_bbox", "must be one box [cx, cy, cz, dx, dy, dz]"),
        ({"object": None}, "object", "must be one box"),
    ]
    for gt, field, msg in cases:
        with pytest.raises(FormatError) as err:
            load(**gt)
        assert err.value.field == field and msg in err.value.message, (gt, str(err.value))
        assert "VG_ScanRefer.json" in str(err.value) and "'s0'" in str(err.value)


def test_resolve_media_stays_inside_root(tmp_path):
    root = tmp_path / "bench"
    root.mkdir()
    assert resolve_media(root, "./scannet_pcls/a.npy") == root / "scannet_pcls" / "a.npy"
    assert resolve_media(root, "imgs/../imgs/a.png") == root / "imgs" / "a.png"
    for rel in ("../secret.png", "imgs/../../secret.png", ".."):
        with pytest.raises(FormatError, match="escapes the data root"):
            resolve_media(root, rel, source="meta.json")
    with pytest.raises(FormatError, match="absolute media path"):
        resolve_media(root, "/etc/passwd")
    assert str(resolve_media(root, "/data/coco/1.jpg", allow_absolute=True)) == "/data/coco/1.jpg"
    # a sibling folder whose name starts like the root is still outside it
    with pytest.raises(FormatError, match="escapes"):
        resolve_media(root, "../bench2/a.png")
    # a symlink the user placed inside the root is followed (images often live elsewhere)
    (tmp_path / "elsewhere").mkdir()
    (root / "coco_images").symlink_to(tmp_path / "elsewhere")
    assert resolve_media(root, "coco_images/1.jpg") == root / "coco_images" / "1.jpg"


def test_instruct_round_trip_and_conversation_rules(tmp_path):
    path = tmp_path / "2D_Instruct" / "meta_file" / "x.json"
    conv = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A cat."}]
    samples = [
        InstructSample("1", "image", "coco_images/1.jpg", conv, "conversation", {"src_image": "coco2017"}),
        InstructSample("2", "pcl", "shapenet_pcls/a_4096.npy", conv, "classification3d"),
    ]
    write_instruct(path, samples)
    assert read_instruct(path) == samples
    assert data_root(path) == tmp_path / "2D_Instruct"
    raw = json.loads(path.read_text())
    raw.append({"id": "3", "conversations": conv})  # no vision key: skipped, as officially
    path.write_text(json.dumps(raw))
    assert len(read_instruct(path)) == 2

    for bad, msg in [
        ([conv[1], conv[0]], "turn 0 is 'gpt'"),
        ([conv[0], conv[0]], "no gpt turn"),  # human, human (not alternating is fine: test_turn_order.py)
        ([conv[0]], "no gpt turn"),
        ([conv[0], {"from": "assistant", "value": "x"}], "role 'assistant'"),
        ([conv[0], {"from": "gpt", "value": 3}], "value must be a string"),
    ]:
        path.write_text(json.dumps([{"id": "9", "image": "a.jpg", "conversations": bad}]))
        with pytest.raises(FormatError) as err:
            read_instruct(path)
        assert (err.value.index, err.value.record_id, err.value.field) == (0, "9", "conversations")
        assert msg in err.value.message


def test_spec_for_file():
    assert spec_for_file("x/meta_file/Facial_Classification_CelebA(Smile).json").name == "CelebA(Smile)"
    assert spec_for_file("Locating_LSP.jsonl").key == "Locating_LSP"
    assert spec_for_file("VQA_ScanQA_multiplechoice.json").dim == "3d"
    assert spec_for_file("Keypoints_Dectection_LSP.json") is None  # the README typo is not a LAMM file
