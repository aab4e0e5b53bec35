"""`nndl list | run | report | data | weights | bench`: the command line.

Errors a user can cause (`NndlError`) print one line and exit 2; anything else prints one line
naming the exception and exits 1. `--debug` shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from nndl.errors import NndlError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Fifteen classic deep-learning studies, each one command.",
)
console = Console()
err = Console(stderr=True)
_DEBUG = {"on": False}


def _error(message: str) -> None:
    from nndl.run import dist_info

    rank, world = dist_info()
    where = f" (rank {rank} of {world})" if rank else ""  # rank 0 speaks for a torchrun launch
    err.print(f"[bold red]error{where}:[/] {message}", highlight=False, soft_wrap=True)


def _said_by_rank0(e: NndlError) -> bool:
    """A config error is the same on every rank of a torchrun launch: rank 0 alone says it."""
    from nndl.errors import ConfigError
    from nndl.run import dist_info

    return isinstance(e, ConfigError) and dist_info()[0] != 0


def _fail(message: str, code: int) -> None:
    _error(message)
    raise typer.Exit(code)


def _setup_logging(verbose: bool) -> None:
    """Warnings on the console (INFO with --debug); every INFO line goes to the run's log.txt."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("nndl")
    logger.setLevel(logging.INFO)
    logger.handlers = [handler]
    logger.propagate = False
    # a log line that cannot be written (disk full) must not print a traceback; the next
    # atomic write names the problem in one line
    logging.raiseExceptions = False


@app.command("list")
def list_studies(out: Annotated[Path, typer.Option(help="Runs folder.")] = Path("runs")):
    """Every registered study: id, slug, title, datasets and the state of its latest run."""
    from nndl.io import read_json
    from nndl.registry import all_studies
    from nndl.run import latest_run

    table = Table("id", "slug", "title", "datasets", "latest run")
    for s in all_studies():
        folder = latest_run(out, s.id)
        state = "-"
        if folder is not None:
            m = read_json(folder / "manifest.json")
            status = m.get("status")
            if status == "running" and not _alive(m.get("pid")):
                status = "interrupted (nndl run --resume)"
            state = f"{status} ({m.get('profile')}, {folder.name[:15]})"
        table.add_row(s.id, s.slug, s.title, ", ".join(s.datasets), state)
    console.print(table)


def _alive(pid) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except OSError:
        return False
    return True


def _headline(study, metrics: dict) -> str:
    from nndl.report import fmt

    return ", ".join(f"{k}={fmt(metrics[k])}" for k in study.headline if k in metrics)


def _dry_run(study, opts) -> None:
    from nndl import config as cfg
    from nndl.data import get_dataset

    cfg.check_seed(opts.seed)
    conf = cfg.resolve(study.config, opts.profile, opts.overrides)
    console.print(f"[bold]{study.id}[/] {study.title}: profile {opts.profile}, seed {opts.seed}")
    table = Table("key", "value", "meaning")
    helps = cfg.field_help(study.config)
    for k, v in cfg.to_dict(conf).items():
        table.add_row(k, str(v), helps.get(k, ""))
    console.print(table)
    plan = getattr(study.config, "plan", None)
    if plan:
        for line in conf.plan(opts.data_root):
            console.print(f"  - {line}")
    for name in study.datasets:
        info = get_dataset(name)
        if info.kind == "embedded":
            state = "embedded (always available)"
        else:
            where = info.locate(opts.data_root)
            state = (
                f"found at {where}" if where else f"missing under {opts.data_root} ({info.layout})"
            )
        console.print(f"  - dataset {name}: {state}")


@app.command()
def run(
    studies: Annotated[list[str], typer.Argument(help="Study ids or slugs, or 'all'.")],
    profile: Annotated[str, typer.Option(help="smoke | quick | full")] = "quick",
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | mps")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    data_root: Annotated[Path, typer.Option(help="Where real datasets are looked for.")] = Path(
        "data"
    ),
    out: Annotated[Path, typer.Option(help="Runs folder.")] = Path("runs"),
    set_: Annotated[list[str], typer.Option("--set", help="Config override key=value.")] = [],  # noqa: B006
    resume: Annotated[bool, typer.Option(help="Continue the latest unfinished run.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print the plan without training.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
    seeds: Annotated[
        str,
        typer.Option(help="Run once per seed (0,1,2 or 0-4) and write a mean +- std summary."),
    ] = "",
):
    """Run studies; each writes runs/<study>/<run-id>/report.html."""
    from nndl import config as cfg
    from nndl import offline
    from nndl.registry import all_studies, get_study
    from nndl.run import ReportedElsewhere, RunOptions, dist_info, execute, leave_distributed

    _DEBUG["on"] = debug
    _setup_logging(verbose=debug)
    selected = (
        all_studies()
        if [s.lower() for s in studies] == ["all"]
        else [get_study(s) for s in studies]
    )
    opts = RunOptions(
        profile=profile,
        device=device,
        seed=seed,
        data_root=data_root,
        out=out,
        overrides=cfg.parse_overrides(set_),
        resume=resume,
    )
    if opts.overrides and len(selected) > 1:
        raise NndlError("--set applies to one study at a time; run the studies separately.")
    seed_list = [seed]
    if seeds:
        from nndl.seeds import parse_seeds

        seed_list = parse_seeds(seeds)
    if dry_run:
        for study in selected:
            _dry_run(study, opts)
        return
    offline.configure()
    results = []
    is_main = dist_info()[0] == 0  # under torchrun only rank 0 reports; the others exit quietly
    import dataclasses

    jobs = [(study, k) for study in selected for k in seed_list]
    for study, k in jobs:
        opts = dataclasses.replace(opts, seed=k)
        t0 = time.perf_counter()
        try:
            folder = execute(study, opts)
        except ReportedElsewhere as e:
            raise typer.Exit(e.exit_code) from None
        except NndlError as e:
            if _said_by_rank0(e):
                raise typer.Exit(e.exit_code) from None
            if len(jobs) == 1 and not debug:
                _fail(str(e), e.exit_code)
            if debug:
                raise
            results.append((study, "failed", time.perf_counter() - t0, str(e), None))
            err.print(f"[red]{study.id} failed:[/] {e}", highlight=False)
            continue
        except KeyboardInterrupt:
            again = _resume_command(study.id, opts)
            _fail(f"{study.id} interrupted; continue it with: {again}", 130)
        except Exception as e:  # noqa: BLE001 - one line per failed study; --debug shows all
            if debug:
                raise
            if len(jobs) == 1:
                _fail(
                    f"{study.id} failed: {type(e).__name__}: {e} (--debug shows the traceback)", 1
                )
            results.append(
                (study, "failed", time.perf_counter() - t0, f"{type(e).__name__}: {e}", None)
            )
            err.print(f"[red]{study.id} failed:[/] {type(e).__name__}: {e}", highlight=False)
            continue
        if not is_main:
            continue
        from nndl.io import read_json

        metrics = read_json(folder / "metrics.json")
        results.append(
            (study, "complete", time.perf_counter() - t0, _headline(study, metrics), folder)
        )
        console.print(f"[green]{study.id}[/] report: {folder / 'report.html'}", highlight=False)
        _say_verdict(metrics)
    leave_distributed()
    if len(seed_list) > 1 and is_main:
        _summarize_seeds(results, seed_list, out, profile)
    if len(jobs) > 1 and is_main:
        table = Table("study", "status", "time", "headline / error")
        for study, status, secs, text, _ in results:
            colour = "green" if status == "complete" else "red"
            table.add_row(study.id, f"[{colour}]{status}[/]", f"{secs:.0f} s", text)
        console.print(table)
    if any(r[1] != "complete" for r in results):
        raise typer.Exit(1)


def _resume_command(study_id: str, opts) -> str:
    """The command that continues this run: --resume with the options that must match."""
    words = ["nndl", "run", study_id]
    if opts.profile != "quick":
        words += ["--profile", opts.profile]
    if opts.seed != 0:
        words += ["--seed", str(opts.seed)]
    if str(opts.out) != "runs":
        words += ["--out", shlex.quote(str(opts.out))]
    return " ".join([*words, "--resume"])


def _say_verdict(metrics: dict) -> None:
    """The verdict line, and every detector that fired, under the report's path."""
    verdict = metrics.get("verdict") or {}
    if verdict.get("summary", {}).get("checked"):
        colour = "yellow" if verdict["summary"]["out"] else "green"
        console.print(f"  [{colour}]verdict:[/] {verdict['line']}", highlight=False)
    for c in metrics.get("detectors", []):
        if not c.get("passed", True):
            console.print(f"  [yellow]check fired:[/] {c['name']} ({c['value']})", highlight=False)


def _summarize_seeds(results, seed_list, out, profile) -> None:
    """One summary per study of its runs over the seeds (only when every seed completed)."""
    from nndl.seeds import summarize

    by_study: dict = {}
    for study, status, _, _, folder in results:
        by_study.setdefault(study.id, (study, []))[1].append(
            folder if status == "complete" else None
        )
    for study, folders in by_study.values():
        if None in folders or len(folders) != len(seed_list):
            err.print(f"[red]{study.id}:[/] not every seed completed; no seed summary written")
            continue
        folder = summarize(study, folders, out, profile)
        console.print(f"[green]{study.id}[/] seeds summary: {folder / 'summary.md'}")


@app.command()
def report(out: Annotated[Path, typer.Option(help="Runs folder.")] = Path("runs")):
    """Build the site: runs/index.html (a card per study) and runs/<study>/history.html."""
    from nndl.index import build_index

    path = build_index(out)
    console.print(f"site: {path} (open it in a browser; it needs no server)", highlight=False)


@app.command()
def data(
    data_root: Annotated[Path, typer.Option(help="Where real datasets are looked for.")] = Path(
        "data"
    ),
):
    """Every known dataset: where it is looked for, whether it is present, how to get it."""
    from nndl.data import all_datasets

    console.print(
        f"Real datasets are looked for under [bold]{data_root.resolve()}[/] (--data-root)."
    )
    for info in all_datasets():
        if info.kind == "embedded":
            status = "[green]embedded[/] (always available)"
        elif info.kind == "user":
            status = "your own folder"
        else:
            where = info.locate(data_root)
            status = f"[green]present[/] at {where}" if where else "[yellow]missing[/]"
        console.print(f"\n[bold]{info.name}[/] ({info.kind}): {info.description}", highlight=False)
        console.print(f"  status: {status}", highlight=False)
        if info.layout:
            console.print(f"  layout: {info.layout}", highlight=False)
        console.print(f"  how to get it: {info.how_to_get}", highlight=False)


@app.command()
def weights(
    check: Annotated[
        bool, typer.Option(help="Also run each installed entry's check (builds the models).")
    ] = False,
):
    """Every pretrained model a study may load: what it is, where it is, how to get it."""
    from nndl import offline
    from nndl import weights as registry
    from nndl.errors import NndlError

    offline.configure()
    for w in registry.all_weights():
        path = w.locate()
        status = f"[green]found[/] at {path}" if path else "[yellow]missing[/]"
        console.print(f"\n[bold]{w.name}[/] ({w.kind}): {w.description}", highlight=False)
        console.print(f"  status: {status}", highlight=False)
        if w.arch:
            console.print(f"  architecture: {w.arch}", highlight=False)
        if w.used_by:
            console.print(f"  used by: {', '.join(w.used_by)}", highlight=False)
        if w.license:
            console.print(f"  license: {w.license}", highlight=False)
        console.print(f"  how to get it: {w.how_to_get}", highlight=False)
        if check and path:
            try:
                console.print(f"  check: [green]ok[/], {registry.check(w.name)}", highlight=False)
            except NndlError as e:
                console.print(f"  check: [red]FAILED[/], {e}", highlight=False)


@app.command()
def bench(
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | mps")] = "auto",
    repeats: Annotated[int, typer.Option(help="Timed calls per side of each ratio.")] = 7,
    data_root: Annotated[
        Path, typer.Option(help="Where the CIFAR-10 image folder is looked for.")
    ] = Path("data"),
    out: Annotated[Path, typer.Option(help="Runs folder (the report goes to OUT/bench/).")] = Path(
        "runs"
    ),
    only: Annotated[str, typer.Option(help="Comma-separated benchmark names.")] = "",
    compile: Annotated[bool, typer.Option(help="Also time torch.compile (slow on a CPU).")] = False,
):
    """Benchmarks as ratios: the loop against bare PyTorch, scratch models against libraries,
    the input pipeline, attacks and attributions against Captum, FLOP/s against matmul peak."""
    from nndl import offline
    from nndl.bench_suite import Settings, run_and_report
    from nndl.run import select_device

    _setup_logging(verbose=False)
    offline.configure()
    settings = Settings(select_device(device), repeats, data_root, compile)
    run_and_report(settings, [k for k in only.split(",") if k], out)


@app.command()
def fetch(
    studies: Annotated[list[str], typer.Argument(help="Study ids or slugs, or 'all'.")],
    profile: Annotated[str, typer.Option(help="smoke | quick | full")] = "full",
    data_root: Annotated[Path, typer.Option(help="Where real datasets go.")] = Path("data"),
    list_only: Annotated[bool, typer.Option("--list", help="Only list; download nothing.")] = False,
):
    """Every dataset and weights file a run needs: present or missing, and the download.

    Exit 0 when everything is here (or was downloaded); 2 when something is missing and there
    is no network or no automatic source (the list says how to get each).
    """
    from nndl import config as cfg
    from nndl import fetch as fetching
    from nndl import offline
    from nndl.registry import all_studies, get_study

    _setup_logging(verbose=False)
    if profile not in cfg.PROFILE_NAMES:
        raise NndlError(f"Unknown profile '{profile}'. Valid: {', '.join(cfg.PROFILE_NAMES)}.")
    selected = (
        all_studies()
        if [s.lower() for s in studies] == ["all"]
        else [get_study(s) for s in studies]
    )
    is_online = offline.configure()
    missing = []
    for study in selected:
        found = fetching.assets(study, profile, data_root)
        console.print(f"[bold]{study.id}[/] ({profile}): {len(found)} assets", highlight=False)
        if not found:
            console.print("  nothing to fetch: embedded data and bundled weights only")
        for asset in found:
            if not asset.present and asset.fetch and is_online and not list_only:
                console.print(f"  downloading {asset.kind} {asset.name} from {asset.source}")
                try:
                    asset.fetch()
                    asset.where = "downloaded"
                except Exception as e:  # noqa: BLE001 - one line per failed download
                    err.print(f"  [red]{asset.name}: download failed:[/] {e}", highlight=False)
            console.print(f"  - {fetching.describe(asset)}", highlight=False)
            if not asset.present:
                missing.append(f"{study.id}:{asset.name}")
    if missing:
        why = "no network here" if not is_online else "no automatic source, or --list"
        _fail(f"{len(missing)} assets missing ({why}): {', '.join(missing)}", 2)


def _exit(code: int):
    """Exit with `code`, ignoring SIGINT from here on. The command's work is done and written;
    a Ctrl-C during the interpreter's teardown (a second or more after torch, transformers and
    tokenizers ran) would raise KeyboardInterrupt in finalisers or, once the signal module is
    finalised (it resets Python-level handlers to SIG_DFL, but leaves SIG_IGN), kill the process
    with SIGINT: exit -2 for a run that completed."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


def main() -> None:
    from nndl.offline import guard_from_env

    guard_from_env()
    try:
        code = app(standalone_mode=False)
    except NndlError as e:
        if _DEBUG["on"]:
            raise
        if not _said_by_rank0(e):
            _error(str(e))
        _exit(e.exit_code)
    except typer.Exit as e:
        _exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        _exit(130)
    except Exception as e:  # click usage errors and anything unexpected: one line
        if hasattr(e, "show") and hasattr(
            e, "exit_code"
        ):  # click usage errors (typer vendors click)
            e.show()
            _exit(e.exit_code)
        if _DEBUG["on"]:
            raise
        _error(f"{type(e).__name__}: {e} (--debug shows the traceback)")
        _exit(1)
    _exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
