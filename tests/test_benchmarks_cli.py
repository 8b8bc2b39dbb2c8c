"""The command line, in subprocesses: --help, bad input (one line, non-zero exit), a tiny run, report."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, timeout=240):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("python -m benchmarks: error:")
    for needle in needles:
        assert needle in lines[0]


def test_help():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for flag in ("--suite", "--optimizers", "--problems", "--out", "--seeds", "--list", "report"):
        assert flag in proc.stdout


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--optimizers", "adam,no_such_optimizer"], ["unknown optimizer 'no_such_optimizer'"]),
        (["--suite", "no_such_suite"], ["unknown suite 'no_such_suite'"]),
    ],
)
def test_bad_input_is_one_line(args, needles):
    assert_one_line_error(run_cli(*args), *needles)


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--seeds", "0"], ["--seeds must be >= 1"]),
        (["--no-such-flag"], ["unrecognized arguments"]),
        (["--max-steps", "many"], ["invalid int value"]),
        (["report"], ["needs the results folder"]),
        (["report", "/no/such/folder"], ["not found"]),
        (["frobnicate"], ["unknown command 'frobnicate'"]),
    ],
)
def test_bad_input_in_process(args, needles, capsys):
    # The same checks as above, through main() directly (no interpreter start-up per case).
    from benchmarks.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m benchmarks: error:")
    for needle in needles:
        assert needle in err[0]


def test_unusable_output_folder(tmp_path):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    assert_one_line_error(run_cli("--out", str(a_file)), "is not a folder")


def test_unknown_problem(tmp_path):
    proc = run_cli("--suite", "nonconvex", "--problems", "no_such_problem", "--out", str(tmp_path))
    assert_one_line_error(proc, "unknown problem 'no_such_problem'")


def test_tiny_end_to_end_run_and_report(tmp_path):
    out = tmp_path / "results"
    proc = run_cli("--suite", "nonconvex", "--problems", "rosenbrock", "--optimizers", "sgd,scipy.BFGS",
                   "--max-steps", "50", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    # The headline table is printed, then where the report is.
    assert "best optimizer" in proc.stdout and "rosenbrock" in proc.stdout
    assert f"Report: {out}" in proc.stdout
    for name in ("records.jsonl", "meta.json", "report.md", "plots/loss_rosenbrock.png",
                 "plots/contour_rosenbrock.png", "plots/lr_sensitivity.png"):
        assert (out / name).is_file(), name
    text = (out / "report.md").read_text()
    assert "scipy.BFGS" in text and "| sgd |" in text

    os.remove(out / "report.md")
    proc = run_cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.md").read_text() == text  # re-drawn from the records alone, identically
