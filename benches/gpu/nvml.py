"""NVML through ctypes (libnvidia-ml.so.1, part of the driver): the GPU's name, the driver version
and the device-wide used memory, read without a CUDA context, so the check's parent process holds
none while Node or the PyTorch children run (a context in the parent breaks under the
exclusive-process compute mode and counts in every memory reading)."""

from __future__ import annotations

import ctypes


class _Memory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


class Nvml:
    """GPU `index` through NVML; raises OSError when the library or the device is not there."""

    def __init__(self, index=0, lib="libnvidia-ml.so.1"):
        self.lib = ctypes.CDLL(lib)
        self._call("nvmlInit_v2")
        self.handle = ctypes.c_void_p()
        self._call("nvmlDeviceGetHandleByIndex_v2", ctypes.c_uint(index), ctypes.byref(self.handle))

    def _call(self, name, *args):
        r = getattr(self.lib, name)(*args)
        if r != 0:
            raise OSError(f"NVML {name} failed (nvmlReturn_t {r})")

    def _string(self, name, *args):
        buf = ctypes.create_string_buffer(96)
        self._call(name, *args, buf, ctypes.c_uint(len(buf)))
        return buf.value.decode()

    def driver_version(self):
        """e.g. "580.65.06"."""
        return self._string("nvmlSystemGetDriverVersion")

    def name(self):
        return self._string("nvmlDeviceGetName", self.handle)

    def used_bytes(self):
        m = _Memory()
        self._call("nvmlDeviceGetMemoryInfo", self.handle, ctypes.byref(m))
        return m.used
