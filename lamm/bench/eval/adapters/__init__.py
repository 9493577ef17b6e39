"""Model adapters: one small module per way of running a model, chosen by a spec string.

``lamm:CHECKPOINT`` (our checkpoints), ``hf:NAME_OR_PATH`` (transformers image-text-to-text),
``openai:MODEL@BASE_URL`` (OpenAI-compatible endpoints), ``answers:DIR`` (replay an answer folder),
``baseline:trivial`` (majority label / random option / mean count) and ``py:MODULE:FACTORY[:ARG]`` (your own adapter class, for models none of the above can run).

An adapter turns :class:`GenRequest` batches into answer strings. Modules are imported only when their
prefix is used, so ``answers:`` and ``openai:`` never import torch.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamm.formats.benchmark import BenchRecord
from lamm.tasks import DatasetSpec


@dataclass(frozen=True)
class GenRequest:
    """One generation: a media file (image or point cloud; ``None`` for text-only) and its prompt."""

    media: Path | None
    modality: str  # "image" | "pcl"
    system: str
    query: str


@dataclass(frozen=True)
class GenFailure:
    """A request that could not be answered (after retries); the runner skips or raises on it."""

    reason: str


class Adapter:
    """Base adapter. Subclasses implement :meth:`generate`; replay adapters implement :meth:`replay`."""

    kind = "base"
    # The run's --protocol (set by the runner). Adapters whose prompt the official code built differently
    # read it (lamm: vision tags of point clouds); the rest ignore it.
    protocol = "lamm"

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def generate(self, requests: list[GenRequest]) -> list[str | GenFailure]:
        """Answers in request order; greedy unless configured otherwise. Must not depend on batching."""
        raise NotImplementedError

    def prepare(self, benchmark_dir: Path, specs: list[DatasetSpec]) -> None:
        """Called once before a run with the datasets it will answer."""

    def replay(self, spec: DatasetSpec, record: BenchRecord) -> str | dict[str, str] | None:
        """For adapters that already hold answers: the record's stored ``text`` (``None``: generate)."""
        return None

    def context_length(self) -> int | None:
        """Tokens the model can attend to (prompt + answer); ``None`` when unknown or unlimited."""
        return None

    def prompt_tokens(self, request: GenRequest) -> int | None:
        """How many tokens ``request``'s prompt is for this model (media tokens included); ``None``:
        unknown. With :meth:`context_length` it lets the runner fail an over-long record by name
        instead of letting the model try (and fail the whole run) to allocate for it."""
        return None

    def answer_tokens(self) -> int:
        """Answer tokens reserved on top of the prompt."""
        return int(self.decoding().get("max_new_tokens") or 0)

    def render(self, request: GenRequest) -> str:
        """The prompt text as the model sees it (stored with each answer for auditing)."""
        return f"{request.system}\n{request.query}"

    def decoding(self) -> dict[str, Any]:
        """Decoding parameters, recorded in ``results.json``."""
        return {}

    @property
    def delta_path(self) -> str:
        """What official answer files record as ``delta_path`` (the checkpoint)."""
        return self.spec

    def close(self) -> None:
        pass


_FACTORIES: dict[str, Callable[..., Adapter]] = {}
_OPTIONS: dict[str, tuple[str, ...]] = {}  # prefix -> the options its factory takes
_BUILTIN = {
    "lamm": "lamm", "hf": "hf", "openai": "openai", "answers": "answers", "baseline": "baseline", "py": None,
}  # fmt: skip


def register_adapter(
    prefix: str, *, options: tuple[str, ...] | None = None
) -> Callable[[Callable[..., Adapter]], Callable[..., Adapter]]:
    """Register ``factory(arg: str, **options) -> Adapter`` for specs ``prefix:arg``. ``options``: the
    option names it takes (default: its keyword parameters); :func:`build_adapter` refuses any other,
    so an option such as ``do_sample`` never silently does nothing."""

    def deco(factory: Callable[..., Adapter]) -> Callable[..., Adapter]:
        _FACTORIES[prefix] = factory
        if options is not None:
            _OPTIONS[prefix] = options
        return factory

    return deco


def _check_options(prefix: str, factory: Callable[..., Adapter], options: dict[str, Any]) -> None:
    """``ValueError`` naming the adapter and each option it does not take."""
    taken = _OPTIONS.get(prefix)
    if taken is None:
        params = list(inspect.signature(factory).parameters.values())[1:]  # after ``arg``
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return  # a factory with **kwargs takes anything by its own word
        taken = tuple(p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
    extra = [k for k in options if k not in taken]
    if extra:
        flags = ", ".join(f"{k} (--{k.replace('_', '-')})" for k in extra)
        raise ValueError(
            f"the {prefix}: adapter does not take {flags}; it takes "
            + (", ".join(sorted(taken)) if taken else "no options")
        )


def _python_adapter(arg: str, spec: str, **options: Any) -> Adapter:
    """``py:package.module:factory[:ARG]``: import a user factory and call it with ARG and the options."""
    parts = arg.split(":", 2)
    if len(parts) < 2:
        raise ValueError(f"model spec {spec!r}: expected py:MODULE:FACTORY[:ARG]")
    module, attr = parts[0], parts[1]
    factory = getattr(importlib.import_module(module), attr)
    _check_options("py", factory, options)
    adapter = factory(parts[2] if len(parts) > 2 else "", **options)
    adapter.spec = spec
    return adapter


def build_adapter(spec: str, **options: Any) -> Adapter:
    """Build the adapter for a spec string such as ``lamm:runs/tiny/checkpoint`` or ``answers:out/``."""
    prefix, sep, arg = spec.partition(":")
    if not sep or not arg:
        raise ValueError(f"model spec {spec!r} must look like PREFIX:ARG; prefixes: {', '.join(known())}")
    if prefix == "py":
        return _python_adapter(arg, spec, **options)
    if prefix not in _FACTORIES and _BUILTIN.get(prefix):
        importlib.import_module(f"{__name__}.{_BUILTIN[prefix]}")
    if prefix not in _FACTORIES:
        raise ValueError(f"unknown model adapter {prefix!r} in {spec!r}; known: {', '.join(known())}")
    _check_options(prefix, _FACTORIES[prefix], options)
    adapter = _FACTORIES[prefix](arg, **options)
    adapter.spec = spec
    return adapter


def known() -> list[str]:
    return sorted(set(_BUILTIN) | set(_FACTORIES))
