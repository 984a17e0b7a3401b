//! Before candle initializes CUDA (feature `cuda`): is the driver the addon linked new enough for
//! CUDA 13, and is the `libcublas.so.13` it linked really cuBLAS 13? The addon links both by soname
//! (candle's cudarc links dynamically), so the loader has found some file of each name by now; an
//! older driver would fail on the first CUDA 13 entry point with a message naming neither, and a
//! toolkit's stub `libcuda.so.1` on the path returns CUDA_ERROR_STUB_LIBRARY for every call. Here
//! each is an `Error::Device` saying what was found and what is needed.
use densenet_core::{Error, Result};
use std::ffi::c_int;

/// The CUDA version (as `cuDriverGetVersion` reports it) cudarc's `cuda-13000` bindings need.
pub const MIN_DRIVER_CUDA: i32 = 13000;
/// The driver the addon links (its soname; dlopen returns the copy already loaded).
pub const DRIVER_LIBS: [&str; 1] = ["libcuda.so.1"];

/// The cuBLAS the addon links.
pub const CUBLAS_LIBS: [&str; 1] = ["libcublas.so.13"];

/// Both checks, on the libraries the addon linked.
pub fn check_cuda_libraries() -> Result<()> {
    check_driver(&DRIVER_LIBS)?;
    check_cublas(&CUBLAS_LIBS)
}

/// The first of `candidates` that loads supports CUDA 13.
pub fn check_driver(candidates: &[&str]) -> Result<()> {
    let mut tried = Tried::default();
    let Some((lib, l)) = candidates.iter().find_map(|&name| open(name).map_err(|e| tried.add(name, e)).ok().map(|l| (name, l))) else {
        return Err(Error::Device(format!(
            "CUDA was asked for but the NVIDIA driver library (libcuda.so.1) does not load: install the NVIDIA driver (≥ 580 for CUDA 13), or let LD_LIBRARY_PATH reach it (not a toolkit's stubs/libcuda.so); {tried}"
        )));
    };
    let mut version: c_int = 0;
    // SAFETY: cuDriverGetVersion(int*) -> CUresult, callable before cuInit.
    let status = unsafe {
        let f = l.get::<unsafe extern "C" fn(*mut c_int) -> c_int>(b"cuDriverGetVersion\0").map_err(|e| Error::Device(format!("{lib} has no cuDriverGetVersion: {e}")))?;
        f(&mut version)
    };
    if status != 0 {
        return Err(Error::Device(format!("{lib} ({}): cuDriverGetVersion failed (CUresult {status}); a toolkit's stub library, or a broken driver install", loaded_path(lib))));
    }
    if version < MIN_DRIVER_CUDA {
        return Err(Error::Device(format!(
            "the NVIDIA driver ({lib}) supports CUDA {} only; this build needs CUDA {} (driver ≥ 580): update the driver",
            cuda_version(version),
            cuda_version(MIN_DRIVER_CUDA)
        )));
    }
    Ok(())
}

/// The first of `candidates` that loads is cuBLAS 13.
pub fn check_cublas(candidates: &[&str]) -> Result<()> {
    let mut tried = Tried::default();
    for &name in candidates {
        match open(name) {
            Ok(l) => {
                let major = cublas_major(&l).map_err(|e| Error::Device(format!("{name} ({}) is not a usable cuBLAS: {e}", loaded_path(name))))?;
                if major != 13 {
                    return Err(Error::Device(format!(
                        "{name} found first on the library path is cuBLAS {major} ({}), but this build needs cuBLAS 13 (libcublas.so.13): put the CUDA 13 library folder first in LD_LIBRARY_PATH or remove that {name}",
                        loaded_path(name)
                    )));
                }
                return Ok(());
            }
            Err(e) => tried.add(name, e),
        }
    }
    Err(Error::Device(format!(
        "CUDA was asked for but cuBLAS 13 (libcublas.so.13 with libcublasLt.so.13) is not found: install the CUDA 13 toolkit or `pip install nvidia-cublas` and add its lib folder to LD_LIBRARY_PATH; {tried}"
    )))
}

/// The candidates that did not load, for a message: their names, and any reason other than
/// the file not being there (e.g. a dependency such as libcublasLt.so.13 missing).
#[derive(Default)]
struct Tried {
    names: Vec<String>,
    reasons: Vec<String>,
}

impl Tried {
    fn add(&mut self, name: &str, e: libloading::Error) {
        let e = e.to_string();
        if !(e.contains(&format!("{name}: cannot open shared object file")) && e.ends_with("No such file or directory")) {
            self.reasons.push(e);
        }
        self.names.push(name.to_string());
    }
}

impl std::fmt::Display for Tried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tried {}", self.names.join(", "))?;
        if self.reasons.is_empty() {
            write!(f, ": none is on the library path")
        } else {
            write!(f, " ({})", self.reasons.join("; "))
        }
    }
}

fn open(name: &str) -> std::result::Result<libloading::Library, libloading::Error> {
    // SAFETY: loading the driver or cuBLAS runs only their own initializers.
    unsafe { libloading::Library::new(name) }
}

fn cublas_major(l: &libloading::Library) -> std::result::Result<c_int, String> {
    let mut major: c_int = -1;
    // SAFETY: cublasGetProperty(libraryPropertyType, int*) -> cublasStatus_t; MAJOR_VERSION = 0.
    let status = unsafe {
        let f = l.get::<unsafe extern "C" fn(c_int, *mut c_int) -> c_int>(b"cublasGetProperty\0").map_err(|e| e.to_string())?;
        f(0, &mut major)
    };
    if status != 0 {
        return Err(format!("cublasGetProperty failed (status {status})"));
    }
    Ok(major)
}

/// Where a loaded library's file is, from /proc/self/maps (for the message only).
fn loaded_path(name: &str) -> String {
    let stem = std::path::Path::new(name).file_name().and_then(|s| s.to_str()).unwrap_or(name).split(".so").next().unwrap_or(name).to_string();
    std::fs::read_to_string("/proc/self/maps")
        .ok()
        .and_then(|maps| {
            maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.rsplit('/').next().is_some_and(|f| f.starts_with(&format!("{stem}.so")))).map(str::to_string)
        })
        .unwrap_or_else(|| "path unknown".into())
}

/// 12040 → "12.4".
fn cuda_version(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    /// Fake shared libraries built from C source in a folder of their own, removed on drop.
    /// `cc` is the linker Rust itself uses here, so its absence is a broken toolchain, not a skip.
    struct FakeLibs(PathBuf);

    impl FakeLibs {
        fn new(test: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("densenet-preflight-{}-{test}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn lib(&self, file: &str, c: &str) -> String {
            let src = self.0.join(format!("{file}.c"));
            std::fs::write(&src, c).unwrap();
            let out = self.0.join(file);
            let status = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&out).arg(&src).status().expect("cc (the linker rustc uses) runs");
            assert!(status.success(), "cc failed to build {file}");
            out.to_str().unwrap().to_string()
        }
    }

    impl Drop for FakeLibs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn message(r: Result<()>) -> String {
        match r {
            Err(Error::Device(m)) => m,
            other => panic!("expected ERR_DEVICE, got {other:?}"),
        }
    }

    #[test]
    fn versions_read_like_nvidia_smi() {
        assert_eq!(cuda_version(12040), "12.4");
        assert_eq!(cuda_version(13000), "13.0");
    }

    #[test]
    fn an_old_driver_is_named_with_its_cuda_version() {
        let libs = FakeLibs::new("driver");
        let old = libs.lib("libcuda.so.1", "int cuDriverGetVersion(int *v) { *v = 12040; return 0; }");
        let m = message(check_driver(&[&old]));
        assert!(m.contains("CUDA 12.4 only") && m.contains("≥ 580"), "{m}");
        let new = libs.lib("libcuda13.so.1", "int cuDriverGetVersion(int *v) { *v = 13000; return 0; }");
        check_driver(&["/nonexistent/libcuda.so", &new]).unwrap();
        let stub = libs.lib("libcuda.so", "int cuDriverGetVersion(int *v) { return 34; }");
        let m = message(check_driver(&[&stub, &new]));
        assert!(m.contains("stub") && m.contains("CUresult 34"), "{m}");
    }

    #[test]
    fn a_missing_driver_names_the_library() {
        let m = message(check_driver(&["/nonexistent/libcuda.so.1"]));
        assert!(m.contains("/nonexistent/libcuda.so.1") && m.contains("does not load"), "{m}");
    }

    #[test]
    fn a_cuda_12_cublas_found_first_is_refused_by_name() {
        let libs = FakeLibs::new("cublas");
        let c12 = libs.lib("libcublas.so", "int cublasGetProperty(int t, int *v) { *v = t == 0 ? 12 : 9; return 0; }");
        let c13 = libs.lib("libcublas.so.13", "int cublasGetProperty(int t, int *v) { *v = t == 0 ? 13 : 0; return 0; }");
        let (c12, c13) = (c12.as_str(), c13.as_str());
        let m = message(check_cublas(&[c12, c13]));
        assert!(m.contains("cuBLAS 12") && m.contains(c12), "{m}");
        check_cublas(&["/nonexistent/libcublas.so", c13]).unwrap();
        let m = message(check_cublas(&["/nonexistent/libcublas.so"]));
        assert!(m.contains("libcublas.so.13") && m.contains("/nonexistent/libcublas.so"), "{m}");
    }
}
