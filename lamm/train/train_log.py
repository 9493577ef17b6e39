"""The training log: ``train_log.jsonl`` every logged step (main process), plus TensorBoard / W&B when
installed and enabled. A resumed run drops the steps after its checkpoint (they are redone)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from lamm.formats.jsonio import JsonlAppender, iter_jsonl
from lamm.train.config import Config, ConfigError

LOG_FILE = "train_log.jsonl"


def require_wandb() -> None:
    """``train.wandb=true`` without the package is refused up front, not ignored."""
    try:
        import wandb  # noqa: F401  (optional package: only checked for)
    except ImportError:
        raise ConfigError(
            "train.wandb=true needs the wandb package (pip install 'lamm[wandb]'), or set train.wandb=false"
        ) from None


class Logger:
    """JSONL every step (main process) plus TensorBoard / W&B when installed and enabled."""

    def __init__(self, out: Path, cfg: Config, enabled: bool, resume_step: int) -> None:
        self.enabled = enabled
        self.path = out / LOG_FILE
        self.tb = self.wandb = None
        if not enabled:
            return
        if resume_step and self.path.is_file():  # drop steps after the checkpoint: they are redone
            kept = [r for r in iter_jsonl(self.path) if r.get("step", 0) <= resume_step]
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), "utf-8")
            os.replace(tmp, self.path)
        elif self.path.is_file():
            self.path.unlink()
        self.jsonl = JsonlAppender(self.path)
        if cfg.train.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # optional package

                self.tb = SummaryWriter(str(out / "tensorboard"))
            except ImportError:
                print("[lamm train] note: TensorBoard logging (train.tensorboard) is off: the tensorboard package "
                      "is not installed (pip install 'lamm[tensorboard]'; train.tensorboard=false hides this); "
                      f"the log is {self.path}", file=sys.stderr)  # fmt: skip
        if cfg.train.wandb:  # the package was checked when the run started
            import wandb

            self.wandb = wandb.init(project=os.environ.get("WANDB_PROJECT", "lamm"), config=cfg.to_dict())

    def log(self, rec: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self.jsonl.write(rec)
        for k, v in rec.items():
            if isinstance(v, (int, float)) and k != "step":
                if self.tb is not None:
                    self.tb.add_scalar(f"train/{k}", v, rec["step"])
        if self.wandb is not None:
            self.wandb.log(rec, step=rec["step"])

    def close(self) -> None:
        if not self.enabled:
            return
        self.jsonl.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
