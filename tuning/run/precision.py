"""Which precision a run trains in: ``resources.precision`` resolved for its device.

``auto`` picks bf16 autocast where the device computes bf16 natively: CUDA GPUs of compute
capability 8.0 or higher (A100, H100), and CPUs with avx512_bf16 or AMX (benchmarks/RESULTS.md,
"Precision on the CPU").  Older GPUs (V100, T4) emulate bf16 slowly: there ``auto`` is fp16
autocast with a gradient scaler (``needs_grad_scaler``).  Elsewhere ``auto`` is fp32.
"""
from __future__ import annotations

from pathlib import Path

import torch

CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")
CUDA_BF16_CAPABILITY = (8, 0)  # Ampere and later compute bf16 natively
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU's feature flags as the kernel lists them (empty where there is no such file)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    return frozenset(word for line in text.splitlines() if line.startswith("flags")
                     for word in line.partition(":")[2].split())


def cpu_has_native_bf16(cpuinfo: Path = CPUINFO) -> bool:
    """Whether this CPU computes bf16 natively (avx512_bf16 or AMX)."""
    return bool(cpu_flags(cpuinfo) & CPU_BF16_FLAGS)


def cuda_capability(device: torch.device) -> tuple[int, int]:
    """The CUDA device's compute capability, as (major, minor)."""
    return torch.cuda.get_device_capability(device)


def autocast_dtype(precision: str, device: torch.device, cpuinfo: Path = CPUINFO) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device`` (None: fp32).  ``auto``: bf16 where the
    device has it natively, fp16 on older CUDA GPUs, fp32 on other CPUs."""
    if precision != "auto":
        return DTYPES[precision]
    if device.type == "cuda":
        return torch.bfloat16 if cuda_capability(device) >= CUDA_BF16_CAPABILITY else torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16(cpuinfo) else None


def needs_grad_scaler(dtype: torch.dtype | None) -> bool:
    """fp16's narrow range underflows small gradients: its loss is scaled (``torch.amp.GradScaler``)."""
    return dtype == torch.float16
