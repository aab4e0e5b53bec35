import subprocess
import sys
from pathlib import Path

import torch

from nndl.train import TorchTrainable, fit

sys.path.insert(0, str(Path(__file__).parent))
from ddp_train import make  # noqa: E402


def test_two_gloo_processes_train_data_parallel_and_only_rank0_writes(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(Path(__file__).parent / "ddp_train.py"),
        str(tmp_path),
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=240,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(r0[k], r1[k]) for k in r0)  # gradients were all-reduced
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["ddp.pt"]  # one writer

    # 2 ranks x 16 per batch = one process with batch 32 over the same examples
    data, model = make()
    single = TorchTrainable(model, torch.optim.SGD(model.parameters(), lr=0.5))
    fit(single, data, None, name="single", num_epochs=3, batch_size=32)
    ref = single.module.state_dict()
    assert all(torch.allclose(r0[k], ref[k], atol=1e-5) for k in ref)


def test_the_real_command_under_torchrun_makes_one_complete_run(tmp_path):
    """`torchrun --nproc_per_node 2 -m nndl.cli run a08 --profile smoke`: one launch, one run."""
    import json
    import os

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "nndl.cli", "run", "a08", "--profile", "smoke", "--out", str(tmp_path / "runs")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NNDL_OFFLINE": "1", "NNDL_QUIET": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folders = list((tmp_path / "runs" / "a08").iterdir())
    assert len(folders) == 1  # both ranks wrote into the run id rank 0 chose
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["error"] is None
    assert json.loads((folders[0] / "env.json").read_text())["world_size"] == 2
    for name in ("metrics.json", "timings.json", "report.html", "config.yaml"):
        assert (folders[0] / name).is_file()
    assert proc.stdout.count("report:") == 1  # rank 0 reports; rank 1 is quiet


def test_a_config_error_under_torchrun_is_one_line(tmp_path):
    import os

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    cmd += ["-m", "nndl.cli", "run", "a08", "--profile", "smoke", "--set", "nope=1"]
    cmd += ["--out", str(tmp_path / "runs")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NNDL_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode != 0
    ours = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(ours) == 1 and "Unknown --set key 'nope'" in ours[0]
    assert not (tmp_path / "runs" / "a08").exists()
