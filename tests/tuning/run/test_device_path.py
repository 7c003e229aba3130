"""The CUDA path's decisions, checked on this CPU-only machine.

No GPU is available here, so NCCL and CUDA kernels cannot run. What can run is checked
for real: the choices the code makes for a CUDA device (where the loader
moves batches to the device, the GPU resources and NCCL backend of the Train worker group),
and the bf16-autocast, channels-last training step itself, which goes through the same
loop on the CPU.
"""
import pytest
import torch
from ffcv.transforms import ToDevice, ToTensor

from pipelines.bundled import ensure_bundled_betons
from pipelines.loaders import _image_tail, _label_pipeline
from tuning.campaign.search.trial import build_trainer
from tuning.config import validate_config
from tuning.run.data import PreparedData
from tuning.run.loop import Pretraining, RunRequest
from tuning.run.sessions import LocalSession

CUDA, CPU = torch.device("cuda", 0), torch.device("cpu")


def test_loader_moves_gpu_batches_before_arranging_them_and_leaves_cpu_batches_in_place():
    gpu_tail, cpu_tail = _image_tail(CUDA), _image_tail(CPU)
    assert [type(op) for op in gpu_tail] == [ToTensor, ToDevice]  # both views move in one copy
    assert gpu_tail[1].device == CUDA and gpu_tail[1].non_blocking
    assert [type(op) for op in cpu_tail] == [ToTensor]
    assert type(_label_pipeline(CUDA)[-1]) is ToDevice
    assert not any(isinstance(op, ToDevice) for op in _label_pipeline(CPU))


@pytest.mark.parametrize("gpus, backend", [(1.0, "nccl"), (0.0, "gloo")])
def test_train_worker_group_asks_for_gpus_and_nccl_only_when_configured(gpus, backend, tmp_path):
    cfg = validate_config({"resources": {"workers": 2, "cpus_per_worker": 4, "gpus_per_worker": gpus}})
    request = RunRequest(cfg, PreparedData(
        train="t.beton", test="v.beton", num_classes=10, select_per_class=20, select_seed=0), requested_at=0.0)
    trainer = build_trainer(cfg, request, "device-path", str(tmp_path))
    scaling = trainer.scaling_config
    assert scaling.num_workers == 2 and scaling.use_gpu == (gpus > 0)
    expected = {"CPU": 4.0, "GPU": gpus} if gpus else {"CPU": 4.0}
    assert scaling.resources_per_worker == expected
    assert trainer.backend_config.backend == backend


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    train, _ = ensure_bundled_betons("digits", tmp_path_factory.mktemp("digits"))
    return PreparedData(train=str(train), test=str(train), num_classes=10, select_per_class=20, select_seed=0)


def test_bf16_channels_last_step_trains_through_the_one_loop(digits):
    cfg = validate_config({"data": {"batch_size": 128, "loader_workers": 1}, "schedule": {"epochs": 1},
                           "model": {"channels_last": True}, "optim": {"base_lr": 0.1},
                           "resources": {"workers": 1, "precision": "bf16"}})
    run = Pretraining(cfg, digits, LocalSession())
    assert run.precision == torch.bfloat16
    before = {name: p.detach().clone() for name, p in run.network.backbone.named_parameters()}

    view1, view2, _ = next(iter(run.loader))
    images = run._views(view1, view2)
    assert images.is_contiguous(memory_format=torch.channels_last) and images.dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, embeddings, _ = run.wrapped(images)
    assert embeddings.dtype == torch.bfloat16  # autocast reached the projector's matmuls

    totals = run.train_epoch(0)
    assert totals.steps == len(digits.split().fit) // 128 and not totals.diverged
    assert torch.isfinite(torch.tensor(totals.loss))
    after = dict(run.network.backbone.named_parameters())
    assert all(p.dtype == torch.float32 for p in after.values())  # master weights stay fp32
    assert any(not torch.equal(before[name], p.detach()) for name, p in after.items())
