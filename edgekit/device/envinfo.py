"""What the device is: CPU model and core, ISA extensions, OS, Python, numpy, the runtime's version, clock,
temperature and the Pi firmware's throttling flags, for the runner's result (stdlib + numpy, Python 3.8)."""

import os
import platform
import subprocess

import numpy as np

# MIDR part numbers of Arm cores seen on edge boards (what /proc/cpuinfo's "CPU part" says).
ARM_PARTS = {"0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72",
             "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0d": "Cortex-A77", "0xd41": "Cortex-A78",
             "0xd42": "Cortex-A78AE", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710", "0xd4b": "Cortex-A78C"}


def read_first(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def environment(runtime_version):
    cpuinfo = read_first("/proc/cpuinfo") or ""
    model = None
    for key in ("model name", "Model", "Hardware", "cpu model"):
        for line in cpuinfo.splitlines():
            if line.startswith(key) and ":" in line:
                model = line.split(":", 1)[1].strip()
                break
        if model:
            break
    parts = [ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("CPU part") and ":" in ln]
    flags = next((ln.split(":", 1)[1].split() for ln in cpuinfo.splitlines() if ln.startswith(("flags", "Features")) and ":" in ln), [])
    os_name = None
    for line in (read_first("/etc/os-release") or "").splitlines():
        if line.startswith("PRETTY_NAME="):
            os_name = line.split("=", 1)[1].strip('"')
    env = {"machine": platform.machine(), "cpu_model": model, "cpu_part": parts[0] if parts else None,
           "cpu_core": ARM_PARTS.get(parts[0].lower()) if parts else None,
           "isa": sorted(f for f in flags if f.startswith(("avx", "asimd", "sve", "i8mm", "fma")) or f in ("dotprod", "bf16")),
           "cores": os.cpu_count(), "os": os_name or platform.platform(), "kernel": platform.release(),
           "python": platform.python_version(), "numpy": np.__version__, "runtime_version": runtime_version,
           "governor": read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
           "cpu_mhz": None, "temperature_c": None, "throttled": None}
    freq = read_first("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    env["cpu_mhz"] = int(freq) / 1000 if freq and freq.isdigit() else None
    temp = read_first("/sys/class/thermal/thermal_zone0/temp")
    env["temperature_c"] = int(temp) / 1000 if temp and temp.lstrip("-").isdigit() else None
    try:  # Raspberry Pi firmware: under-voltage / throttling flags
        out = subprocess.run(["vcgencmd", "get_throttled"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=5)
        env["throttled"] = out.stdout.strip().split("=", 1)[-1] if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return env
