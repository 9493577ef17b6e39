"""Loading for ``hf:``: ``--model-args`` parsing, the processor (with or without torchvision) and the model.

``--model-args`` follows lmms-eval: ``key=value,key=value``. Model keys go to
``AutoModelForImageTextToText.from_pretrained``; ``revision`` and ``trust_remote_code`` go to both the
model and the processor; adapter keys change how prompts are built; every other key is a processor
option (``max_pixels=...``, ``do_image_splitting=false``) passed to the processor's ``from_pretrained``
and checked against what its image processor / tokenizer accept, so a typo is an error, not a no-op.
"""

from __future__ import annotations

import importlib.util
import os
import types
from pathlib import Path
from typing import Any

MODEL_KEYS = ("dtype", "device_map", "attn_implementation")
SHARED_KEYS = ("revision", "trust_remote_code")
ADAPTER_KEYS = ("system_role",)  # true/false: force a system turn / fold the system message into the query
DTYPES = ("auto", "float32", "float16", "bfloat16")


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_model_args(text: str | None) -> dict[str, Any]:
    """``"dtype=bfloat16,max_pixels=200704"`` -> ``{"dtype": "bfloat16", "max_pixels": 200704}``."""
    out: dict[str, Any] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--model-args: {part.strip()!r} is not KEY=VALUE")
        if key in out:
            raise ValueError(f"--model-args: {key!r} given twice")
        out[key] = _value(value.strip())
    if "dtype" in out and out["dtype"] not in DTYPES:
        raise ValueError(f"--model-args: dtype={out['dtype']!r}; one of {', '.join(DTYPES)}")
    for key in ("trust_remote_code", "system_role"):
        if key in out and not isinstance(out[key], bool):
            raise ValueError(f"--model-args: {key}={out[key]!r}; true or false")
    return out


def split_model_args(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(model kwargs, processor kwargs, adapter kwargs); ``trust_remote_code`` is False unless asked for."""
    model = {k: v for k, v in args.items() if k in MODEL_KEYS + SHARED_KEYS}
    proc = {k: v for k, v in args.items() if k not in MODEL_KEYS + ADAPTER_KEYS}
    adapter = {k: v for k, v in args.items() if k in ADAPTER_KEYS}
    model.setdefault("trust_remote_code", False)
    proc.setdefault("trust_remote_code", False)
    return model, proc, adapter


# Packages that transformers' processors/models import lazily (name in its error -> module, install hint);
# named in the error when one is missing.
OPTIONAL_PACKAGES = {
    "num2words": ("num2words", "pip install 'lamm[hf]'"),
    "torchvision": ("torchvision", "pip install the torchvision build matching your torch; none exists for "
                    "CPU torch on PyPI, so this model's processor cannot run on a CPU-only install"),
    "sentencepiece": ("sentencepiece", "pip install sentencepiece"),
    "protobuf": ("google.protobuf", "pip install protobuf"),
    "timm": ("timm", "pip install timm"),
    "einops": ("einops", "pip install einops"),
}  # fmt: skip


def _missing_package(spec: str, exc: BaseException) -> ValueError | None:
    text = str(exc).lower()
    for name, (module, hint) in OPTIONAL_PACKAGES.items():
        if name in text and importlib.util.find_spec(module.split(".")[0]) is None:
            return ValueError(
                f"{spec}: this model needs the Python package {name!r}, which is not installed ({hint})"
            )
    return None


def _not_loadable(spec: str, name: str, exc: OSError) -> ValueError:
    """transformers' OSError (a missing folder taken for a hub id, an offline hub, a folder without
    weights) as one line naming the model."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = "" if Path(name).expanduser().exists() else "not a local folder, and "
    return ValueError(f"{spec}: cannot load {name!r}: {where}transformers says: {first}")


def check_name(spec: str, name: str) -> None:
    """A path-like name that does not exist is a missing folder (not a malformed hub id)."""
    from lamm.model.official_args import missing_local_path

    if missing_local_path(name):
        raise ValueError(f"{spec}: no such folder {name} (hub ids look like ORG/NAME)")


def check_torchvision(spec: str) -> bool:
    """Whether torchvision is usable. Installed but broken (a CUDA build on CPU torch) is an error:
    transformers would take it as present and fail inside the processor."""
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # e.g. "operator torchvision::nms does not exist"
        import torch

        raise ValueError(
            f"{spec}: torchvision is installed but does not import ({type(exc).__name__}: {exc}); it must be "
            f"the build for torch {torch.__version__}. Install the matching build or uninstall torchvision "
            "(image processors then use their PIL backend and video processors are left out)"
        ) from None
    return True


def without_video(cls: type) -> type:
    """The processor class minus its video processor: images only, no torchvision needed."""
    from transformers.processing_utils import ProcessorMixin

    attrs = [a for a in cls.get_attributes() if a != "video_processor"]
    # family overrides of apply_chat_template only add video defaults (SmolVLM: frames from the video processor)
    members: dict[str, Any] = {
        "get_attributes": classmethod(lambda c: list(attrs)),
        "apply_chat_template": ProcessorMixin.apply_chat_template,
    }
    init = cls.__init__
    names = init.__code__.co_varnames[: init.__code__.co_argcount]
    defaults = init.__defaults__ or ()
    first_default = len(names) - len(defaults)
    if "video_processor" in names and names.index("video_processor") < first_default:
        # SmolVLM requires the argument: the same function (same code, so transformers still reads the
        # argument names from it) with video_processor and the arguments after it defaulting to None
        pad = (None,) * (first_default - names.index("video_processor"))
        members["__init__"] = types.FunctionType(
            init.__code__, init.__globals__, init.__name__, pad + defaults, init.__closure__
        )
        members["__init__"].__kwdefaults__ = init.__kwdefaults__
    return type(cls.__name__, (cls,), members)


def processor_class(name: str, **kwargs: Any) -> type | None:
    """The processor class a checkpoint names (``processor_config.json``, else its model type)."""
    from transformers import AutoConfig
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES, processor_class_from_name
    from transformers.processing_utils import ProcessorMixin

    try:
        found, _ = ProcessorMixin.get_processor_dict(name, **kwargs)
        cls_name = found.get("processor_class")
    except OSError:
        cls_name = None
    if not cls_name:
        model_type = AutoConfig.from_pretrained(name, **kwargs).model_type
        cls_name = PROCESSOR_MAPPING_NAMES.get(model_type)
    return processor_class_from_name(cls_name) if cls_name else None


def load_processor(name: str, spec: str, kwargs: dict[str, Any]) -> Any:
    """The checkpoint's processor; without torchvision, the same class without its video processor."""
    has_torchvision = check_torchvision(
        spec
    )  # first: a broken torchvision breaks importing transformers' Auto*
    check_name(spec, name)
    from transformers import AutoProcessor

    hub = {k: kwargs[k] for k in SHARED_KEYS if k in kwargs}
    try:
        cls = None if has_torchvision else processor_class(name, **hub)
        if cls is not None and "video_processor" in cls.get_attributes():
            return without_video(cls).from_pretrained(name, **kwargs)
        return AutoProcessor.from_pretrained(name, **kwargs)
    except ImportError as exc:
        raise (_missing_package(spec, exc) or exc) from None
    except OSError as exc:
        raise _not_loadable(spec, name, exc) from None


def check_processor_kwargs(processor: Any, kwargs: dict[str, Any], spec: str) -> None:
    """Refuse processor options that no part of the processor knows (they would be silently ignored)."""
    parts = [processor, getattr(processor, "image_processor", None), getattr(processor, "tokenizer", None)]
    for key in kwargs:
        if key in SHARED_KEYS:
            continue
        known = any(
            p is not None
            and (hasattr(p, key) or key in getattr(getattr(p, "valid_kwargs", None), "__annotations__", {}))
            for p in parts
        )
        if not known:
            raise ValueError(
                f"{spec}: --model-args {key}=...: neither a model option ({', '.join(MODEL_KEYS + SHARED_KEYS)}), "
                f"an adapter option ({', '.join(ADAPTER_KEYS)}) nor an option of {type(parts[1]).__name__}"
            )


def load_model(name: str, spec: str, kwargs: dict[str, Any], device: str) -> Any:
    """``AutoModelForImageTextToText`` in eval mode; ``device_map`` (e.g. ``auto``: one model sharded
    over the node's GPUs) replaces ``--device``."""
    import torch
    from transformers import AutoModelForImageTextToText

    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", "auto")
    kwargs["dtype"] = "auto" if dtype == "auto" else getattr(torch, dtype)
    if kwargs.get("device_map") is not None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ValueError(
            f"{spec}: device_map={kwargs['device_map']} shards one model over the node's GPUs; run one process "
            "(python -m lamm.cli eval, not torchrun), or drop device_map to run one model copy per rank"
        )
    try:
        model = AutoModelForImageTextToText.from_pretrained(name, **kwargs)
    except ImportError as exc:
        raise (_missing_package(spec, exc) or exc) from None
    except OSError as exc:
        raise _not_loadable(spec, name, exc) from None
    if kwargs.get("device_map") is None:
        model = model.to(device)
    return model.eval()
