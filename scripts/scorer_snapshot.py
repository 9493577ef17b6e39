"""Every scorer value, prompt, ground-truth text and check message of LAMM-Mini, in one JSON file.

A refactor of the registry, the scorers or the formats must not change any of them (issue 15's
"behaviour unchanged"). Take a snapshot before and after and compare:

    python scripts/scorer_snapshot.py snap before.json      # on the old tree
    python scripts/scorer_snapshot.py snap after.json       # on the new tree
    python scripts/scorer_snapshot.py compare before.json after.json

``compare`` lists every key whose value differs and the keys only one side has (a dataset added since),
and exits 1 on a difference. Answer sets per dataset: the oracle's, the trivial baseline's, the oracle's
rotated by one record (all wrong), empty, junk text, one placeholder, two records missing; each scored
under both protocols and both ``--on-error`` settings. Seed 3, 7 test records, 256 points, ``--suite-3d``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from lamm.bench import judge, score_cli
from lamm.bench.eval import prompts as PR
from lamm.bench.eval.adapters.baseline import TrivialBaseline
from lamm.bench.score import score_all, score_dataset
from lamm.cli import main as cli
from lamm.data.mini.oracle import oracle_answers
from lamm.formats import FormatError
from lamm.formats.answers import placeholder, write_official_answers
from lamm.formats.benchmark import check_bench_record, load_benchmark
from lamm.tasks import DatasetSpec, all_datasets, spec_for_file

JUNK = "The answer is (B). [0.1, 0.2, 0.6, 0.7] There are 3 objects. cat smiling"
BAD_VALUES = (None, "x", [], [1, 2], -1, 7, [[1, 2]], {"a": 1}, float("nan"), [float("inf")] * 6,
              [1, 2, 3, 4, 5, 6], "1", "0", [{"bbox": [1, 2, 3]}], [{"label": 3, "bbox": [1, 2, 3, 4]}])  # fmt: skip


def answer_sets(spec: DatasetSpec, bench: Path, baseline: TrivialBaseline) -> dict[str, list[dict]]:
    orc = oracle_answers(bench, spec)
    is_obj = isinstance(orc[0]["text"], dict)
    rot = orc[1:] + orc[:1]

    def fill(text: str) -> list[dict]:
        return [{"id": a["id"], "text": ({k: text for k in a["text"]} if is_obj else text)} for a in orc]

    sets = {"oracle": orc, "rotated": [{"id": a["id"], "text": r["text"]} for a, r in zip(orc, rot)],
            "empty": fill(""), "junk": fill(JUNK), "placeholder": [placeholder(spec, orc[0]["id"], "x"), *orc[1:]],
            "short": orc[:-2]}  # fmt: skip
    if spec.baseline is not None and spec.mode == "common":
        sets["baseline"] = [
            {"id": r.id, "text": baseline.replay(spec, r)} for r in load_benchmark(bench, spec)
        ]
    return sets


def check_messages(spec: DatasetSpec, raw: dict[str, Any]) -> list[list[str]]:
    """Each ground-truth field of one record replaced by each bad value, then deleted: the check's answer."""
    out = []
    for f in list(raw):
        for bad in (*BAD_VALUES, "del"):
            rec = dict(raw)
            if bad == "del":
                del rec[f]
            else:
                rec[f] = bad
            try:
                check_bench_record("M", spec, 0, rec)
                out.append([f, repr(bad), "ok"])
            except FormatError as e:
                out.append([f, repr(bad), str(e)])
    return out


def _judge_truth(spec: DatasetSpec, rec: Any) -> str:
    try:
        return judge.ground_truth(spec, rec)
    except KeyError as e:  # the GPT metric is defined for some datasets only
        return f"ERR {e}"


def snapshot(work: Path) -> dict[str, Any]:
    mini = work / "mini"
    args = ["data", "mini", "--out", str(mini), "--seed", "3", "--train", "2", "--test", "7", "--pretrain", "0",
            "--points", "256", "--suite-3d", "--quiet"]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli(args) == 0
    out: dict[str, Any] = {
        "files": {},
        "scores": {},
        "all": {},
        "prompts": {},
        "gt": {},
        "checks": {},
        "misc": {},
    }
    for f in sorted(mini.rglob("*")):
        if f.is_file() and "Benchmark" in str(f):
            out["files"][str(f.relative_to(work))] = hashlib.sha256(f.read_bytes()).hexdigest()

    def clean(value: Any) -> Any:
        value = dict(value)
        value.pop("versions", None)
        return json.loads(json.dumps(value).replace(str(work), "W"))

    def bench(spec: DatasetSpec) -> Path:
        return mini / ("2D_Benchmark" if spec.dim == "2d" else "3D_Benchmark")

    specs = all_datasets()
    baseline = TrivialBaseline(5)
    for spec in specs:
        if spec.baseline is not None and spec.mode == "common":
            baseline.prepare(bench(spec), [spec])
    sets_by = {}
    for spec in specs:
        sets_by[spec.key] = sets = answer_sets(spec, bench(spec), baseline)
        for name, answers in sets.items():
            for protocol in ("lamm", "lamm-v1"):
                for on_error in ("raise", "skip"):
                    key = f"{spec.key}:{name}:{protocol}:{on_error}"
                    try:
                        result = score_dataset(
                            bench(spec), spec, answers, protocol=protocol, on_error=on_error
                        )
                        out["scores"][key] = clean(result)
                    except (FormatError, ValueError, KeyError) as e:
                        out["scores"][key] = "ERR " + str(e).replace(str(work), "W")
        recs = load_benchmark(bench(spec), spec)
        rows: list[Any] = []
        for r in recs[:3]:
            first = PR.first_prompts(spec, r)
            texts = [f"first{i}" for i in range(len(first))]
            second = PR.second_prompts(spec, r, texts)
            rows += [[[p.system, p.query] for p in first], [[p.system, p.query] for p in second],
                     PR.assemble(spec, texts, [f"second{i}" for i in range(len(second))])]  # fmt: skip
        out["prompts"][spec.key] = rows
        out["gt"][spec.key] = [[_judge_truth(spec, r), spec.truth_words(r.raw)] for r in recs[:3]]
        out["checks"][spec.key] = check_messages(spec, recs[0].raw)
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            score_cli._human(clean(score_dataset(bench(spec), spec, sets_by[spec.key]["junk"])))
        out["misc"]["human:" + spec.key] = buf.getvalue()
        out["misc"]["file:" + spec.key] = [spec_for_file("x/" + spec.meta_file).key]

    for mode in ("common", "locating"):
        for name in ("oracle", "rotated", "junk", "baseline"):
            folder = work / f"answers_{mode}_{name}"
            folder.mkdir()
            for spec in specs:
                if spec.dim == "2d" and spec.mode == mode and name in sets_by[spec.key]:
                    write_official_answers(folder, spec, sets_by[spec.key][name])
            for protocol in ("lamm", "lamm-v1"):
                result = score_all(mini / "2D_Benchmark", folder, mode, protocol=protocol, on_error="skip")
                out["all"][f"{mode}:{name}:{protocol}"] = clean(result)
    out["misc"]["order"] = [s.key for s in specs]
    return out


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"scores": {"VOC2012:oracle:lamm:raise": {...}}}`` -> ``{"scores/VOC2012:oracle:lamm:raise": {...}}``."""
    return {f"{group}/{key}": value for group, values in tree.items() for key, value in values.items()}


def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
    fa, fb = flatten(a), flatten(b)
    changed = [
        k for k in fa if k in fb and json.dumps(fa[k], sort_keys=True) != json.dumps(fb[k], sort_keys=True)
    ]
    for k in changed:
        print(f"changed  {k}")
    for k in sorted(set(fa) ^ set(fb)):
        print(f"only in {'first' if k in fa else 'second'}: {k}")
    same = sum(1 for k in fa if k in fb) - len(changed)
    print(f"{same} identical, {len(changed)} changed, {len(set(fa) ^ set(fb))} on one side only")
    return 1 if changed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("snap").add_argument("out")
    cmp = sub.add_parser("compare")
    cmp.add_argument("first")
    cmp.add_argument("second")
    args = parser.parse_args(argv)
    if args.cmd == "compare":
        return compare(*(json.loads(Path(p).read_text("utf-8")) for p in (args.first, args.second)))
    with tempfile.TemporaryDirectory(prefix="lamm-snapshot-") as tmp:
        snap = snapshot(Path(tmp))
    Path(args.out).write_text(json.dumps(snap, indent=1, sort_keys=True, default=repr), "utf-8")
    print(f"{args.out}: {sum(len(v) for v in snap.values())} values", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
