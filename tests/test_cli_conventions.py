"""CLI conventions across commands: errors and library chatter on stderr (stdout holds results only),
``--quiet`` silences progress and library warnings, progress bars honour TQDM_DISABLE and write plain
lines (not carriage returns) when stderr is a file, and a closed pipe ends output quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from eval_helpers import make_benchmark_2d

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


def _lamm(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    full.update(PYTHONPATH=f"{TESTS}{os.pathsep}{REPO}", OMP_NUM_THREADS="1", **env)
    return subprocess.run([sys.executable, "-m", "lamm.cli", *args], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _eval(bench: Path, out: Path, model: str, *more: str, **env: str) -> subprocess.CompletedProcess:
    return _lamm("eval", "--model", model, "--benchmark-dir", str(bench), "--out", str(out),
                 "--datasets", "CIFAR10", "--batch-size", "1", *more, **env)  # fmt: skip


def test_library_chatter_goes_to_stderr_and_quiet_silences_it(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=3)
    loud = _eval(bench, tmp_path / "a", "py:noisy_helpers:make")
    assert loud.returncode == 0, loud.stderr
    assert "Setting accelerator to CPU" in loud.stderr and "Loading weights" in loud.stderr
    assert "Setting accelerator" not in loud.stdout and "Loading weights" not in loud.stdout
    assert loud.stdout.splitlines()[0].split()[:2] == ["dataset", "metric"]  # stdout: the results table
    quiet = _eval(bench, tmp_path / "b", "py:noisy_helpers:make", "--quiet")
    assert quiet.returncode == 0, quiet.stderr
    for text in ("Setting accelerator", "Loading weights", "Some weights", "sample/s]"):
        assert text not in quiet.stderr and text not in quiet.stdout
    assert quiet.stdout == loud.stdout.replace(str(tmp_path / "a"), str(tmp_path / "b"))


def test_progress_in_a_log_file_is_a_few_plain_lines_and_tqdm_disable_is_honoured(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=60)
    logged = _eval(bench, tmp_path / "a", "py:eval_helpers:make_echo", "--no-score")
    assert logged.returncode == 0, logged.stderr
    assert "\r" not in logged.stderr
    bars = [x for x in logged.stderr.splitlines() if x.startswith("CIFAR10:") and "/60 [" in x]
    assert 10 <= len(bars) <= 25, logged.stderr  # a line every 5 %, not one per record
    assert "60/60" in bars[-1]
    off = _eval(bench, tmp_path / "b", "py:eval_helpers:make_echo", "--no-score", TQDM_DISABLE="1")
    assert off.returncode == 0 and not [x for x in off.stderr.splitlines() if "sample/s]" in x]


def test_errors_go_to_stderr(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train: {max_steps: 3}\n")
    res = _lamm("train", str(cfg))
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith("lamm train: error:")


def test_closed_pipe_ends_output_without_a_traceback(tmp_path):
    bench = make_benchmark_2d(tmp_path / "2D", n=3)
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(
        [sys.executable, "-m", "lamm.cli", "data", "validate", str(bench)], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    p.stdout.close()  # like `| head` having exited before lamm writes
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert p.returncode == 0


def test_quiet_in_process_leaves_the_callers_settings_alone(tmp_path, capsys, monkeypatch):
    import logging
    import warnings

    from lamm import progress
    from lamm.cli import main

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    bench = make_benchmark_2d(tmp_path / "2D", n=2)
    filters = list(warnings.filters)
    assert main(["--quiet", "data", "validate", str(bench)]) == 0
    assert "TQDM_DISABLE" not in os.environ and "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    assert not progress.quiet() and warnings.filters == filters
    assert logging.getLogger("transformers").level != logging.ERROR


def test_an_output_path_blocked_by_a_file_is_one_error_line(tmp_path, capsys):
    """``--out`` naming an existing file (or a path below one) was a raw FileExistsError /
    NotADirectoryError traceback from every command that writes."""
    from lamm.cli import main

    bench = make_benchmark_2d(tmp_path / "2D", n=2)
    blocker = tmp_path / "afile"
    blocker.write_text("")
    answers = tmp_path / "a.json"
    answers.write_text('[{"id": "c0", "text": "cat"}, {"id": "c1", "text": "dog"}]')
    instruct = tmp_path / "i.json"
    instruct.write_text('[{"id": "x", "image": "x.png", "conversations": [{"from": "human", "value": "q"}, '
                        '{"from": "gpt", "value": "a"}]}]')  # fmt: skip
    cases = {
        "eval": (
            [
                "eval",
                "--model",
                "py:eval_helpers:make_echo",
                "--benchmark-dir",
                str(bench),
                "--datasets",
                "CIFAR10",
                "--out",
                str(blocker),
            ],
            blocker,
            "file exists",
        ),  # fmt: skip
        "score": (
            [
                "score",
                "--benchmark-dir",
                str(bench),
                "--dataset",
                "CIFAR10",
                "--answers",
                str(answers),
                "--samples",
                str(blocker / "s.jsonl"),
            ],
            blocker / "s.jsonl",
            "not a directory",
        ),  # fmt: skip
        "stats": (["data", "stats", str(instruct), "--out", str(blocker)], blocker, "file exists"),
    }
    for name, (args, path, reason) in cases.items():
        assert main([*args, "--quiet"]) == 2, name
        err = capsys.readouterr().err
        assert err == f"lamm: error: {path}: {reason} (check the paths given)\n", (name, err)
