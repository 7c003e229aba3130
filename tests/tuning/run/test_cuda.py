"""The CUDA path for real, on a GPU (``make gpu-check`` runs these first): the loss gather under
NCCL, the bf16 step against fp32, and the loader's ToDevice views against the CPU's.  Skipped
where no CUDA device is present (this project's CPU machines); the CPU-side decisions are in
test_device_path.py."""
import os
import socket

import pytest
import torch

from models.gather import gather_batch
from models.registry import build_loss
from pipelines.bundled import ensure_bundled_betons
from pipelines.loaders import ssl_loader
from tuning.config import validate_config
from tuning.run.data import prepare_data
from tuning.run.loop import Pretraining
from tuning.run.sessions import LocalSession

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (make gpu-check)")]
CUDA = torch.device("cuda", 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_loss_gather_under_nccl_with_one_process_gives_the_local_loss():
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        g = torch.Generator(device="cpu").manual_seed(0)
        z_a = torch.randn(32, 16, generator=g, dtype=torch.float64).to(CUDA).requires_grad_()
        z_b = (z_a.detach() + 0.1 * torch.randn(32, 16, generator=g, dtype=torch.float64).to(CUDA)).requires_grad_()
        gathered = gather_batch(z_a)
        assert torch.equal(gathered, z_a.detach())
        loss = build_loss("simclr")(z_a, z_b).total
        reference = build_loss("simclr")(z_a.detach().cpu(), z_b.detach().cpu()).total
        assert float(loss) == pytest.approx(float(reference), rel=1e-9)
    finally:
        dist.destroy_process_group()


def _run(tmp_path, precision: str) -> Pretraining:
    cfg = validate_config({"data": {"train": "digits", "test": "digits", "batch_size": 64},
                           "resources": {"workers": 1, "gpus_per_worker": 1, "precision": precision}})
    torch.manual_seed(0)
    return Pretraining(cfg, prepare_data(cfg, tmp_path), LocalSession(device="cuda"))


def test_a_bf16_step_matches_fp32_within_tolerance(tmp_path):
    losses = {}
    for precision in ("fp32", "bf16"):
        run = _run(tmp_path, precision)
        view1, view2, _ = next(iter(run.loader))
        with run._autocast():
            _, embeddings, _ = run.network(run._views(view1, view2))
        losses[precision] = float(build_loss("simclr")(*embeddings.float().chunk(2)).total)
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=2e-2)


def test_the_loaders_device_views_equal_its_cpu_views(tmp_path):
    train, _ = ensure_bundled_betons("digits", tmp_path)
    views = {}
    for device in (torch.device("cpu"), CUDA):
        loader = ssl_loader(str(train), 64, 32, device, seed=3, distributed=False)
        view1, view2, labels = next(iter(loader))
        views[device.type] = (view1.cpu(), view2.cpu(), labels.cpu())
    for cpu, gpu in zip(views["cpu"], views["cuda"]):
        assert torch.equal(cpu, gpu)
