"""The ``lamm`` command. Thin: each subcommand lives in one module exposing ``add_arguments`` and ``run``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# subcommand -> module (or a nested table for command groups). Modules are imported only when used,
# so ``lamm score`` never imports torch.
COMMANDS: dict[str, str | dict[str, str]] = {
    "data": {
        "mini": "lamm.data.mini.cli",
        "validate": "lamm.data.validate_cli",
        "build": "lamm.data.construct.cli",
        "stats": "lamm.data.stats",
        "convert-pcl": "lamm.data.pointcloud_cli",
        "convert-3d": "lamm.data.convert3d",
    },
    "score": "lamm.bench.score_cli",
    "train": "lamm.train.cli",
    "eval": "lamm.bench.eval_cli",
    "judge": "lamm.bench.judge_cli",
    "report": "lamm.bench.report_cli",
    "chat": "lamm.model.chat_cli",
    "checkpoint": {
        "import-official": "lamm.model.official_import_cli",
        "export-official": "lamm.model.official_export_cli",
    },
    "quickstart": "lamm.quickstart",
}

HELP = {
    "data": "make and check data: mini, validate, build, stats, convert-pcl, convert-3d",
    "score": "score an answer file against a LAMM benchmark meta file",
    "train": "train a LAMM model from a YAML config or a preset",
    "eval": "run a model on LAMM-Benchmark datasets and score it",
    "judge": "GPT-judge ranking of two evaluation runs",
    "report": "leaderboard report (HTML/Markdown) across runs",
    "chat": "interactive chat with a trained checkpoint",
    "checkpoint": "official LAMM deltas <-> lamm checkpoints: import-official, export-official",
    "quickstart": "LAMM-Mini end to end: data, train, eval, report",
}


QUIET_HELP = "no progress bars, no library warnings (errors still go to stderr)"


def _load(module: str):
    """The subcommand's module; None when the module itself is absent; the error when a package it
    needs is missing (so one missing optional package disables one subcommand, not the whole CLI)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        return exc


def _unavailable(name: str, exc: ModuleNotFoundError):
    def run(_args: argparse.Namespace) -> int:
        raise SystemExit(f"lamm {name}: needs the Python package {exc.name!r}, which is not installed "
                         f"(pip install {exc.name})")  # fmt: skip

    return run


def _add(
    sub: argparse._SubParsersAction, name: str, target: str | dict[str, str], help_text: str | None
) -> None:
    if isinstance(target, dict):
        group = sub.add_parser(name, help=help_text)
        inner = group.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")
        for child, module in target.items():
            _add(inner, child, module, None)
        return
    mod = _load(target)
    if mod is None:
        return
    if isinstance(mod, ModuleNotFoundError):
        parser = sub.add_parser(name, help=f"(unavailable: needs {mod.name})")
        parser.add_argument("args", nargs=argparse.REMAINDER)
        parser.set_defaults(_run=_unavailable(name, mod))
        return
    parser = inner_parser = sub.add_parser(
        name, help=help_text or (mod.__doc__ or "").strip().splitlines()[0]
    )
    mod.add_arguments(inner_parser)
    if not any("--quiet" in a.option_strings for a in parser._actions):
        parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    parser.set_defaults(_run=mod.run)


def build_parser() -> argparse.ArgumentParser:
    from lamm import __version__

    parser = argparse.ArgumentParser(
        prog="lamm", description="LAMM: multimodal instruction data, models and benchmark."
    )
    parser.add_argument("--version", action="version", version=f"lamm {__version__}")
    parser.add_argument("--quiet", dest="quiet_all", action="store_true", help=QUIET_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, target in COMMANDS.items():
        _add(sub, name, target, HELP.get(name))
    return parser


def main(argv: list[str] | None = None) -> int:
    from lamm import progress
    from lamm.formats.errors import FormatError
    from lamm.formats.lock import FolderLocked
    from lamm.redact import redact

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # `lamm train CFG --quiet k=v`: overrides may follow the flags
        if not isinstance(getattr(args, "overrides", None), list) or any(e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides += extra
    quiet = args.quiet_all or getattr(args, "quiet", False) or getattr(args, "no_progress", False)
    try:
        with progress.configured(quiet_mode=quiet):
            rc = int(args._run(args) or 0)
            sys.stdout.flush()
        return rc
    except (FormatError, FolderLocked) as exc:
        print(f"lamm: error: {redact(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `lamm ... | head`: the reader has gone, which is not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:  # a path lamm was given cannot be used (a file where a folder goes, no permission)
        if exc.filename is None or exc.strerror is None:
            raise
        print(f"lamm: error: {exc.filename}: {exc.strerror.lower()} (check the paths given)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lamm: interrupted; finished work is saved, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
