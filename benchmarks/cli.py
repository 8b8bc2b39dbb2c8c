"""The command line: ``python -m benchmarks [run|report|list] ...``."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time

DEFAULT_OUT = "benchmark-results"

_DESCRIPTION = """\
Benchmark ml_opt's optimizers against optax and scipy.optimize on test losses, and write a report.

With no arguments, runs the `quick` suite (a few minutes on a laptop CPU) and writes
benchmark-results/report.md with its plots. Every run is appended to
benchmark-results/records.jsonl as it finishes.
"""

_EPILOG = """\
examples:
  python -m benchmarks                                  the quick suite into benchmark-results/
  python -m benchmarks --list                           suites, optimizers and problems
  python -m benchmarks --suite mgh --out results/mgh    the 35 Moré-Garbow-Hillstrom problems
  python -m benchmarks --optimizers adam,optax.adam,scipy.BFGS --problems rosenbrock,"mgh/*"
  python -m benchmarks --suite quick --seeds 3          three seeds (random starts on the 2-D functions)
  python -m benchmarks report benchmark-results         re-draw the report from saved records

optimizer groups (for --optimizers): all, ml_opt, optax, scipy, first_order, second_order.
--problems takes exact names or shell patterns ("mgh/*"); without --suite it searches every suite.
"""


class _Fail(Exception):
    """A user error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise _Fail(f"{message} (see python -m benchmarks --help)")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m benchmarks", description=_DESCRIPTION, epilog=_EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", metavar="{run,report,list}",
                        help="run (default): run a suite and write the report; report DIR: re-draw the report "
                             "of a results folder; list: same as --list")
    parser.add_argument("folder", nargs="?", default=None, metavar="DIR",
                        help="for `report`: the results folder to re-draw")
    parser.add_argument("--suite", default=None,
                        help="quick (default), convex, nonconvex, mgh, ml, nn or all")
    parser.add_argument("--optimizers", type=_csv, default=None, metavar="A,B,...",
                        help="comma-separated optimizer names or groups (default: the suite's)")
    parser.add_argument("--problems", type=_csv, default=None, metavar="P,Q,...",
                        help="comma-separated problem names or patterns such as 'mgh/*' (default: the suite's)")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"results folder: records.jsonl, report.md, plots/ (default: {DEFAULT_OUT}); "
                             "a previous run's records there are replaced")
    parser.add_argument("--seeds", type=int, default=1, metavar="N",
                        help="seeds 0..N-1 per run (starting points / initialisations); default 1")
    parser.add_argument("--max-steps", type=int, default=None, metavar="N",
                        help="iteration budget of full-batch runs (default: the suite's, 2000 for quick)")
    parser.add_argument("--epochs", type=int, default=None, metavar="N",
                        help="epochs of minibatch training (default: the suite's, 10 for quick)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N", help="minibatch size (default 64)")
    parser.add_argument("--gtol", type=float, default=1e-6, help="stop when ||grad||_inf <= GTOL (default 1e-6)")
    parser.add_argument("--tol", type=float, default=1e-5,
                        help="success: f - f* <= TOL * max(1, |f*|) (default 1e-5)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="programs compiled at once, in threads, before a problem's runs are timed "
                             "(default: the number of CPUs, at most 4)")
    parser.add_argument("--list", action="store_true", help="list suites, optimizers and problems, then exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check_out_dir(path: str) -> None:
    if os.path.exists(path) and not os.path.isdir(path):
        raise _Fail(f"output folder {path!r} exists and is not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise _Fail(f"cannot write to output folder {path!r}: {e.strerror or e}") from None


def _machine() -> str:
    import jax

    devices = ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()}))
    return f"{platform.platform()}; {platform.processor() or platform.machine()}; {os.cpu_count()} CPU threads; {devices}"


def _versions() -> str:
    import importlib.metadata as md

    parts = []
    for name in ("jax", "jaxlib", "optax", "flax", "scipy", "numpy", "scikit-learn"):
        try:
            parts.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            pass
    return f"python {platform.python_version()}, " + ", ".join(parts)


def _list(args) -> int:
    from benchmarks.optimizers import OPTIMIZERS, groups
    from benchmarks.suites import SUITES

    print("suites:")
    for s in SUITES.values():
        print(f"  {s.name:<10} {s.description}")
    print("\noptimizers:")
    for o in OPTIMIZERS.values():
        print(f"  {o.name:<24} {o.family:<7} {o.description}")
    print("\noptimizer groups: " + ", ".join(groups()))
    names = [args.suite] if args.suite else [s for s in SUITES if s != "all"]
    for name in names:
        if name not in SUITES:
            raise _Fail(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
        print(f"\nproblems of suite {name!r} (building them...)", flush=True)
        _enable_x64()
        for p in SUITES[name].problems():
            print(f"  {p.name:<44} n = {p.dim}")
    return 0


def _enable_x64() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)


def _run(args, argv: list[str]) -> int:
    _enable_x64()  # before the problems are built: they take the default float dtype at construction
    from benchmarks import optimizers as opt_mod
    from benchmarks import records as rec
    from benchmarks.report import headline_rows, text_table, write_report
    from benchmarks.runner import Settings, run_suite
    from benchmarks.suites import SUITES, select_problems

    suite_name = args.suite or ("all" if args.problems else "quick")
    if suite_name not in SUITES:
        raise _Fail(f"unknown suite {suite_name!r}; choose from {', '.join(SUITES)}")
    suite = SUITES[suite_name]
    try:
        opt_names = opt_mod.resolve(args.optimizers) if args.optimizers else list(suite.optimizers)
    except KeyError as e:
        raise _Fail(f"unknown optimizer {e.args[0]!r}; see python -m benchmarks --list") from None
    for flag, value, low in (("--seeds", args.seeds, 1), ("--max-steps", args.max_steps, 1),
                             ("--epochs", args.epochs, 1), ("--batch-size", args.batch_size, 1),
                             ("--jobs", args.jobs, 1)):
        if value is not None and value < low:
            raise _Fail(f"{flag} must be >= {low}, got {value}")
    if not (args.tol > 0 and args.gtol >= 0):
        raise _Fail("--tol must be > 0 and --gtol >= 0")
    _check_out_dir(args.out)

    t_start = time.perf_counter()
    print(f"building the problems of suite {suite_name!r}...", flush=True)
    problems = suite.problems()
    try:
        problems = select_problems(problems, args.problems)
    except KeyError as e:
        raise _Fail(f"unknown problem {e.args[0]!r} in suite {suite_name!r}; see python -m benchmarks --list") from None
    settings = Settings(
        max_steps=args.max_steps or suite.max_steps,
        gtol=args.gtol,
        tol=args.tol,
        seeds=tuple(range(args.seeds)),
        epochs=args.epochs or suite.epochs,
        batch_size=args.batch_size or suite.batch_size,
    )
    specs = [opt_mod.OPTIMIZERS[n] for n in opt_names]

    for name in (rec.RECORDS_FILE, rec.META_FILE, "report.md"):
        path = os.path.join(args.out, name)
        if os.path.exists(path):
            os.remove(path)
    import shutil

    for sub in ("plots", "surfaces"):
        shutil.rmtree(os.path.join(args.out, sub), ignore_errors=True)

    meta = {
        "suite": suite_name,
        "command": "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": _machine(),
        "versions": _versions(),
        "problems": [p.name for p in problems],
        "optimizers": opt_names,
        "max_steps": settings.max_steps,
        "gtol": settings.gtol,
        "tol": settings.tol,
        "seeds": list(settings.seeds),
        "learning_rates": list(settings.learning_rates),
        "epochs": settings.epochs,
        "batch_size": settings.batch_size,
        "compile_workers": args.jobs or max(1, min(4, os.cpu_count() or 1)),
        "wall_seconds_runs": None,
        "wall_seconds": None,
    }
    rec.write_json(os.path.join(args.out, rec.META_FILE), meta)
    records = run_suite(problems, specs, settings, args.out, progress=not args.no_progress,
                        compile_workers=args.jobs,
                        minibatch_optimizers=None if args.optimizers else suite.minibatch_optimizers)
    meta["wall_seconds_runs"] = time.perf_counter() - t_start
    rec.write_json(os.path.join(args.out, rec.META_FILE), meta)
    print("writing the report...", flush=True)
    report = write_report(args.out)
    meta["wall_seconds"] = time.perf_counter() - t_start
    rec.write_json(os.path.join(args.out, rec.META_FILE), meta)

    header, rows = headline_rows(records)
    print()
    print(text_table(header, rows))
    errors = [r for r in records if r.get("error")]
    if errors:
        print(f"\n{len(errors)} optimizer/problem pairs raised an error; see the report's Errors section.")
    print(f"\n{len(records)} runs in {meta['wall_seconds']:.0f} s. Report: {report}")
    return 0


def _report(args) -> int:
    from benchmarks.report import headline_rows, load, text_table, write_report

    if not args.folder:
        raise _Fail("report needs the results folder: python -m benchmarks report DIR")
    if not os.path.isdir(args.folder):
        raise _Fail(f"results folder {args.folder!r} not found")
    try:
        path = write_report(args.folder)
        _, records = load(args.folder)
    except (FileNotFoundError, ValueError) as e:
        raise _Fail(str(e)) from None
    header, rows = headline_rows(records)
    print(text_table(header, rows))
    print(f"\nReport: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
        if args.command not in ("run", "report", "list"):
            raise _Fail(f"unknown command {args.command!r}; use run, report or list")
        if args.command != "report" and args.folder is not None:
            raise _Fail(f"unexpected argument {args.folder!r}")
        if args.list or args.command == "list":
            return _list(args)
        if args.command == "report":
            return _report(args)
        return _run(args, argv)
    except _Fail as e:
        print(f"python -m benchmarks: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m benchmarks: interrupted; the records written so far are kept", file=sys.stderr)
        return 130
