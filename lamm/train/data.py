"""Training data: instruction files -> tokenised samples -> step-exact micro-batches (padded or packed).

* Text is tokenised once at start with the model's template (``encode_sample``), so lengths are known
  for length grouping and packing, and samples with nothing to learn are found before training.
* Media are decoded and preprocessed lazily, in DataLoader workers, by the encoder's picklable
  preprocessor; ``forward`` only ever sees tensors.
* The order of samples is a pure function of (seed, epoch, step), so every process, and a resumed run,
  sees exactly the micro-batches an uninterrupted single-process run would have summed.
* Which sample goes to which rank and step, and how rows are packed, is ``lamm.train.sampling``'s job.
* Bad samples raise a ``FormatError`` naming file, record and problem, or (``on_error="skip"``) are
  skipped and counted in a ``SkipLog``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json_array
from lamm.formats.paths import data_root, resolve_media
from lamm.model.template import IGNORE_INDEX
from lamm.protocol.prompts import train_system_message
from lamm.train.config import DataConfig
from lamm.train.sampling import pack_rows


# --------------------------------------------------------------------------- skipped samples
@dataclass
class SkipLog:
    """Samples left out, with the reason; printed at start and written to ``<out>/skipped.jsonl``."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def add(self, reason: str, path: str | Path, index: int | None, record_id: Any, message: str) -> None:
        self.entries.append(
            {"reason": reason, "file": str(path), "index": index, "id": record_id, "message": message}
        )

    def counts(self) -> dict[str, int]:
        return dict(Counter(e["reason"] for e in self.entries))

    def __len__(self) -> int:
        return len(self.entries)


# --------------------------------------------------------------------------- samples
@dataclass
class TrainItem:
    """One tokenised sample; ``media`` is an absolute path decoded later in a worker."""

    file: str
    index: int
    id: str
    media: str
    input_ids: np.ndarray  # int64
    labels: np.ndarray  # int64, -100 where not supervised
    truncated: bool = False  # cut from the end to ``data.max_length`` (as official ``max_tgt_len``)

    def __len__(self) -> int:
        return len(self.input_ids)


def load_items(
    cfg: DataConfig,
    tokenizer: Any,
    *,
    num_media_tokens: int,
    modality: str,
    template: str = "lamm-v1",
    skip_log: SkipLog | None = None,
    progress: bool = False,
) -> tuple[list[TrainItem], list[list[int]]]:
    """Read, validate and tokenise every instruction file. Returns the items and, per file, the
    positions of its items (for weighted mixing). With ``on_error="raise"`` the first bad record
    raises; samples without a supervised token are always skipped and logged (never a silent zero loss)."""
    from lamm.formats.instruct import check_instruct_record
    from lamm.model.template import EmptySupervisionError, encode_sample

    skip_log = skip_log if skip_log is not None else SkipLog()
    strict = cfg.on_error == "raise"
    items: list[TrainItem] = []
    per_file: list[list[int]] = []
    if not cfg.files:
        raise FormatError(None, "no instruction files given (data.files is empty)")
    for spec in cfg.files:
        path = Path(spec.path)
        root = Path(spec.root) if spec.root else data_root(path)
        records = read_json_array(path)
        positions: list[int] = []
        iterator = enumerate(records)
        if progress:
            from lamm.progress import progress_bar

            iterator = progress_bar(iterator, total=len(records), desc=f"tokenise {path.name}", leave=False)
        for i, rec in iterator:
            try:
                sample = check_instruct_record(path, i, rec)
                if sample is None:
                    continue  # no vision key: skipped, as the official loader does
                if spec.task_types is not None and sample.task_type not in spec.task_types:
                    continue  # not selected (data.files[].task_types)
                try:  # also when the template has no system messages: `lamm data validate` flags it too
                    train_system_message(sample.task_type)
                except KeyError as exc:
                    raise FormatError(
                        path, str(exc).strip("'\""), index=i, record_id=sample.id, field="task_type"
                    ) from None
                if spec.ids is not None and not any(fnmatch.fnmatchcase(str(sample.id), p) for p in spec.ids):
                    continue  # not selected (data.files[].ids)
                if sample.media_key != modality:  # the media keys are the modality names
                    raise FormatError(
                        path, f"{sample.media_key!r} sample but the encoder takes {modality!r}", index=i,
                        record_id=sample.id, field=sample.media_key,
                    )  # fmt: skip
                media = resolve_media(root, sample.media, source=path, allow_absolute=True)
                if not media.is_file():
                    raise FormatError(
                        path,
                        f"media file not found: {media}",
                        index=i,
                        record_id=sample.id,
                        field=sample.media_key,
                    )
                try:
                    enc = encode_sample(
                        sample.conversations, sample.task_type, tokenizer, num_media_tokens=num_media_tokens,
                        modality=modality, template=template, max_length=cfg.max_length, sample_id=sample.id,
                        use_system=cfg.system_messages,
                    )  # fmt: skip
                except EmptySupervisionError as exc:
                    skip_log.add("empty_supervision", path, i, sample.id, str(exc))
                    continue
                except (KeyError, ValueError) as exc:  # unknown task_type, bad turn, ...
                    raise FormatError(path, str(exc).strip("'\""), index=i, record_id=sample.id) from None
            except FormatError as exc:
                if strict:
                    raise
                skip_log.add("bad_record" if "not found" not in exc.message else "missing_media",
                             path, i, rec.get("id"), str(exc))  # fmt: skip
                continue
            positions.append(len(items))
            items.append(
                TrainItem(
                    str(path),
                    i,
                    sample.id,
                    str(media),
                    np.asarray(enc.input_ids, dtype=np.int64),
                    np.asarray(enc.labels, dtype=np.int64),
                    enc.truncated,
                )  # fmt: skip
            )
        per_file.append(positions)
    if not items:
        raise FormatError(
            None, f"no usable training sample in {[f.path for f in cfg.files]} ({skip_log.counts()})"
        )
    return items, per_file


class InstructDataset(Dataset):
    """Items indexed by ``(position, seed)``: the media is decoded here, in a DataLoader worker.

    ``seed`` (from the sampler) seeds python/numpy/torch before preprocessing, so random preprocessing
    (point sampling) is the same whatever the number of workers or processes, and after a resume.
    """

    def __init__(
        self, items: list[TrainItem], preprocessor: Callable[[str], torch.Tensor], on_error: str
    ) -> None:
        self.items = items
        self.preprocessor = preprocessor
        self.on_error = on_error

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        pos, seed = key if isinstance(key, tuple) else (key, 0)
        item = self.items[pos]
        out: dict[str, Any] = {"pos": pos, "input_ids": item.input_ids, "labels": item.labels, "error": None}
        try:
            with _seeded(seed):
                out["media"] = self.preprocessor(item.media)
        except Exception as exc:  # corrupt image, bad point cloud, ...
            err = FormatError(
                item.file, f"bad media {item.media}: {exc}", index=item.index, record_id=item.id
            )
            if self.on_error == "raise":
                raise err from None
            out["media"], out["error"] = None, str(err)
        return out


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed python/numpy/torch for one preprocessing call, then restore the previous states (in the
    main process, with ``num_workers=0``, the training RNG streams must not be disturbed)."""
    py, npy = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(npy)


class Collator:
    """Picklable collate function: padded ``[B, Lmax]`` rows, or packed rows of several samples.

    Packed rows carry ``position_ids`` that restart at 0 for each sample and a block-diagonal bool
    ``attention_mask`` ``[R, 1, T, T]`` (True = may attend), so samples never see each other; media are
    stacked in the row-major order of their ``<media>`` runs, as ``LAMMModel`` expects.
    Each batch also reports ``real_tokens`` / ``total_tokens`` (tensor cells) and ``loss_tokens``.
    """

    def __init__(self, pad_id: int, *, packing: bool = False, pack_length: int | None = None) -> None:
        self.pad_id = pad_id
        self.packing = packing
        self.pack_length = pack_length

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, Any]:
        errors = [s["error"] for s in samples if s["error"] is not None]
        samples = [s for s in samples if s["error"] is None]
        if not samples:
            return {"empty": True, "errors": errors, "num_samples": 0}
        if self.packing:
            rows = pack_rows([len(s["input_ids"]) for s in samples], self.pack_length or 1 << 30)
        else:
            rows = [[i] for i in range(len(samples))]
        width = max(sum(len(samples[i]["input_ids"]) for i in row) for row in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
        positions = torch.zeros((len(rows), width), dtype=torch.long)
        segments = torch.full((len(rows), width), -1, dtype=torch.long)
        media = []
        for r, row in enumerate(rows):
            t = 0
            for seg, i in enumerate(row):
                s = samples[i]
                n = len(s["input_ids"])
                ids[r, t : t + n] = torch.as_tensor(s["input_ids"])
                labels[r, t : t + n] = torch.as_tensor(s["labels"])
                positions[r, t : t + n] = torch.arange(n)
                segments[r, t : t + n] = seg
                media.append(s["media"])
                t += n
        real = int((segments >= 0).sum())
        batch: dict[str, Any] = {
            "input_ids": ids,
            "labels": labels,
            "media": torch.stack(media),
            "num_samples": len(samples),
            "real_tokens": real,
            "total_tokens": ids.numel(),
            "loss_tokens": int((labels[:, 1:] != IGNORE_INDEX).sum()),
            "errors": errors,
            "empty": False,
        }
        if self.packing:
            # padding cells get their own segments so they attend only to themselves
            pad = segments < 0
            segments[pad] = -1 - torch.arange(width).expand(len(rows), width)[pad]
            batch["attention_mask"] = block_causal(segments)
            batch["position_ids"] = positions
        else:
            batch["attention_mask"] = (segments >= 0).long()
            batch["position_ids"] = None
        return batch


def block_causal(segments: torch.Tensor) -> torch.Tensor:
    """Bool ``[B, 1, T, T]`` block-diagonal causal mask from per-token segment ids."""
    from lamm.model.lamm_model import block_causal_mask

    return block_causal_mask(segments)
