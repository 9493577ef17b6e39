"""``answers:DIR``: replay an official answer folder, to score and compare models run elsewhere.

Answers pair with meta records by position, as the official scorers do; the ``id`` must agree, so a
shuffled or shortened file is reported for the record concerned instead of being scored wrongly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamm.bench.eval.adapters import Adapter, register_adapter
from lamm.formats.answers import PLACEHOLDER_REASON, SKIPPED, answer_path, is_placeholder, read_answers
from lamm.formats.benchmark import BenchRecord, load_benchmark, meta_path
from lamm.formats.errors import FormatError
from lamm.tasks import DatasetSpec


class AnswersAdapter(Adapter):
    kind = "answers"

    def __init__(self, root: str) -> None:
        super().__init__(f"answers:{root}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FormatError(self.root, "answer folder not found")
        self._cache: dict[str, list[dict[str, Any]]] = {}

    def prepare(self, benchmark_dir: Path, specs: list[DatasetSpec]) -> None:
        """As ``lamm score``: an answer file must hold exactly one answer per meta record."""
        for spec in specs:
            path = answer_path(self.root, spec)
            if not path.is_file():
                continue  # reported per record by replay
            n_meta = len(load_benchmark(benchmark_dir, spec))
            n_ans = len(self._answers(spec))
            if n_ans != n_meta:
                raise FormatError(
                    path,
                    f"{n_ans} answers for {n_meta} records of {meta_path(benchmark_dir, spec)}; answers "
                    "pair with records by position, so the file must hold one answer per record",
                )

    def _answers(self, spec: DatasetSpec) -> list[dict[str, Any]]:
        if spec.key not in self._cache:
            self._cache[spec.key] = read_answers(self.root, spec)
        return self._cache[spec.key]

    def replay(self, spec: DatasetSpec, record: BenchRecord) -> str | dict[str, str]:
        answers = self._answers(spec)
        path = answer_path(self.root, spec)
        if record.index >= len(answers):
            raise FormatError(
                path, f"no answer for meta record {record.index} ({len(answers)} answers)", index=record.index
            )
        ans = answers[record.index]
        if "id" in ans and str(ans["id"]) != record.id:
            raise FormatError(
                path,
                f"answer id {ans['id']!r} does not match meta record id {record.id!r} at this position",
                index=record.index,
                record_id=record.id,
                field="id",
            )
        if is_placeholder(ans):
            raise FormatError(
                path,
                f"{PLACEHOLDER_REASON} ({ans[SKIPPED]}), not an answer",
                index=record.index,
                record_id=record.id,
                field=SKIPPED,
            )
        return ans["text"]

    def generate(self, requests):  # noqa: ANN001 - replay only
        raise RuntimeError("answers: adapters replay stored answers and cannot generate")

    @property
    def delta_path(self) -> str:
        return str(self.root)


@register_adapter("answers")
def build(arg: str) -> AnswersAdapter:
    return AnswersAdapter(arg)
