"""``resources.precision: auto``: bf16 where the device has it natively (CUDA capability 8.0+,
CPUs with avx512_bf16/AMX), fp16 with a gradient scaler on older GPUs, fp32 elsewhere.

The decision reads the kernel's CPU flags from a cpuinfo file: the fallback is tested on a
real file written without the bf16 flags (this machine's CPU has them, so its own file
cannot show the other case).  A GPU's compute capability is the one thing mocked here (this
machine has no GPU).  The loop is then checked to train under what was decided."""
import pytest
import torch

from tuning.config import validate_config
from tuning.run import precision as precision_module
from tuning.run.data import prepare_data
from tuning.run.loop import Pretraining
from tuning.run.precision import autocast_dtype, cpu_flags, cpu_has_native_bf16, needs_grad_scaler
from tuning.run.sessions import LocalSession

CUDA, CPU = torch.device("cuda", 0), torch.device("cpu")
FLAGS = "fpu vme sse sse2 avx avx2 avx512f avx512bw"


@pytest.fixture
def cpuinfo(tmp_path):
    """Two real cpuinfo files: one CPU with avx512_bf16, one without."""
    def write(name: str, flags: str):
        path = tmp_path / name
        path.write_text("".join(f"processor\t: {i}\nmodel name\t: test\nflags\t\t: {flags}\n\n" for i in range(2)))
        return path

    return {"bf16": write("bf16", f"{FLAGS} avx512_bf16"), "none": write("none", FLAGS)}


@pytest.mark.parametrize("device, precision, cpu, expected", [
    (CPU, "auto", "bf16", torch.bfloat16), (CPU, "auto", "none", None), (CPU, "bf16", "none", torch.bfloat16),
    (CPU, "fp32", "bf16", None), (CUDA, "fp32", "bf16", None), (CPU, "fp16", "bf16", torch.float16),
])
def test_auto_is_bf16_where_the_hardware_has_it_and_fp32_elsewhere(cpuinfo, device, precision, cpu, expected):
    assert autocast_dtype(precision, device, cpuinfo[cpu]) == expected


@pytest.mark.parametrize("capability, expected", [((7, 0), torch.float16), ((7, 5), torch.float16),
                                                  ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_auto_on_cuda_is_bf16_from_ampere_on_and_scaled_fp16_before(cpuinfo, monkeypatch, capability, expected):
    monkeypatch.setattr(precision_module, "cuda_capability", lambda device: capability)  # no GPU here: mocked
    chosen = autocast_dtype("auto", CUDA, cpuinfo["bf16"])
    assert chosen == expected and needs_grad_scaler(chosen) == (expected == torch.float16)
    assert autocast_dtype("bf16", CUDA) == torch.bfloat16  # asked for by name: as asked


def test_the_flags_are_read_from_the_file_and_a_missing_file_means_none(cpuinfo, tmp_path):
    assert "avx512_bf16" in cpu_flags(cpuinfo["bf16"]) and "avx512_bf16" not in cpu_flags(cpuinfo["none"])
    assert cpu_has_native_bf16(cpuinfo["bf16"]) and not cpu_has_native_bf16(cpuinfo["none"])
    assert cpu_flags(tmp_path / "absent") == frozenset() and autocast_dtype("auto", CPU, tmp_path / "absent") is None


@pytest.mark.service  # writes the digits .beton (FFCV's writer starts processes)
def test_the_loop_trains_under_what_auto_decides_on_this_cpu(tmp_path):
    cfg = validate_config({"data": {"batch_size": 256}, "schedule": {"epochs": 1}, "resources": {"workers": 1},
                           "probe": {"offline_epochs": 0, "knn": False}})
    run = Pretraining(cfg, prepare_data(cfg, tmp_path), LocalSession())
    assert run.precision == (torch.bfloat16 if cpu_has_native_bf16() else None)
    totals = run.train_epoch(0)
    assert totals.steps > 0 and not totals.diverged and torch.isfinite(torch.tensor(totals.loss))


@pytest.mark.service  # writes the digits .beton (FFCV's writer starts processes)
def test_fp16_runs_train_through_a_gradient_scaler_that_resumes_its_scale(tmp_path):
    """fp16 turns the scaler on; the scaled step is trained here at fp32 (fp16 autocast has no fast
    CPU kernels), which exercises the same scale, unscale and skip logic around LARS."""
    def config(precision):
        return validate_config({"data": {"batch_size": 256}, "schedule": {"epochs": 1}, "probe": {
            "offline_epochs": 0, "knn": False}, "resources": {"workers": 1, "precision": precision}})

    data = prepare_data(config("fp32"), tmp_path)
    assert Pretraining(config("fp16"), data, LocalSession()).scaler.is_enabled()
    assert not Pretraining(config("fp32"), data, LocalSession()).scaler.is_enabled()
    run = Pretraining(config("fp32"), data, LocalSession())
    run.scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    before = [p.detach().clone() for p in run.network.backbone.parameters()]
    totals = run.train_epoch(0)
    assert totals.steps > 0 and not totals.diverged
    assert any(not torch.equal(a, b) for a, b in zip(before, run.network.backbone.parameters()))  # it stepped
    state = run.state(0)
    assert state["grad_scaler"]["scale"] == run.scaler.get_scale()
    resumed = Pretraining(config("fp16"), data, LocalSession())
    resumed.load_state(state)
    assert resumed.scaler.get_scale() == run.scaler.get_scale()
