//! With the `cuda` feature: compiles kernels/densenet.cu with nvcc into a fatbin (SASS for every
//! compute capability in DENSENET_CUDA_CAPS, comma-separated, default "80,90", plus the highest
//! one's PTX; candle's own kernels follow CUDA_COMPUTE_CAP, one capability, which candle needs set) and embeds it with the list of its entry points. Fails
//! loudly when nvcc is missing or rejects the kernels: a CUDA build never ships without them.
//! nvcc is $NVCC, else $CUDA_HOME/bin/nvcc, else `nvcc` on PATH (scripts/install-cuda-toolkit.sh
//! installs CUDA 13.0's from PyPI). Without the feature nothing is built and no toolkit is needed.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DENSENET_CUDA_CAPS");
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
    let caps: Vec<u32> = std::env::var("DENSENET_CUDA_CAPS")
        .unwrap_or_else(|_| "80,90".into())
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| c.parse().unwrap_or_else(|_| panic!("DENSENET_CUDA_CAPS: '{c}' is not a compute capability like 90")))
        .collect();
    let top = *caps.iter().max().expect("DENSENET_CUDA_CAPS names no compute capability");
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
    link_stubs(&out, &nvcc);
}

/// The libraries candle's CUDA backend links (cudarc's `dynamic-linking`), each with the soname
/// the real one has and the error its stub functions return.
const STUBS: &[(&str, &str, i32)] = &[
    ("cuda", "libcuda.so.1", 34), // CUDA_ERROR_STUB_LIBRARY, as NVIDIA's own stub
    ("cublas", "libcublas.so.13", 1),
    ("cublasLt", "libcublasLt.so.13", 1),
    ("curand", "libcurand.so.10", 203),
    ("nvrtc", "libnvrtc.so.13", 1),
];

/// Stub shared libraries to link against (link-stubs/*.txt: every function cudarc declares), so
/// the build needs neither a driver nor the cuBLAS/cuRAND/NVRTC wheels: the addon records the
/// real sonames and the dynamic loader finds the real libraries when it loads. libcudart (which
/// candle-kernels links) is the toolkit's own, reached through an unversioned name here. The
/// folder, `$OUT_DIR/link-stubs`, also holds each stub under its soname, so that tests can run on
/// a machine without CUDA (LD_LIBRARY_PATH): every call then returns the library's error.
fn link_stubs(out: &Path, nvcc: &Path) {
    let dir = out.join("link-stubs");
    std::fs::create_dir_all(&dir).unwrap();
    let lists = Path::new(env!("CARGO_MANIFEST_DIR")).join("link-stubs");
    let cc = std::env::var("DENSENET_STUB_CC").unwrap_or_else(|_| "cc".into());
    println!("cargo:rerun-if-env-changed=DENSENET_STUB_CC");
    for &(lib, soname, err) in STUBS {
        let list = lists.join(format!("{lib}.txt"));
        println!("cargo:rerun-if-changed={}", list.display());
        let text = std::fs::read_to_string(&list).unwrap_or_else(|e| panic!("{}: {e}", list.display()));
        let mut c = String::from("/* generated by densenet-cuda's build.rs from link-stubs */\n");
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let (name, kind) = line.split_once('\t').unwrap_or_else(|| panic!("{}: '{line}' is not 'name<TAB>kind'", list.display()));
            let body = match kind {
                "error" => format!("int {name}(void) {{ return {err}; }}\n"),
                "null" => format!("const char *{name}(void) {{ return 0; }}\n"),
                "zero" => format!("unsigned long {name}(void) {{ return 0; }}\n"),
                other => panic!("{}: unknown kind '{other}' for {name}", list.display()),
            };
            c.push_str(&body);
        }
        let src = dir.join(format!("{lib}.c"));
        std::fs::write(&src, c).unwrap();
        let so = dir.join(format!("lib{lib}.so"));
        let status = Command::new(&cc)
            .args(["-shared", "-fPIC", "-O0", "-w", &format!("-Wl,-soname,{soname}"), "-o"])
            .arg(&so)
            .arg(&src)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cc} to build the {lib} link stub: {e} (set DENSENET_STUB_CC)"));
        assert!(status.success(), "{cc} failed on the {lib} link stub ({})", src.display());
        let named = dir.join(soname);
        let _ = std::fs::remove_file(&named);
        std::os::unix::fs::symlink(format!("lib{lib}.so"), &named).unwrap();
    }
    // candle-kernels also links its quantized MoE/GGUF kernels (libmoe.a, C++ host code, hence
    // libcudart and libstdc++), which no op of ours calls. Empty libraries of those names, found
    // first on the search path, keep them out of the addon (zig's linker, which links the glibc
    // 2.28 build, would not take an archive for `-lmoe` anyway); test/glibc-symbols.test.ts checks
    // that the addon then has no undefined symbol of theirs.
    for lib in ["moe", "stdc++"] {
        let src = dir.join("empty.c");
        std::fs::write(&src, "/* no symbols: see densenet-cuda's build.rs */\n").unwrap();
        let so = dir.join(format!("lib{lib}.so"));
        let status = Command::new(&cc).args(["-shared", "-fPIC", "-w", &format!("-Wl,-soname,lib{lib}-unused.so"), "-o"]).arg(&so).arg(&src).status();
        assert!(status.is_ok_and(|s| s.success()), "{cc} failed on the empty lib{lib}.so");
    }
    // libcudart.so → the toolkit's libcudart.so.13 (the PyPI wheel has only the versioned name).
    let home = std::env::var_os("CUDA_HOME").map(PathBuf::from).or_else(|| nvcc.parent().and_then(Path::parent).map(Path::to_path_buf));
    let cudart = home.iter().flat_map(|h| ["lib", "lib64"].map(|l| h.join(l).join("libcudart.so.13"))).find(|p| p.exists());
    let cudart = cudart.unwrap_or_else(|| panic!("libcudart.so.13 is not under CUDA_HOME ({home:?}): run scripts/install-cuda-toolkit.sh"));
    let link = dir.join("libcudart.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&cudart, &link).unwrap();
    println!("cargo:rustc-link-search=native={}", dir.display());
}
