//! Compiles the CUDA kernels (kernels/densenet.cu) for the host with g++ and kernels/emu.h, and
//! the emulator's own self-test kernels (csrc/emu_selftest.cpp).
fn main() {
    let kernels = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
    for f in ["densenet.cu", "densenet.cuh", "emu.h", "host.cpp"] {
        println!("cargo:rerun-if-changed={}", kernels.join(f).display());
    }
    println!("cargo:rerun-if-changed=csrc/emu_selftest.cpp");
    cc::Build::new()
        .cpp(true)
        .file(kernels.join("host.cpp"))
        .file("csrc/emu_selftest.cpp")
        .include(&kernels)
        .std("c++20")
        .opt_level(2)
        // The same arithmetic as the Rust CPU backend: no fused multiply-adds, no fast math.
        .flag("-ffp-contract=off")
        .flag_if_supported("-Wall")
        .flag_if_supported("-Wextra")
        .warnings_into_errors(true)
        .compile("densenet_kernels_emu");
}
