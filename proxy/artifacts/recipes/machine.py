"""What this machine is, as far as a compiled artifact cares: CPU architecture and instruction
set extensions, and the GPU (model, compute capability, driver, CUDA runtime).

Each fact has a pure function building the fingerprint from its inputs (tested with made-up
inputs) and a probe that reads this machine. Probes never import a GPU library at module import.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from pathlib import Path

X86_ISA = frozenset({
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512dq", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
})
"""x86 flags that decide which kernels a CPU compiler (inductor, onnxruntime) may emit."""
ARM_ISA = frozenset({"asimd", "asimdhp", "asimddp", "sve", "sve2", "bf16", "i8mm", "sme", "sme2"})
"""The same for aarch64 (``Features`` in /proc/cpuinfo)."""

_FLAGS_LINE = re.compile(r"^(?:flags|Features)\s*:\s*(.*)$", re.MULTILINE)
_NVRM_VERSION = re.compile(r"Kernel Module\s+(?:for\s+\S+\s+)?(\d+(?:\.\d+)+)")


def isa_flags(cpuinfo: str) -> tuple[str, ...]:
    """The relevant instruction-set flags of the first CPU listed in a /proc/cpuinfo text, sorted."""
    match = _FLAGS_LINE.search(cpuinfo)
    if match is None:
        return ()
    return tuple(sorted(set(match.group(1).split()) & (X86_ISA | ARM_ISA)))


def cpu_target(cpuinfo: str, machine: str) -> dict[str, str]:
    """Fingerprint of a CPU: its architecture and relevant instruction-set flags."""
    return {"cpu.arch": machine.lower() or "unknown", "cpu.isa": ",".join(isa_flags(cpuinfo)) or "baseline"}


def this_cpu() -> dict[str, str]:
    """``cpu_target`` of this machine (no flags where /proc/cpuinfo does not exist)."""
    info = Path("/proc/cpuinfo")
    return cpu_target(info.read_text(errors="replace") if info.exists() else "", platform.machine())


@dataclass(frozen=True, slots=True)
class Gpu:
    """The facts about GPU 0 a compiled kernel depends on."""

    name: str
    capability: str  # "9.0"
    driver: str
    cuda_runtime: str

    def target(self) -> dict[str, str]:
        return {"gpu.name": self.name, "gpu.capability": self.capability, "gpu.driver": self.driver,
                "cuda.runtime": self.cuda_runtime}


def driver_version(nvrm: str) -> str | None:
    """The NVIDIA kernel driver version in the text of /proc/driver/nvidia/version."""
    match = _NVRM_VERSION.search(nvrm)
    return match.group(1) if match else None


def _proc_driver() -> str | None:
    path = Path("/proc/driver/nvidia/version")
    return driver_version(path.read_text(errors="replace")) if path.exists() else None


def _nvml_driver() -> str | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            return str(pynvml.nvmlSystemGetDriverVersion())
        finally:
            pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        return None


def _torch_gpu() -> Gpu | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(0)
    return Gpu(name=torch.cuda.get_device_name(0), capability=f"{major}.{minor}",
               driver=_proc_driver() or _nvml_driver() or "unknown", cuda_runtime=str(torch.version.cuda))


def _nvml_gpu() -> Gpu | None:
    """Without torch: NVML knows the device and the driver, and the CUDA version the driver supports."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        try:
            if pynvml.nvmlDeviceGetCount() == 0:
                return None
            device = pynvml.nvmlDeviceGetHandleByIndex(0)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(device)
            cuda = int(pynvml.nvmlSystemGetCudaDriverVersion())
            return Gpu(name=str(pynvml.nvmlDeviceGetName(device)), capability=f"{major}.{minor}",
                       driver=str(pynvml.nvmlSystemGetDriverVersion()),
                       cuda_runtime=f"driver-{cuda // 1000}.{cuda % 1000 // 10}")
        finally:
            pynvml.nvmlShutdown()
    except pynvml.NVMLError:
        return None


def this_gpu() -> Gpu | None:
    """GPU 0 as torch sees it (or NVML when torch is absent); None without a visible device."""
    return _torch_gpu() or _nvml_gpu()
