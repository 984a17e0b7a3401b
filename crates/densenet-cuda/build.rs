//! With the `cuda` feature: compiles kernels/densenet.cu with nvcc into a fatbin (SASS for every
//! compute capability in CUDA_COMPUTE_CAP, comma-separated, default "80,90", plus the highest one's
//! PTX) and embeds it with the list of its entry points. Fails
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
        std::fs::write(&table, "pub const FATBIN: &[u8] = &[];\npub const CAPS: &[u32] = &[];\npub const KERNELS: &[&str] = &[];\n").unwrap();
        return;
    }
    let kernels = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
    for f in ["densenet.cu", "densenet.cuh"] {
        println!("cargo:rerun-if-changed={}", kernels.join(f).display());
    }
    let nvcc =
        std::env::var_os("NVCC").map(PathBuf::from).or_else(|| std::env::var_os("CUDA_HOME").map(|h| PathBuf::from(h).join("bin/nvcc"))).unwrap_or_else(|| PathBuf::from("nvcc"));
    let caps: Vec<u32> = std::env::var("CUDA_COMPUTE_CAP")
        .unwrap_or_else(|_| "80,90".into())
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| c.parse().unwrap_or_else(|_| panic!("CUDA_COMPUTE_CAP: '{c}' is not a compute capability like 90")))
        .collect();
    let top = *caps.iter().max().expect("CUDA_COMPUTE_CAP names no compute capability");
    let src = kernels.join("densenet.cu");
    let run = |args: Vec<String>, what: &str| {
        let status =
            Command::new(&nvcc).args(&args).status().unwrap_or_else(|e| panic!("cannot run nvcc ({}): {e}; run scripts/install-cuda-toolkit.sh and set CUDA_HOME", nvcc.display()));
        assert!(status.success(), "nvcc failed on kernels/densenet.cu ({what})");
    };
    // A fatbin: SASS for every capability (no JIT at load, ptxas errors here) plus the PTX of the
    // highest one, which newer GPUs JIT-compile.
    let fatbin = out.join("densenet.fatbin");
    let mut args: Vec<String> = vec!["-fatbin".into(), "-O3".into(), "-std=c++17".into()];
    for cap in &caps {
        args.push(format!("-gencode=arch=compute_{cap},code=sm_{cap}"));
    }
    args.push(format!("-gencode=arch=compute_{top},code=compute_{top}"));
    args.extend(["-o".into(), fatbin.display().to_string(), src.display().to_string()]);
    run(args, "fatbin");
    // The PTX of the highest capability, for the list of entry points.
    let ptx = out.join(format!("densenet_sm{top}.ptx"));
    run(vec!["-ptx".into(), "-O3".into(), "-std=c++17".into(), format!("-arch=compute_{top}"), "-o".into(), ptx.display().to_string(), src.display().to_string()], "ptx");
    let names: Vec<String> =
        std::fs::read_to_string(&ptx).unwrap().lines().filter_map(|l| l.strip_prefix(".visible .entry ")).map(|r| r.split('(').next().unwrap_or("").trim().to_string()).collect();
    assert!(!names.is_empty(), "no entry points in {}", ptx.display());
    let entries =
        format!("pub const FATBIN: &[u8] = include_bytes!({:?});\npub const CAPS: &[u32] = &{caps:?};\npub const KERNELS: &[&str] = &{names:?};\n", fatbin.display().to_string());
    std::fs::write(&table, entries).unwrap();
}
