"""One run of one study: its folder, seed, device, threads, manifest, log, resume and outputs.

runs/<study>/<run-id>/
    manifest.json   status: running | failed (with the error) | interrupted | complete
    config.yaml     the resolved config, profile and seed
    metrics.json    deterministic results (same seed, same CPU machine -> same bytes)
    timings.json    every wall-clock measurement (never in metrics.json)
    report.md, report.html, figures/, tables/, checkpoints/, log.txt, env.json
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nndl import config as cfg
from nndl import interrupt
from nndl.errors import ConfigError, NndlError
from nndl.io import check_writable, read_json, write_json
from nndl.registry import Study

log = logging.getLogger("nndl")


def dist_info() -> tuple[int, int]:
    """(rank, world_size) under torchrun, else (0, 1)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class ReportedElsewhere(NndlError):
    """An error rank 0 met and reports; the other ranks of a torchrun launch exit quietly."""

    def __init__(self, exit_code: int):
        super().__init__("reported by rank 0")
        self.exit_code = exit_code


def _init_distributed(device: str) -> None:
    """Join torchrun's process group (once per process); each rank on its own GPU."""
    import torch
    import torch.distributed as torch_dist

    if device == "cuda":
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        if per_node > torch.cuda.device_count():  # NCCL cannot put two ranks on one GPU
            raise ConfigError(
                f"torchrun started {per_node} processes per node but this machine has "
                f"{torch.cuda.device_count()} GPU(s); pass --nproc_per_node "
                f"{torch.cuda.device_count()} (or --device cpu)."
            )
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if device == "cuda" else "gloo")


def leave_distributed() -> None:
    """Leave torchrun's process group at the end of the command (no-op outside torchrun)."""
    if dist_info()[1] > 1:
        import torch.distributed as torch_dist

        if torch_dist.is_initialized():
            torch_dist.destroy_process_group()


def _from_rank0(decide):
    """`decide()` on rank 0, its result (or its error) on every rank: one run per launch.

    Rank 0 picks the run id from its clock and the folder (a new one, or the one `--resume`
    continues); the others receive them instead of reading their own clocks.
    """
    import torch.distributed as torch_dist

    box = [None]
    if dist_info()[0] == 0:
        try:
            box[0] = ("ok", decide())
        except NndlError as e:
            box[0] = ("error", e.exit_code)
            torch_dist.broadcast_object_list(box, src=0)
            raise
    torch_dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise ReportedElsewhere(value)
    return value


def select_device(name: str = "auto") -> str:
    """'auto' picks cuda, then mps, then cpu; an unavailable explicit choice is an error."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available.")
    if name == "mps" and not (torch.backends.mps.is_available()):
        raise ConfigError("--device mps was asked for but MPS is not available.")
    if name not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"Unknown device '{name}'. Valid: auto, cpu, cuda, mps.")
    return name


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if "keras" in sys.modules:
        sys.modules["keras"].utils.set_random_seed(seed)


def _git_revision() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


@dataclass
class RunOptions:
    profile: str = "quick"
    device: str = "auto"
    seed: int = 0
    data_root: Path = Path("data")
    out: Path = Path("runs")
    overrides: dict[str, str] = field(default_factory=dict)
    resume: bool = False
    threads: int | None = None  # torch intra-op threads; None = all cores
    quiet: bool = False  # no progress bars


class RunContext:
    """What a study's `run(ctx)` gets: config, folders, device, report, metrics, timings, cache."""

    def __init__(self, study: Study, config, opts: RunOptions, folder: Path, device: str):
        from nndl.cache import ArtifactCache
        from nndl.report import Report

        self.study, self.config, self.opts = study, config, opts
        self.profile, self.seed, self.device = opts.profile, opts.seed, device
        self.data_root = Path(opts.data_root)
        self.folder = folder
        self.rank, self.world_size = dist_info()
        self.is_main = self.rank == 0
        self.metrics: dict[str, Any] = {}  # deterministic results -> metrics.json
        self.timings: dict[str, Any] = {}  # wall-clock seconds -> timings.json
        self.checks: list = []  # nndl.detectors.Check, in the order the study ran them
        self.report = Report(folder, title=f"{study.id}: {study.title}")
        self.cache = ArtifactCache.default(opts.out)
        self.resume = opts.resume

    @property
    def checkpoint_dir(self) -> Path:
        return self.folder / "checkpoints"

    @contextlib.contextmanager
    def timer(self, name: str):
        """Time a block into timings.json under `name` (seconds)."""
        t0 = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t0

    def check(self, result) -> Any:
        """Record a failure-mode detector's result (nndl.detectors.Check) for the report."""
        self.checks.append(result)
        log.info("check: %s", result.line())
        return result

    def provenance(self, what: str, source: str) -> None:
        """Say where data or weights came from; shown at the top of the report."""
        self.report.provenance[what] = source


class RunFolder:
    """Creates or reopens `runs/<study>/<run-id>` and keeps its manifest honest."""

    def __init__(self, path: Path):
        self.path = path

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def manifest(self) -> dict:
        return _read_manifest(self.manifest_path) or {}

    def set_status(self, status: str, **extra) -> None:
        m = self.manifest()
        m.update(status=status, **extra)
        write_json(self.manifest_path, m, digits=None)


def new_run_id(profile: str, seed: int) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3]
    return f"{stamp}-{profile}-s{seed}"


def _read_manifest(path: Path) -> dict | None:
    """A run's manifest, or None when it is missing or unreadable (a foreign or damaged file)."""
    try:
        m = read_json(path)
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


def _running_elsewhere(m: dict) -> bool:
    """A run still in progress in another live process on this machine (not ours to resume)."""
    if m.get("status") != "running" or m.get("host") != platform.node() or not m.get("pid"):
        return False
    if int(m["pid"]) == os.getpid():
        return False
    try:
        os.kill(int(m["pid"]), 0)
    except (OSError, ValueError, OverflowError):
        return False
    return True


def latest_run(out: Path, study_id: str, *, unfinished: bool = False) -> Path | None:
    """The newest run folder of a study (optionally the newest not complete and not running in
    another live process: the run `--resume` continues)."""
    base = out / study_id
    if not base.is_dir():
        return None
    for folder in sorted((p for p in base.iterdir() if p.is_dir()), reverse=True):
        m = _read_manifest(folder / "manifest.json")
        if m is None:
            continue
        if unfinished and (m.get("status") == "complete" or _running_elsewhere(m)):
            continue
        return folder
    return None


def _saved_config(folder: Path) -> dict | None:
    try:
        saved = yaml.safe_load((folder / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    ok = isinstance(saved, dict) and {"profile", "seed", "config"} <= set(saved)
    return saved if ok and isinstance(saved["config"], dict) else None


def _prepare_folder(study: Study, config, opts: RunOptions) -> tuple[Path, Any, bool]:
    """The run folder, the config to use and whether this continues an earlier run."""
    out = Path(opts.out)
    check_writable(out)
    if opts.resume:
        folder = latest_run(out, study.id, unfinished=True)
        saved = _saved_config(folder) if folder is not None else None
        if folder is not None and saved is None:
            log.warning("--resume: %s has no readable config.yaml; starting a new run", folder)
            RunFolder(folder).set_status("failed", error="cannot be resumed: no config.yaml")
        elif folder is not None:
            if saved["profile"] != opts.profile or saved["seed"] != opts.seed:
                raise ConfigError(
                    f"--resume: the unfinished run {folder} used profile {saved['profile']} and "
                    f"seed {saved['seed']}; pass the same --profile and --seed."
                )
            resumed = cfg.resolve(study.config, opts.profile, saved["config"])
            if opts.overrides and resumed != config:
                raise ConfigError(f"--resume: --set values differ from those of {folder}.")
            return folder, resumed, True
        log.info("--resume: no unfinished %s run in %s; starting a new one", study.id, out)
    return _claim_new_folder(out / study.id, opts), config, False


def _claim_new_folder(base: Path, opts: RunOptions) -> Path:
    """A run folder no other run has: created exclusively, so two runs started in the same
    millisecond into the same --out get distinct ids instead of sharing (and clobbering) one."""
    run_id = new_run_id(opts.profile, opts.seed)
    try:
        base.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            folder = base / (run_id if n == 1 else f"{run_id}-{n}")
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue
    except OSError as e:
        raise NndlError(f"Cannot create a run folder in {base}: {e.strerror or e}.") from e
    raise NndlError(f"Cannot find a free run id in {base} (1,000 runs started in one ms?).")


def env_info(device: str, threads: int) -> dict:
    import numpy
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "device": device,
        "cuda": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "git_revision": _git_revision(),
        "command": " ".join(sys.argv),
        "nndl": __import__("nndl").__version__,
    }
    for mod in ("torchvision", "keras", "sklearn", "timm", "transformers", "tensorflow"):
        if mod in sys.modules:
            info[mod] = getattr(sys.modules[mod], "__version__", "?")
    return info


def changed_settings(study: Study, config, profile: str) -> list[str]:
    """'field=value' for each config field this run set away from the profile's value."""
    import dataclasses

    default = cfg.resolve(study.config, profile, {})
    return [
        f"{f.name}={getattr(config, f.name)}"
        for f in dataclasses.fields(config)
        if getattr(config, f.name) != getattr(default, f.name)
    ]


def judge(study: Study, ctx: RunContext) -> None:
    """The verdict on the expected ranges and the metric-only detectors, into metrics and report.

    metrics.json gains "verdict" ({profile, line, summary, rows}), "detectors" (one dict per
    check) and "detectors_summary"; the report opens with the verdict table and the checks.
    """
    from nndl import detectors, expect

    for fn in study.checks:
        try:
            result = fn(ctx.metrics)
        except (KeyError, TypeError, IndexError, ValueError, ZeroDivisionError):
            # the run did not produce this check's inputs
            result = None
        if result is not None:
            ctx.check(result)
    changed = changed_settings(study, ctx.config, ctx.profile)
    rows = expect.verdict(study.expect, ctx.metrics, ctx.profile, changed)
    line = expect.headline_line(rows, ctx.profile, changed)
    ctx.metrics["verdict"] = {
        "profile": ctx.profile,
        "changed": changed,
        "line": line,
        "summary": expect.summary(rows),
        "rows": rows,
    }
    ctx.metrics["detectors"] = [c.as_dict() for c in ctx.checks]
    ctx.metrics["detectors_summary"] = detectors.summary(ctx.checks)
    ctx.report.verdict = (line, rows)
    ctx.report.checks = [c.line() for c in ctx.checks]


def execute(study: Study, opts: RunOptions) -> Path:
    """Run `study` under the run contract; returns the run folder. Raises on failure."""
    import torch

    from nndl.train import set_loop_options, split_loop_overrides

    cfg.check_seed(opts.seed)
    overrides, loop = split_loop_overrides(study.config, opts.overrides)
    config = cfg.resolve(study.config, opts.profile, overrides)
    device = select_device(opts.device)
    rank, world = dist_info()
    if world > 1:
        _init_distributed(device)
        folder, config, resumed = _from_rank0(lambda: _prepare_folder(study, config, opts))
    else:
        folder, config, resumed = _prepare_folder(study, config, opts)
    threads = opts.threads or int(os.environ.get("NNDL_THREADS", 0)) or (os.cpu_count() or 1)
    torch.set_num_threads(max(1, threads // world))
    loop.device = device  # the default number of DataLoader workers depends on it
    previous_loop = set_loop_options(loop)
    run = RunFolder(folder)
    ctx = RunContext(study, config, opts, folder, device)
    file_handler = None
    if ctx.is_main:
        folder.mkdir(parents=True, exist_ok=True)
        for sub in ("figures", "tables", "checkpoints"):
            (folder / sub).mkdir(exist_ok=True)
        prior = run.manifest()
        run.set_status(
            "running",
            study=study.id,
            title=study.title,
            profile=opts.profile,
            seed=opts.seed,
            run_id=folder.name,
            started=prior.get("started") or dt.datetime.now().isoformat(timespec="seconds"),
            resumed=resumed or prior.get("resumed", False),
            error=None,
            pid=os.getpid(),
            host=platform.node(),
        )
        from nndl.io import atomic_write

        atomic_write(
            folder / "config.yaml",
            yaml.safe_dump(
                {
                    "study": study.id,
                    "profile": opts.profile,
                    "seed": opts.seed,
                    "config": cfg.to_dict(config),
                },
                sort_keys=False,
            ),
        )
        file_handler = logging.FileHandler(folder / "log.txt")
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(file_handler)
    log.info(
        "run %s (%s profile, seed %d, device %s) in %s",
        study.id,
        opts.profile,
        opts.seed,
        device,
        folder,
    )
    seed_everything(opts.seed)
    t0 = time.perf_counter()
    try:
        with interrupt.catching():
            study.run(ctx)
            interrupt.check()  # a Ctrl-C that a library swallowed still stops the run
        ctx.timings["total_s"] = time.perf_counter() - t0
        if ctx.is_main:
            judge(study, ctx)
            write_json(folder / "metrics.json", ctx.metrics)
            write_json(folder / "timings.json", ctx.timings, digits=4)
            env = {**env_info(device, torch.get_num_threads()), "world_size": world}
            env["loop"] = cfg.to_dict(loop)
            write_json(folder / "env.json", env, digits=None)
            ctx.report.header_facts = {
                "study": study.id,
                "profile": opts.profile,
                "seed": opts.seed,
                "device": device,
                "threads": torch.get_num_threads(),
                "run": folder.name,
                "wall time": f"{ctx.timings['total_s']:.1f} s",
            }
            ctx.report.write()
            run.set_status(
                "complete",
                finished=dt.datetime.now().isoformat(timespec="seconds"),
                headline={k: ctx.metrics.get(k) for k in study.headline},
                verdict=ctx.metrics["verdict"]["summary"],
                detectors=ctx.metrics["detectors_summary"],
            )
    except KeyboardInterrupt:
        if ctx.is_main:
            run.set_status("interrupted", error="interrupted; continue with --resume")
        raise
    except BaseException as e:
        if ctx.is_main:
            msg = str(e) if isinstance(e, NndlError) else f"{type(e).__name__}: {e}"
            run.set_status("failed", error=msg)
        raise
    finally:
        set_loop_options(previous_loop)
        if file_handler is not None:
            log.removeHandler(file_handler)
            file_handler.close()
    if world > 1:  # every rank returns once rank 0 has written the run
        import torch.distributed as torch_dist

        torch_dist.barrier()
    return folder
