"""Run by test_ddp.py under torchrun (2 CPU processes, gloo): trains with the shared loop."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from nndl.train import ArrayData, TorchTrainable, fit


def make(n=128):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 5, generator=g)
    y = (x.sum(1) > 0).long()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return ArrayData(x, y), model


if __name__ == "__main__":
    out = Path(sys.argv[1])
    dist.init_process_group("gloo")
    data, model = make()
    t = TorchTrainable(model, torch.optim.SGD(model.parameters(), lr=0.5))
    fit(t, data, None, name="ddp", num_epochs=3, batch_size=16, checkpoint_dir=out / "ckpt")
    torch.save(t.module.state_dict(), out / f"rank{dist.get_rank()}.pt")
    dist.destroy_process_group()
