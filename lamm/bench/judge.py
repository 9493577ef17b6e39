"""The GPT metric (LAMM_FORMATS §6): an LLM judge ranks two runs' answers per sample against the truth.

As the paper: per dataset a fixed number of samples (``eval_data_len``), a prompt of question, ground
truth, answer A (the run under test) and answer B (the comparison) in marked blocks, then the ranking
instruction; the first line of the verdict is ``1 2`` (A better) or ``2 1`` (B better). Differences,
all deliberate:

* the official code sent ``'\\n'.join(prompt)``: a newline between every character. We send the prompt
  as written (``buggy_newlines=True`` reproduces the bug for parity);
* the official samples were random and unseeded; here they come from a fixed seed per dataset;
* failed calls and unparseable verdicts were silently dropped; here they are counted and reported
  (with the failure reasons), never filled in;
* win rates come with 95% Wilson confidence intervals;
* judge calls are cached on disk by (judge model, prompt hash), so a rerun costs nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamm.bench.eval.adapters import GenFailure
from lamm.formats.answers import is_placeholder, read_answers
from lamm.formats.benchmark import BenchRecord, load_benchmark, meta_path
from lamm.llm_client import DiskCache, cache_key
from lamm.metrics.intervals import wilson
from lamm.protocol.prompts import prompt
from lamm.redact import redact
from lamm.tasks import DatasetSpec, find_dataset

GROUP = "gpt_metric"


def sample_sizes() -> dict[str, int]:
    """The paper's per-dataset sample counts."""
    return dict(prompt(GROUP, "eval_data_len"))


def ground_truth(spec: DatasetSpec, rec: BenchRecord) -> str:
    """The ground-truth text the official prompt shows (the task file's ``truth_words``); only the
    datasets the paper's GPT metric covers have a judge system message."""
    if spec.mode != "common" or spec.name not in prompt(GROUP, "system_msg"):
        raise KeyError(f"the GPT metric is not defined for {spec.key}")
    return spec.truth_words(rec.raw)


def judge_messages(
    spec: DatasetSpec, query: str, gt: str, answer_a: str, answer_b: str, *, buggy_newlines: bool = False
) -> list[dict[str, str]]:
    """System message (task phrase) + user message (question, truth, both answers, instruction)."""
    content = (
        prompt(GROUP, "GT_Template").format(query, gt)
        + prompt(GROUP, "Ans_Template").format("A", answer_a, "A")
        + prompt(GROUP, "Ans_Template").format("B", answer_b, "B")
        + prompt(GROUP, "SYS")
    )
    if buggy_newlines:  # official: '\n'.join(<string>)
        content = "\n".join(content)
    system = prompt(GROUP, "judge_system_prefix").format(prompt(GROUP, "system_msg")[spec.name])
    return [{"role": "system", "content": system}, {"role": "user", "content": content}]


def parse_verdict(text: str) -> str | None:
    """``"A"`` for ``1 2``, ``"B"`` for ``2 1`` on the first line; ``None`` for anything else."""
    lines = text.strip().splitlines()
    ranks = lines[0].split() if lines else []
    if ranks == ["1", "2"]:
        return "A"
    if ranks == ["2", "1"]:
        return "B"
    return None


def sample_indices(n_records: int, k: int, seed: int, dataset: str) -> list[int]:
    """``k`` distinct record indices, fixed by (seed, dataset), in record order."""
    rng = random.Random(f"lamm-gpt-metric:{seed}:{dataset}")
    return sorted(rng.sample(range(n_records), min(k, n_records)))


class JudgeCache:
    """Successful judge replies on disk, one JSON file per (judge model, prompt hash): the shared
    :class:`~lamm.llm_client.DiskCache` keyed without sampling params (the judge decodes greedily)."""

    def __init__(self, root: str | Path, model: str) -> None:
        self.root, self.model = Path(root), model
        self._disk = DiskCache(root)

    def key(self, messages: list[dict[str, str]]) -> str:
        return cache_key(self.model, messages)

    def get(self, messages: list[dict[str, str]]) -> str | None:
        hit = self._disk.get(self.key(messages))
        return hit.get("reply") if hit is not None else None

    def put(self, messages: list[dict[str, str]], reply: str) -> None:
        self._disk.put(self.key(messages), {"model": self.model, "reply": reply})


@dataclass
class Judgement:
    index: int
    id: str
    verdict: str | None  # "A" | "B" | None
    status: str  # "ok" | "unparsed" | "failed" | "missing"
    detail: str = ""


def answers_folder(run: str | Path) -> Path:
    """A run folder's official answers (``RUN/answers``), or an answer folder given directly."""
    run = Path(run)
    return run / "answers" if (run / "answers").is_dir() else run


def _by_id(folder: Path, spec: DatasetSpec) -> dict[str, str] | None:
    try:
        rows = read_answers(folder, spec)
    except Exception:  # noqa: BLE001 - a run without this dataset is reported, not fatal
        return None
    return {str(r["id"]): r["text"] for r in rows if not is_placeholder(r)}  # skipped: no answer


def judge_dataset(
    client: Any,
    cache: JudgeCache,
    benchmark_dir: str | Path,
    spec: DatasetSpec,
    run_a: str | Path,
    run_b: str | Path,
    *,
    seed: int = 0,
    size: int | None = None,
    buggy_newlines: bool = False,
    refresh: bool = False,
) -> dict[str, Any]:
    """Judge one dataset (``refresh``: ask the judge again instead of reading the cache); returns counts, win rates with CIs, and every sample's outcome."""
    a, b = _by_id(answers_folder(run_a), spec), _by_id(answers_folder(run_b), spec)
    if a is None or b is None:
        missing = [str(r) for r, x in ((run_a, a), (run_b, b)) if x is None]
        return {"dataset": spec.name, "error": f"no {spec.answer_file} in {', '.join(missing)}"}
    if not meta_path(benchmark_dir, spec).is_file():
        return {"dataset": spec.name, "error": f"no {spec.meta_file} in {benchmark_dir}"}
    records = load_benchmark(benchmark_dir, spec)
    k = size if size is not None else sample_sizes()[spec.name]
    chosen = [records[i] for i in sample_indices(len(records), k, seed, spec.name)]
    results: list[Judgement] = []
    todo: list[tuple[BenchRecord, list[dict[str, str]]]] = []
    for rec in chosen:
        if rec.id not in a or rec.id not in b:
            results.append(Judgement(rec.index, rec.id, None, "missing", "answer absent from a run"))
            continue
        msgs = judge_messages(
            spec, rec.query, ground_truth(spec, rec), a[rec.id], b[rec.id], buggy_newlines=buggy_newlines
        )
        cached = None if refresh else cache.get(msgs)
        if cached is not None:
            results.append(_judged(rec, cached))
        else:
            todo.append((rec, msgs))
    replies = client.chat_many([m for _, m in todo]) if todo else []
    for (rec, msgs), reply in zip(todo, replies):
        if isinstance(reply, GenFailure):
            results.append(Judgement(rec.index, rec.id, None, "failed", redact(reply.reason)))
            continue
        judged = _judged(rec, reply)
        if judged.status == "ok":  # an unparseable verdict is asked again on the next run, not served
            cache.put(msgs, reply)
        results.append(judged)
    results.sort(key=lambda j: j.index)
    return summarize(spec.name, results)


def _judged(rec: BenchRecord, reply: str) -> Judgement:
    verdict = parse_verdict(reply)
    if verdict is None:
        first = redact(reply.strip().splitlines()[0])[:80] if reply.strip() else ""
        return Judgement(rec.index, rec.id, None, "unparsed", first)
    return Judgement(rec.index, rec.id, verdict, "ok")


def summarize(name: str, results: list[Judgement]) -> dict[str, Any]:
    a = sum(j.verdict == "A" for j in results)
    b = sum(j.verdict == "B" for j in results)
    n = a + b
    ci = wilson(a / n, n) if n else None
    return {
        "dataset": name,
        "sampled": len(results),
        "judged": n,
        "a_wins": a,
        "b_wins": b,
        "unparsed": sum(j.status == "unparsed" for j in results),
        "failed": sum(j.status == "failed" for j in results),
        "missing": sum(j.status == "missing" for j in results),
        "win_rate_a": a / n if n else None,
        "win_rate_b": b / n if n else None,
        "ci95_a": list(ci) if ci else None,
        "samples": [j.__dict__ for j in results],
    }


def judge_runs(
    client: Any,
    benchmark_dir: str | Path,
    run_a: str | Path,
    run_b: str | Path,
    *,
    cache_dir: str | Path,
    datasets: list[str] | None = None,
    seed: int = 0,
    buggy_newlines: bool = False,
    sizes: dict[str, int] | None = None,
    refresh: bool = False,
) -> dict[str, Any]:
    """Judge every GPT-metric dataset both runs answered; per dataset and pooled win rates."""
    cache = JudgeCache(cache_dir, client.model)
    names = datasets or list(sample_sizes())
    per = {}
    for name in names:
        spec = find_dataset(name)
        per[name] = judge_dataset(
            client, cache, benchmark_dir, spec, run_a, run_b, seed=seed,
            size=(sizes or {}).get(name), buggy_newlines=buggy_newlines, refresh=refresh,
        )  # fmt: skip
    done = [d for d in per.values() if "error" not in d]
    pooled = summarize("all", [])
    for field in ("sampled", "judged", "a_wins", "b_wins", "unparsed", "failed", "missing"):
        pooled[field] = sum(d[field] for d in done)
    n = pooled["judged"]
    pooled["win_rate_a"] = pooled["a_wins"] / n if n else None
    pooled["win_rate_b"] = pooled["b_wins"] / n if n else None
    ci = wilson(pooled["a_wins"] / n, n) if n else None
    pooled["ci95_a"] = list(ci) if ci else None
    del pooled["samples"]
    return {
        "run_a": str(run_a),
        "run_b": str(run_b),
        "judge": client.model,
        "seed": seed,
        "buggy_newlines": buggy_newlines,
        "datasets": per,
        "overall": pooled,
        "client": client.report(),
    }


def format_table(result: dict[str, Any]) -> str:
    rows = [("dataset", "A win %", "95% CI", "B win %", "judged", "unparsed", "failed", "missing")]

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}"

    for name, d in [*result["datasets"].items(), ("overall", result["overall"])]:
        if "error" in d:
            rows.append((name, d["error"], "", "", "", "", "", ""))
            continue
        ci = d["ci95_a"]
        rows.append((
            name, pct(d["win_rate_a"]), f"[{pct(ci[0])}, {pct(ci[1])}]" if ci else "-", pct(d["win_rate_b"]),
            f"{d['judged']}/{d['sampled']}", str(d["unparsed"]), str(d["failed"]), str(d["missing"]),
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
