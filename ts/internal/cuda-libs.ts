/**
 * Why the CUDA addon did not load, when the reason is the machine's CUDA libraries: the addon
 * links the NVIDIA driver and the CUDA 13 libraries by soname (candle's CUDA backend), so the
 * dynamic loader refuses it when one is missing, and (the addon binds every symbol at load) when
 * the driver is too old to have a CUDA 13 entry point. Those are device problems with a fix, not
 * a broken install: the loader turns them into `ERR_DEVICE` naming the library.
 */

/** What each library is and how to get it. */
const LIBRARIES: Record<string, string> = {
  'libcuda.so.1':
    'the NVIDIA driver library: install the NVIDIA driver (580 or newer, for CUDA 13); a machine without an NVIDIA GPU cannot use device "cuda"',
  'libcublas.so.13': 'cuBLAS 13',
  'libcublasLt.so.13': 'cuBLASLt 13 (part of cuBLAS)',
  'libcurand.so.10': 'cuRAND (CUDA 13)',
  'libcudart.so.13': 'the CUDA 13 runtime',
  'libnvrtc.so.13': 'NVRTC 13',
};

const TOOLKIT_FIX =
  'install the CUDA 13 libraries (`pip install nvidia-cublas nvidia-curand nvidia-cuda-runtime`, which PyTorch for CUDA 13 also brings, or the CUDA 13 toolkit) and put their lib folder (…/site-packages/nvidia/cu13/lib, or $CUDA_HOME/lib64) on LD_LIBRARY_PATH before starting node';

/**
 * The `ERR_DEVICE` message for a CUDA addon at `target` that failed with `reason` (the loader's
 * first line), or undefined when the reason is something else.
 */
export function cudaLibraryProblem(target: string, reason: string): string | undefined {
  const missing = /(lib[\w+.-]+\.so[\d.]*): cannot open shared object file/.exec(reason);
  if (missing) {
    const lib = missing[1]!;
    const what = LIBRARIES[lib];
    if (what === undefined) return undefined;
    const fix = lib === 'libcuda.so.1' ? what : `${what}: ${TOOLKIT_FIX}`;
    return `device "cuda" needs ${lib}, which is not on this machine's library path (the CUDA addon ${target} links it): ${fix}`;
  }
  const symbol = /undefined symbol: (cu[A-Z]\w*)/.exec(reason);
  if (symbol && !/cublas|curand/.test(symbol[1]!)) {
    return `device "cuda": the NVIDIA driver (libcuda.so.1) has no ${symbol[1]!}, so it is older than CUDA 13 needs: update the driver to 580 or newer (the CUDA addon ${target} did not load)`;
  }
  return undefined;
}
