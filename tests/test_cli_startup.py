"""The first minute and the last: the command answers --help at once, says its version, and a run
stopped by Ctrl-C or SIGTERM says so on a line of its own, keeps what it said, and leaves no
temporary folder."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from importlib.metadata import version

import pytest
from conftest import FAST_LATENCY, run_prune, stop_after_first_checkpoint
from tqdm.auto import tqdm

from bertpress.cli import info, main
from bertpress.steps import runner

HEAVY = ("torch", "transformers", "datasets", "onnx", "onnxruntime", "openvino")


def seconds_to_run(*argv: str) -> float:
    """The best of two runs of a Python process: the machine's noise is one-sided."""
    times = []
    for _ in range(2):
        started = time.perf_counter()
        subprocess.run([sys.executable, *argv], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


def test_help_answers_about_as_fast_as_python_starts():
    bare = seconds_to_run("-c", "pass")
    assert seconds_to_run("-m", "bertpress", "--help") < bare + 1.0


def test_parsing_a_command_line_imports_no_heavy_library():
    script = (
        "import sys; from bertpress.cli import build_parser; "
        "build_parser().parse_args(['evaluate', '--model', 'm', '--task', 'rte']); "
        f"print(','.join(name for name in {HEAVY!r} if name in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == ""


def test_version(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"bertpress {version('bertpress')}\n"


# A `bertpress info` whose run is half-way through writing OUTPUT (argv[1]) when the signal comes.
STOPPED_MID_WRITE = textwrap.dedent(
    """
    import sys, time
    from bertpress import cli
    from bertpress.cli import info
    from bertpress.outputs import atomic_dir

    def run(args):
        with atomic_dir(sys.argv[1]) as folder:
            (folder / "weights").write_text("half written")
            time.sleep(60)

    info.run = run
    sys.exit(cli.main(["info", "--model", "m"]))
    """
)


def test_sigterm_removes_the_temporary_folder(tmp_path):
    output = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-c", STOPPED_MID_WRITE, str(output)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 15
    while not list(tmp_path.glob(".out.*/weights")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=15)
    assert process.returncode == 143, err
    assert err == "bertpress info: terminated, nothing written\n"
    assert list(tmp_path.iterdir()) == []


def test_sigterm_during_prune_leaves_nothing(model_dir, rte_dir, tmp_path, monkeypatch, capsys):
    """A real run: the pruned folder half saved and the run's working folder both go."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "scratch"))
    (tmp_path / "scratch").mkdir()

    def save_then_terminate(state, recipe, report, folder):
        (folder / "config.json").write_text("{}")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the signal's exception comes first

    def ignore(signum, frame):
        """Without bertpress's own handler the test fails, instead of SIGTERM ending pytest."""

    monkeypatch.setattr(runner, "save_state", save_then_terminate)
    previous = signal.signal(signal.SIGTERM, ignore)
    try:
        code = run_prune(model_dir, rte_dir, tmp_path / "pruned", "--macs", "0.6")
    finally:
        after = signal.signal(signal.SIGTERM, previous)
    assert code == 143
    assert capsys.readouterr().err.splitlines()[-1] == "bertpress prune: terminated, nothing written"
    assert not list(tmp_path.glob("*pruned*")) and not list((tmp_path / "scratch").iterdir())
    assert after is ignore  # the handler the process had is back


def test_ctrl_c_message_starts_on_its_own_line(monkeypatch, capsys):
    def run(args):
        bar = tqdm(total=10, desc="fisher", mininterval=0)  # left open, as an interrupted loop leaves it
        bar.update(3)
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "run", run)
    assert main(["info", "--model", "m"]) == 130
    gc.collect()  # a bar still open would draw itself again when collected
    lines = capsys.readouterr().err.split("\n")
    assert lines[-2:] == ["bertpress info: interrupted, nothing written", ""]
    assert "fisher" in lines[-3] and "3/10" in lines[-3]


def test_ctrl_c_after_a_saved_epoch_names_the_checkpoint(model_dir, rte_dir, tmp_path, monkeypatch, capsys):
    stop_after_first_checkpoint(monkeypatch)
    output = tmp_path / "student"
    argv = ["distill", "--model", str(model_dir), "--task", "rte", "--data-dir", str(rte_dir), "--output", str(output)]
    argv += ["--drop-layers", "1", "--num-samples", "32", "--train-batch-size", "8", "--epochs", "1", *FAST_LATENCY]
    assert main(argv) == 130
    message = capsys.readouterr().err.splitlines()[-1]
    folder = f"{output}.checkpoints"
    assert message == (
        f"bertpress distill: interrupted; its last finished epoch is kept in {folder}: continue with --resume {folder}"
    )
