"""Resuming in a run folder: answers already there are reused only for the same model, settings and questions.

``run.json`` records the model and the answer-changing settings; a rerun with others is refused, and each
logged row must match the meta file's record (index, id, question) before it counts as answered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lamm.bench.eval.answering import query_digest
from lamm.bench.eval.config import EvalConfig
from lamm.bench.eval.results import utc_now
from lamm.bench.eval.store import ANSWERS, ERRORS, PARTS
from lamm.formats.benchmark import BenchRecord
from lamm.formats.errors import FormatError
from lamm.tasks import DatasetSpec

RUN_INFO = "run.json"


# Adapter options that change the answers: a resumed run must use the same ones (device, concurrency and
# timeouts only change how fast they come). hf: ``model_args`` (dtype, processor options, ...) count too.
ANSWER_OPTIONS = (
    "max_new_tokens",
    "do_sample",
    "temperature",
    "top_p",
    "top_k",
    "template",
    "dtype",
    "model_args",
)
BASE_OPTIONS = ("base_llm", "encoder", "modality", "num_media_tokens", "encoder_options")  # official .pt


def answer_settings(cfg: EvalConfig) -> dict[str, Any]:
    """What a resumed run must share with the answers already there: the decoding options, the bases of
    an official delta, the seed when sampling, for lamm models on point clouds the vision tags that
    ``--protocol`` selects, and the ``--pcl-view`` point clouds are shown through."""
    from lamm.bench.eval.adapters.lamm import vision_tags

    options = {k: cfg.adapter_options[k] for k in ANSWER_OPTIONS + BASE_OPTIONS if k in cfg.adapter_options}
    if options.get("do_sample"):
        options["seed"] = cfg.seed
    if cfg.model.startswith("lamm:") and any(s.dim == "3d" for s in cfg.datasets):
        options["vision_tags"] = vision_tags(cfg.protocol) or "pcl"
    if cfg.pcl_view and any(s.dim == "3d" for s in cfg.datasets):
        options["pcl_view"] = cfg.pcl_view
    return options


def holds_answers(out: Path) -> bool:
    """Whether a run folder holds any answer or failed record (its ``run.json`` alone is no claim: a run
    that stopped before answering, e.g. at a missing meta file, leaves the folder free)."""
    logs = [out / ANSWERS, out / ERRORS, *(out / PARTS).glob("*.jsonl")]
    return any(p.is_file() and p.stat().st_size > 0 for p in logs)


def check_run_dir(cfg: EvalConfig) -> None:
    """Refuse to mix two models' answers, or answers decoded differently, in one run folder."""
    info = cfg.out / RUN_INFO
    options = answer_settings(cfg)
    if info.is_file() and holds_answers(cfg.out):
        prev = json.loads(info.read_text("utf-8"))
        if prev.get("model") != cfg.model:
            raise ValueError(
                f"{cfg.out} holds answers of model {prev.get('model')!r}, not {cfg.model!r}; "
                "choose another --out"
            )
        before = prev.get("answer_options")
        if before is not None and "vision_tags" in options:
            before = {"vision_tags": "pcl", **before}  # folders from before the key: lamm always used <Pcl>
        if before is not None and before != options:
            diff = ", ".join(
                f"{k}: {before.get(k, 'unset')!r} there, {options.get(k, 'unset')!r} now"
                for k in sorted(set(before) | set(options))
                if before.get(k) != options.get(k)
            )
            raise ValueError(
                f"{cfg.out} holds answers made with other settings ({diff}); rerun with the same "
                "options or choose another --out"
            )


def record_run(cfg: EvalConfig) -> None:
    """Write ``run.json`` once the adapter is built, so a spec that fails to load claims no folder."""
    info = cfg.out / RUN_INFO
    if not info.is_file() or not holds_answers(cfg.out):
        cfg.out.mkdir(parents=True, exist_ok=True)
        info.write_text(
            json.dumps(
                {"model": cfg.model, "answer_options": answer_settings(cfg), "created": utc_now()}, indent=2
            ),
            "utf-8",
        )


def check_log(cfg: EvalConfig, spec: DatasetSpec, records: list[BenchRecord], done: dict) -> None:
    """A resumed run trusts a logged answer only if its index exists and its id is that record's id."""
    log = cfg.out / ANSWERS
    for (key, index), row in done.items():
        if key != spec.key:
            continue
        if not 0 <= index < len(records):
            raise FormatError(
                log, f"{spec.key}: logged answer for record {index} (id {row.get('id')!r}) but the meta "
                f"file has {len(records)} records; this run folder belongs to another benchmark, choose "
                "another --out", index=index,
            )  # fmt: skip
        if str(row.get("id")) != records[index].id:
            raise FormatError(
                log, f"{spec.key}: logged answer id {row.get('id')!r} does not match meta record id "
                f"{records[index].id!r} at index {index}; this run folder belongs to another benchmark, "
                "choose another --out", index=index,
            )  # fmt: skip
        try:
            asked = query_digest(spec, records[index])
        except ValueError:  # a malformed query: the run itself reports it by name
            continue
        if row.get("query_sha", asked) != asked:  # rows logged before query_sha existed: not compared
            raise FormatError(
                log, f"{spec.key}: the logged answer for record {index} (id {row.get('id')!r}) was given to "
                "another question than the meta file asks now (the meta file changed since); choose "
                "another --out to answer it again", index=index,
            )  # fmt: skip
