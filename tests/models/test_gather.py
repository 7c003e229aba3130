"""DDP equivalence of every loss: 2 gloo processes on halves of a batch give the loss and
the (DDP-averaged) gradients of 1 process on the whole batch.  A gather whose backward
skips the cross-rank sum (the paper's footnote 1 bug) gives gradients divided by the
world size (``loss.gather: divided``, the ablation switch), and fails the same check."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from models.gather import gather_batch
from models.registry import METHODS, build_loss

WORLD = 2
BATCH, IN_DIM, OUT_DIM = 16, 6, 8


def _data():
    g = torch.Generator().manual_seed(0)
    x_a = torch.randn(BATCH, IN_DIM, generator=g, dtype=torch.float64)
    x_b = x_a + 0.2 * torch.randn(BATCH, IN_DIM, generator=g, dtype=torch.float64)
    return x_a, x_b


def _model():
    torch.manual_seed(1)
    return nn.Linear(IN_DIM, OUT_DIM).double()


def _single_process(method):
    x_a, x_b = _data()
    model = _model()
    loss = build_loss(method)(model(x_a), model(x_b)).total
    loss.backward()
    return float(loss.detach()), model.weight.grad.clone()


def _worker(rank, port, methods, gradient, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    x_a, x_b = _data()
    shard = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
    results = {}
    for method in methods:
        model = nn.parallel.DistributedDataParallel(_model())
        z_a, z_b = model(x_a[shard]), model(x_b[shard])
        loss = build_loss(method)(gather_batch(z_a, gradient), gather_batch(z_b, gradient)).total
        loss.backward()
        results[method] = (float(loss.detach()), model.module.weight.grad.clone())
    out[rank] = results
    dist.destroy_process_group()


def _run_ddp(methods, gradient):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    manager = mp.get_context("spawn").Manager()
    out = manager.dict()
    mp.start_processes(_worker, args=(port, methods, gradient, out), nprocs=WORLD, start_method="spawn")
    return dict(out)


@pytest.fixture(scope="module")
def ddp_results():
    return _run_ddp(sorted(METHODS), "summed")


@pytest.fixture(scope="module")
def buggy_results():
    return _run_ddp(["simclr", "vicreg"], "divided")


@pytest.mark.parametrize("method", sorted(METHODS))
def test_ddp_loss_and_gradients_equal_single_process(method, ddp_results):
    loss, grad = _single_process(method)
    for rank in range(WORLD):
        ddp_loss, ddp_grad = ddp_results[rank][method]
        assert ddp_loss == pytest.approx(loss, rel=1e-10)
        torch.testing.assert_close(ddp_grad, grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("method", ["simclr", "vicreg"])
def test_footnote_1_gather_bug_divides_gradients_by_world_size(method, buggy_results):
    loss, grad = _single_process(method)
    ddp_loss, ddp_grad = buggy_results[0][method]
    assert ddp_loss == pytest.approx(loss, rel=1e-10)  # the forward pass is the same...
    assert not torch.allclose(ddp_grad, grad, rtol=1e-4)  # ...the gradient is not
    torch.testing.assert_close(ddp_grad, grad / WORLD, rtol=1e-8, atol=1e-10)


def test_gather_is_identity_without_a_process_group():
    z = torch.randn(4, 3)
    assert gather_batch(z) is z and gather_batch(z, "divided") is z
