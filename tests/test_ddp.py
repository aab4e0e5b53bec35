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
