//! Runs a hot loop compiled for AVX2 when the CPU has it (the crate itself targets baseline
//! x86-64, so the shipped binary runs anywhere). No fast-math: results are the same either way.

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static AVX2: OnceLock<bool> = OnceLock::new();
    *AVX2.get_or_init(|| std::arch::is_x86_feature_detected!("avx2"))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Calls `f`, inlined into an AVX2-enabled frame where available. Keep `f`'s callees
/// `#[inline(always)]` so they are compiled with the same features.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2() {
            // SAFETY: the CPU supports AVX2 (checked above).
            return unsafe { run_avx2(f) };
        }
    }
    f()
}
