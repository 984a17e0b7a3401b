//! With the `cuda` feature: compiles kernels/densenet.cu to PTX with nvcc, once per compute
//! capability in CUDA_COMPUTE_CAP (comma-separated, default "80,90"), and embeds them. Fails
//! loudly when nvcc is missing or rejects the kernels: a CUDA build never ships without them.
//! nvcc is $NVCC, else $CUDA_HOME/bin/nvcc, else `nvcc` on PATH (scripts/install-cuda-toolkit.sh
//! installs CUDA 13.0's from PyPI). Without the feature nothing is built and no toolkit is needed.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    println!("cargo:rerun-if-env-changed=NVCC");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let table = out.join("ptx.rs");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        std::fs::write(&table, "pub const PTX: &[(u32, &str)] = &[];\n").unwrap();
        return;
    }
    let kernels = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
    for f in ["densenet.cu", "densenet.cuh"] {
        println!("cargo:rerun-if-changed={}", kernels.join(f).display());
    }
    let nvcc =
        std::env::var_os("NVCC").map(PathBuf::from).or_else(|| std::env::var_os("CUDA_HOME").map(|h| PathBuf::from(h).join("bin/nvcc"))).unwrap_or_else(|| PathBuf::from("nvcc"));
    let caps = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "80,90".into());
    let mut entries = String::new();
    for cap in caps.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let cap: u32 = cap.parse().unwrap_or_else(|_| panic!("CUDA_COMPUTE_CAP: '{cap}' is not a compute capability like 90"));
        let ptx = out.join(format!("densenet_sm{cap}.ptx"));
        let status = Command::new(&nvcc)
            .args(["-ptx", "-O3", "-std=c++17", "--fmad=true", &format!("-arch=compute_{cap}"), "-o"])
            .arg(&ptx)
            .arg(kernels.join("densenet.cu"))
            .status()
            .unwrap_or_else(|e| panic!("cannot run nvcc ({}): {e}; run scripts/install-cuda-toolkit.sh and set CUDA_HOME", nvcc.display()));
        assert!(status.success(), "nvcc failed on kernels/densenet.cu for compute_{cap}");
        entries.push_str(&format!("    ({cap}, include_str!({:?})),\n", ptx.display().to_string()));
    }
    std::fs::write(&table, format!("pub const PTX: &[(u32, &str)] = &[\n{entries}];\n")).unwrap();
}
