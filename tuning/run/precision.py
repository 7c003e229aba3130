"""Which precision a run trains in: ``resources.precision`` resolved for its device.

``auto`` picks bf16 autocast on CUDA, and on CPUs with native bf16 instructions
(avx512_bf16 or AMX): on the 2-core AMD EPYC this project is measured on, bf16 autocast with
channels_last trained small_cnn 2.35-2.56x faster than fp32, with final test accuracy within
the seed spread (benchmarks/RESULTS.md, "Precision on the CPU").  Elsewhere ``auto`` is fp32:
emulated bf16 is slower than fp32.
"""
from __future__ import annotations

from pathlib import Path

import torch

CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


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


def autocast_dtype(precision: str, device: torch.device, cpuinfo: Path = CPUINFO) -> torch.dtype | None:
    """bf16 when asked, or (``auto``) on CUDA and on CPUs with native bf16; None (fp32) otherwise."""
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto" and (device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16(cpuinfo))):
        return torch.bfloat16
    return None
