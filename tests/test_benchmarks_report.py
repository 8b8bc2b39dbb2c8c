"""Records round-trip through the report: a tiny suite into tmp_path, re-drawn from the folder alone."""

import math
import os

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import plots
from benchmarks import records as rec
from benchmarks import report
from benchmarks.optimizers import OPTIMIZERS
from benchmarks.runner import Settings, recording, run_suite
from ml_opt.problems.analytic import rosenbrock
from ml_opt.problems.quadratics import ill_conditioned_quadratic, noisy_quadratic

import ml_opt

SETTINGS = Settings(max_steps=150, learning_rates=(1e-3, 1e-2, 1e-1), tol=1e-5, epochs=3, batch_size=16)
OPTIMIZER_NAMES = ["sgd", "optax.adam", "scipy.BFGS"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("bench"))
    # Two full-batch problems (one 2-D, for the contour plot) and a minibatch one (through fit).
    problems = [rosenbrock(), ill_conditioned_quadratic(5, 10.0), noisy_quadratic(4, num_train=64, num_test=32)]
    records = run_suite(problems, [OPTIMIZERS[n] for n in OPTIMIZER_NAMES], SETTINGS, out, progress=False)
    rec.write_json(os.path.join(out, rec.META_FILE), {"suite": "test", "command": "pytest"})
    return out, problems, records


def test_records_file_round_trips(tiny_run):
    out, problems, records = tiny_run
    saved = rec.read_records(os.path.join(out, rec.RECORDS_FILE))
    assert len(saved) == len(records)
    # A learning-rate grid of 3 for the two first-order rules, one scipy run (full batch only).
    assert len(saved) == 2 * (3 + 3 + 1) + (3 + 3)
    for a, b in zip(records, saved):
        for field in ("problem", "optimizer", "seed", "steps", "fun_evals", "grad_evals", "hvp_evals", "success"):
            assert a[field] == b[field], field
        assert b["final_loss"] == pytest.approx(a["final_loss"], rel=1e-9, abs=1e-300)
    for r in saved:
        assert r["error"] is None, r["error"]
        assert r["compile_seconds"] > 0 and r["run_seconds"] > 0


def test_selected_runs_carry_consistent_trajectories(tiny_run):
    _, _, records = tiny_run
    chosen = [r for r in records if r["selected"]]
    assert {(r["problem"], r["optimizer"]) for r in chosen} == {
        (p, o) for p in ("rosenbrock", "quadratic/ill_conditioned_d5_kappa10") for o in OPTIMIZER_NAMES} | {
        ("quadratic/noisy_d4", "sgd"), ("quadratic/noisy_d4", "optax.adam")}
    for r in chosen:
        t = r["trajectory"]
        assert "warning" not in t
        # The recorded pass starts at f(x0) and ends where the timed run ended, with its exact counts.
        assert t["loss"][-1] == pytest.approx(r["final_loss"], rel=1e-12, abs=1e-300)
        assert t["step"][-1] == r["steps"]
        if r["driver"] == "fit":
            # 3 epochs of 64 // 16 = 4 minibatches; the trajectory is fit's history, per step.
            assert r["steps"] == 12 and len(t["epoch_loss"]) == 3
            continue
        assert t["loss"][0] == pytest.approx(r["initial_loss"], rel=1e-12)
        if r["family"] != "scipy":
            assert t["evals"][-1] == rec.total_evals(r)
        assert np.all(np.diff(t["evals"]) >= 0)
        if r["problem"] == "rosenbrock":
            assert np.asarray(t["params"]).shape[1] == 2


def test_quadratic_is_solved_by_scipy(tiny_run):
    _, _, records = tiny_run
    r = next(r for r in records if r["optimizer"] == "scipy.BFGS" and r["problem"].startswith("quadratic"))
    assert r["success"] is True and r["success_kind"] == "global"


def test_report_redrawn_from_folder(tiny_run):
    out, problems, records = tiny_run
    path = report.write_report(out)
    text = open(path, encoding="utf-8").read()
    for p in problems:
        assert f"### {p.name}" in text
        section = text.split(f"### {p.name}")[1].split("### ")[0]
        for name in OPTIMIZER_NAMES:
            # Every (problem, optimizer) that ran has a row in the problem's table (scipy: full batch only).
            ran = any(r["problem"] == p.name and r["optimizer"] == name for r in records)
            assert (f"| {name} |" in section) == ran
    header, rows = report.headline_rows(rec.read_records(os.path.join(out, rec.RECORDS_FILE)))
    assert [row[0] for row in rows] == [p.name for p in problems]
    plots = set(os.listdir(os.path.join(out, "plots")))
    assert {"loss_rosenbrock.png", "loss_quadratic_ill_conditioned_d5_kappa10.png", "loss_quadratic_noisy_d4.png",
            "performance_profiles.png",
            "data_profiles.png", "lr_sensitivity.png", "contour_rosenbrock.png"} <= plots
    for name in plots:
        assert f"plots/{name}" in text
        assert os.path.getsize(os.path.join(out, "plots", name)) > 10_000


def test_recording_wrapper_leaves_the_run_unchanged():
    problem = ill_conditioned_quadratic(5, 10.0)
    x0 = problem.init(None)
    plain = ml_opt.minimize(problem.fun, x0, ml_opt.adam(0.05), max_steps=80)
    for enabled in (False, True):
        wrapped = ml_opt.minimize(problem.fun, x0, recording(ml_opt.adam(0.05), 81, True, enabled=jnp.asarray(enabled)),
                                  max_steps=80)
        np.testing.assert_array_equal(wrapped.params, plain.params)
        assert int(wrapped.num_steps) == int(plain.num_steps)
        losses = np.asarray(wrapped.opt_state.losses)
        if enabled:
            n = int(plain.num_steps)
            assert losses[0] == pytest.approx(float(problem.fun(x0)))
            assert np.all(np.isfinite(losses[:n]))
        else:
            assert np.all(np.isnan(losses))  # nothing written


def test_bad_records_file_is_named(tmp_path):
    (tmp_path / rec.RECORDS_FILE).write_text('{"problem": "x"}\nnot json\n')
    with pytest.raises(ValueError, match="records.jsonl:2"):
        rec.read_records(str(tmp_path / rec.RECORDS_FILE))


def test_non_finite_numbers_round_trip(tmp_path):
    path = str(tmp_path / rec.RECORDS_FILE)
    rec.append_records(path, [{"final_loss": float("nan"), "grad_norm": float("inf"), "x": [1.0, -math.inf]}])
    (r,) = rec.read_records(path)
    assert math.isnan(r["final_loss"]) and r["grad_norm"] == math.inf and r["x"] == [1.0, -math.inf]


def test_a_failing_optimizer_becomes_an_error_record():
    from benchmarks.optimizers import OptimizerSpec
    from benchmarks.runner import run_pair

    def broken(lr):
        raise ValueError("this optimizer cannot be built\nsecond line")

    spec = OptimizerSpec(name="broken", family="ml_opt", order=1, build=broken, sweep=True, fixed={},
                         driver="minimize", description="raises")
    (r,) = run_pair(rosenbrock(), spec, SETTINGS)
    assert r["error"] == "ValueError: this optimizer cannot be built"
    assert r["success"] is False and r["status"].startswith("error:")


def test_symlog_axis_of_a_run_unbounded_below_holds_every_value():
    # The monkey saddle from near the origin: f(x0) = -2e-9, then down to -1.78e308 (still finite).
    values = np.array([-2e-9, -1e-3, -2.7e205, -1.78e308, 3.0e-10])
    low, high = plots._symlog_limits(values, linthresh=2e-9)
    assert math.isfinite(low) and math.isfinite(high)
    assert low <= values.min() and high >= values.max()
