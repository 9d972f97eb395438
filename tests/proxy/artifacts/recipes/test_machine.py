"""Machine fingerprints built from made-up /proc texts, and read from this machine."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.artifacts.recipes.machine import ARM_ISA, X86_ISA, cpu_target, driver_version, isa_flags, this_cpu

X86 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma avx512f amx_tile sha_ni\n\nprocessor\t: 1\nflags\t\t: fpu\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm sve sve2 i8mm bf16 cpuid\n"


def test_isa_flags_of_x86_and_arm() -> None:
    assert isa_flags(X86) == ("amx_tile", "avx2", "avx512f", "fma")
    assert isa_flags(ARM) == ("asimd", "bf16", "i8mm", "sve", "sve2")
    assert isa_flags("") == ()


def test_cpu_target() -> None:
    assert cpu_target(X86, "x86_64") == {"cpu.arch": "x86_64", "cpu.isa": "amx_tile,avx2,avx512f,fma"}
    assert cpu_target("", "") == {"cpu.arch": "unknown", "cpu.isa": "baseline"}
    assert cpu_target(X86, "x86_64") != cpu_target(X86.replace(" avx512f", ""), "x86_64")
    assert this_cpu() == this_cpu()


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(X86_ISA | ARM_ISA | {"fpu", "sse2", "ht", "lm"})), max_size=12))
def test_isa_flags_keep_exactly_the_relevant_flags_in_order(flags: list[str]) -> None:
    found = isa_flags(f"model name\t: cpu\nflags\t\t: {' '.join(flags)}\n")
    assert found == tuple(sorted(set(flags) & (X86_ISA | ARM_ISA)))


def test_driver_version() -> None:
    text = ("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.95.05  Release Build  "
            "(dvs-builder@U22-I3-AE18-23-3)  Tue Sep 23 09:55:41 UTC 2025\nGCC version:  gcc version 12.3.0\n")
    assert driver_version(text) == "580.95.05"
    assert driver_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024") \
        == "550.54.15"
    assert driver_version("nothing here") is None
