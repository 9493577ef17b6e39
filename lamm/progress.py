"""Progress bars and library chatter for every ``lamm`` command, decided in one place.

* :func:`progress_bar` is the one way lamm shows progress: a tqdm bar on stderr that is off under
  ``--quiet`` or ``TQDM_DISABLE=1``; when stderr is not a terminal (a log file, CI) it writes a plain
  line every 5 % instead of thousands of carriage returns.
* :func:`configured` (around every command ``lamm.cli`` runs) keeps library output off stdout:
  DeepSpeed's logger, which writes to stdout ("Setting accelerator to CPU"), is pointed at stderr, and
  with ``--quiet`` library warnings and progress bars (transformers "Loading weights") are silenced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from typing import Any

_QUIET = False
LIBRARY_LOGGERS = ("DeepSpeed", "transformers", "accelerate", "huggingface_hub", "torch.distributed")
LINE_EVERY = 0.05  # non-terminal output: one line per 5 % of the total


def quiet() -> bool:
    return _QUIET


def _env_disabled() -> bool:
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on")


class _Lines:
    """A file for tqdm that turns its carriage-return redraws into one plain line per refresh."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, s: str) -> None:
        s = s.replace("\r", "").strip()
        if s:
            self.stream.write(s + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable: Any = None, *, total: int | None = None, disable: bool = False, **kw: Any):
    """A tqdm bar on stderr; ``disable`` (the caller's own reason, e.g. not rank 0) adds to ``--quiet``
    and ``TQDM_DISABLE``. Off a terminal: a line every 5 % (or every 30 s without a total)."""
    from tqdm import tqdm

    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    off = disable or _QUIET or _env_disabled()
    stream = kw.pop("file", sys.stderr)
    if not off and not stream.isatty():
        kw.pop("dynamic_ncols", None)
        kw.update(file=_Lines(stream), ncols=100, mininterval=0 if total else 30, leave=True)
        if total:
            kw["miniters"] = max(1, int(total * LINE_EVERY))
    else:
        kw["file"] = stream
    return tqdm(iterable, total=total, disable=off, **kw)


class _StderrLogger(logging.Logger):
    """A library logger whose stdout handlers write to stderr instead (silenced under ``--quiet``)."""

    def addHandler(self, hdlr: logging.Handler) -> None:  # noqa: N802 - logging's name
        if isinstance(hdlr, logging.StreamHandler) and hdlr.stream in (sys.stdout, sys.__stdout__):
            hdlr.setStream(sys.stderr)
        if _QUIET:
            hdlr.setLevel(logging.ERROR)
        super().addHandler(hdlr)


def _claim(name: str) -> logging.Logger:
    """The logger ``name``, created as a :class:`_StderrLogger` if the library has not made it yet."""
    if name in logging.Logger.manager.loggerDict:
        logger = logging.getLogger(name)
        for h in logger.handlers:
            if isinstance(h, logging.StreamHandler) and h.stream in (sys.stdout, sys.__stdout__):
                h.setStream(sys.stderr)
        return logger
    previous = logging.getLoggerClass()
    logging.setLoggerClass(_StderrLogger)
    try:
        return logging.getLogger(name)
    finally:
        logging.setLoggerClass(previous)


QUIET_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}  # fmt: skip


@contextlib.contextmanager
def configured(*, quiet_mode: bool = False) -> Iterator[None]:
    """Progress and library output for one command; everything is restored afterwards, so that
    ``lamm.cli.main`` called in-process (tests, notebooks) leaves the caller's settings as they were."""
    global _QUIET
    saved_env = {k: os.environ.get(k) for k in QUIET_ENV}
    loggers = [_claim(name) for name in LIBRARY_LOGGERS]
    saved_levels = [lg.level for lg in loggers]
    previous, _QUIET = _QUIET, quiet_mode
    hf_restore: tuple[int, bool] | None = None
    try:
        with warnings.catch_warnings():
            if quiet_mode:
                for lg in loggers:
                    lg.setLevel(logging.ERROR)
                os.environ.update(QUIET_ENV)  # library bars and loggers that read these
                warnings.simplefilter("ignore")
                if "transformers" in sys.modules:
                    from transformers.utils import logging as hf_logging

                    hf_restore = (hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled())
                    hf_logging.set_verbosity_error()
                    hf_logging.disable_progress_bar()
            yield
    finally:
        if hf_restore is not None:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity(hf_restore[0])
            if hf_restore[1]:
                hf_logging.enable_progress_bar()
        _QUIET = previous
        for lg, level in zip(loggers, saved_levels):
            lg.setLevel(level)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
