#!/usr/bin/env python3
"""The CUDA 13 libraries our addon loads on the GPU machine, found and checked before anything runs.

The CUDA addon goes through candle, whose cudarc links libcuda.so.1, libcublas.so.13,
libcublasLt.so.13, libcurand.so.10 and libcudart.so.13 by soname: each must be on the library
path when Node loads the addon, and a driver older than CUDA 13 (< 580) lacks entry points the
addon binds at load. A CUDA 12 PyTorch brings only .so.12 files, and a toolkit's stubs/libcuda.so
folder on the path would be found before the driver. Hence:

  libs.py --ld-path SHIM    prints the LD_LIBRARY_PATH check.sh exports: SHIM first (a folder of
                            libcublas.so / libcublasLt.so links to the CUDA 13 .so.13, written
                            here, for tools that open the unversioned name), then the CUDA 13
                            folders ($CUDA_HOME/lib64, the PyPI wheels' nvidia/cu13/lib and
                            nvidia/*/lib holding a CUDA 13 library, the nccl wheel's lib), then the
                            old LD_LIBRARY_PATH without any stubs folder;
  libs.py --preflight       loads the driver (cuDriverGetVersion >= 13000: >= 580), libcublas.so.13
                            (and the first libcublas the path gives), libcurand.so.10 and
                            libcudart.so.13, and prints one line per library; exit 1 naming what is
                            missing or too old.

DENSENET_GPU_SITES (colon-separated site-packages folders) replaces Python's own, for tests.
"""

from __future__ import annotations

import ctypes
import glob
import os
import site
import sys

MIN_DRIVER_CUDA = 13000
# cudarc 0.19's driver candidates, in its order: the unversioned name first (so a stubs/libcuda.so).
DRIVER_CANDIDATES = ["libcuda.so", "libcuda.so.13", "libcuda.so.11", "libcuda.so.10", "libcuda.so.1"]
CUBLAS_13 = "libcublas.so.13"
# The other CUDA 13 libraries the addon links (candle's cuRAND and the runtime candle-kernels uses).
LINKED = [("cuRAND", "libcurand.so.10"), ("CUDA runtime", "libcudart.so.13")]
CUDA13_LIBS = [CUBLAS_13, *[lib for _, lib in LINKED]]
# cudarc 0.19's candidates, in its order.
CUBLAS_CANDIDATES = ["libcublas.so", "libcublas.so.13", "libcublas.so.11", "libcublas.so.10", "libcublas.so.1"]


def site_dirs(env):
    if env.get("DENSENET_GPU_SITES"):
        return [s for s in env["DENSENET_GPU_SITES"].split(":") if s]
    return site.getsitepackages() + [site.getusersitepackages()]


def is_stubs(d):
    return os.path.basename(os.path.normpath(d)) == "stubs"


def cuda13_dirs(env=os.environ):
    """Folders holding CUDA 13 libraries (libcublas.so.13) or NCCL (libnccl.so.2), toolkit first."""
    toolkits = [env.get("CUDA_HOME"), env.get("CUDA_PATH"), *sorted(glob.glob("/usr/local/cuda-13*"), reverse=True), "/usr/local/cuda"]
    dirs = [os.path.join(t, sub) for t in toolkits if t for sub in ("lib64", "lib", "targets/x86_64-linux/lib")]
    for s in site_dirs(env):
        dirs += [os.path.join(s, "nvidia", "cu13", "lib")] + sorted(glob.glob(os.path.join(s, "nvidia", "*", "lib")))
    keep = [d for d in dirs if not is_stubs(d) and any(glob.glob(os.path.join(d, f"{lib}*")) for lib in CUDA13_LIBS + ["libnccl.so.2"])]
    return list(dict.fromkeys(os.path.realpath(d) for d in keep))


def write_shim(shim, dirs):
    """Links libcublas.so and libcublasLt.so in `shim` to the first CUDA 13 ones in `dirs`."""
    os.makedirs(shim, exist_ok=True)
    for lib in ("libcublas", "libcublasLt"):
        target = next((os.path.join(d, f"{lib}.so.13") for d in dirs if os.path.exists(os.path.join(d, f"{lib}.so.13"))), None)
        link = os.path.join(shim, f"{lib}.so")
        if os.path.lexists(link):
            os.remove(link)
        if target:
            os.symlink(target, link)


def ld_library_path(shim, env=os.environ):
    dirs = cuda13_dirs(env)
    write_shim(shim, dirs)
    old = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d and not is_stubs(d)]
    return ":".join(dict.fromkeys([shim] + dirs + old))


def cuda_version(v):
    return f"{v // 1000}.{(v % 1000) // 10}"


def driver_branch():
    try:
        from nvml import Nvml  # noqa: PLC0415 (next to this file)

        return Nvml().driver_version()
    except (OSError, ImportError, AttributeError):
        return None


def first_loading(candidates):
    """(name, library) of the first candidate that loads, as cudarc picks; else (why, None): the
    names tried, and any reason other than the file not being there (a missing dependency)."""
    reasons = []
    for name in candidates:
        try:
            return name, ctypes.CDLL(name)
        except OSError as e:
            if not str(e).endswith("cannot open shared object file: No such file or directory") or not str(e).startswith(name):
                reasons.append(str(e))
    return f"tried {', '.join(candidates)}: " + ("; ".join(reasons) or "none is on the library path"), None


def check_driver(candidates=DRIVER_CANDIDATES):
    lib, cuda = first_loading(candidates)
    if cuda is None:
        return False, f"no NVIDIA driver library libcuda.so.1 ({lib}): install the NVIDIA driver (>= 580 for CUDA 13)"
    v = ctypes.c_int(0)
    r = cuda.cuDriverGetVersion(ctypes.byref(v))
    if r != 0:
        return False, f"{lib}: cuDriverGetVersion failed (CUresult {r}): a toolkit's stub library (drop stubs/ from LD_LIBRARY_PATH) or a broken driver install"
    if v.value < MIN_DRIVER_CUDA:
        found = driver_branch()
        if found:
            return False, f"driver {found} found (CUDA {cuda_version(v.value)}), CUDA 13 needs >= 580"
        return False, f"a driver for CUDA {cuda_version(v.value)} found, CUDA 13 needs driver >= 580"
    return True, f"{lib}: driver {driver_branch() or '?'}, CUDA {cuda_version(v.value)}"


def cublas_major(l):
    v = ctypes.c_int(-1)
    r = l.cublasGetProperty(0, ctypes.byref(v))  # MAJOR_VERSION
    return v.value if r == 0 else None


def check_cublas(exact=CUBLAS_13, candidates=CUBLAS_CANDIDATES):
    try:
        ctypes.CDLL(exact)
    except OSError as e:
        return False, f"no cuBLAS 13: {exact} does not load ({e}); install the CUDA 13 toolkit or `pip install nvidia-cublas`"
    name, l = first_loading(candidates)
    if l is None:
        return False, f"none of {', '.join(candidates)} loads"
    major = cublas_major(l)
    if major != 13:
        return False, f"{name}, found first on the library path, is cuBLAS {major}: cudarc loads it before {exact}; move it off LD_LIBRARY_PATH"
    return True, f"{name}: cuBLAS 13 (cudarc's first candidate)"


def check_optional(what, lib, fix=""):
    try:
        ctypes.CDLL(lib)
        return True, f"{lib} loads ({what})"
    except OSError as e:
        return False, f"{lib} does not load ({what}): {e}{fix}"


def check_linked(what, lib):
    fix = "; `pip install nvidia-curand nvidia-cuda-runtime` (CUDA 13), or PyTorch for CUDA 13"
    return check_optional(f"{what}, linked by the addon", lib, fix)


def preflight(driver=DRIVER_CANDIDATES, exact=CUBLAS_13, candidates=CUBLAS_CANDIDATES, env=os.environ):
    """[(library, required, ok, message)] for every library the GPU run needs."""
    nccl = env.get("DENSENET_NCCL_LIB") or "libnccl.so.2"
    return [
        ("driver", True, *check_driver(driver)),
        ("cuBLAS", True, *check_cublas(exact, candidates)),
        *[(what, True, *check_linked(what, lib)) for what, lib in LINKED],
        ("NVML", False, *check_optional("memory rows", "libnvidia-ml.so.1")),
        ("NCCL", False, *check_optional("NCCL row", nccl)),
    ]


def main(argv):
    if len(argv) == 2 and argv[0] == "--ld-path":
        print(ld_library_path(argv[1]))
        return 0
    if argv and argv[0] == "--preflight":
        # --preflight [DRIVER_LIB CUBLAS_13 CANDIDATE...] (the names, or paths of fakes in tests)
        rows = preflight([argv[1]], argv[2], argv[3:] or CUBLAS_CANDIDATES) if len(argv) > 2 else preflight()
        for what, required, ok, msg in rows:
            print(f"preflight {what}: {'ok' if ok else ('FAIL' if required else 'missing')}: {msg}", flush=True)
        return 0 if all(ok for _, required, ok, _ in rows if required) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
