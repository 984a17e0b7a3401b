//! Every preset's training step at its real size and a batch as large as a GPU's largest-batch
//! search reaches (ImageNet presets at 224² × 4096, CIFAR presets at 32² × 65,536), planned by
//! the CUDA backend's own code on a recording device that runs nothing: every launch's
//! configuration is one CUDA accepts, every view a kernel, a GEMM or a copy touches lies inside a
//! live allocation, every index a kernel computes fits its integer type, every GEMM goes to cuBLAS
//! with sizes that fit, and the conv column buffer the memory estimate counts is the one the
//! backend allocates.

use densenet_core::{Backend, DenseNet, DenseNetConfig, Error, Float, Result, PRESET_NAMES};
use densenet_cuda::{Addr, BlasIndexing, Device, Elem, Gemm, Gpu, Word, BLOCK, COLS_BUDGET};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type Live = Arc<Mutex<BTreeMap<u64, u64>>>;

/// An allocation of address space only: nothing is behind it.
struct Span {
    start: u64,
    live: Live,
}
impl Drop for Span {
    fn drop(&mut self) {
        self.live.lock().unwrap().remove(&self.start);
    }
}

/// Hands out addresses, keeps the live ranges and checks every call against them. Downloads
/// read 0x3F bytes: finite floats (0.75 as f32), so the loss is finite, and as integers indices
/// past any view, so the numerics guard finds nothing and the step goes on to its update.
#[derive(Default)]
struct Recorder {
    next: AtomicU64,
    live: Live,
    /// What was uploaded as i64 (the multi-tensor kernels' tables, labels), by address.
    words: Mutex<BTreeMap<u64, Vec<i64>>>,
    kernels: Mutex<BTreeSet<String>>,
    launches: AtomicU64,
    gemms: AtomicU64,
    wide_gemms: AtomicU64,
}

impl Recorder {
    /// Panics unless [addr, addr + bytes) lies inside one live allocation.
    fn inside(&self, what: &str, addr: u64, bytes: u128) {
        if bytes == 0 {
            return;
        }
        assert!(addr != 0, "{what}: null pointer for {bytes} bytes");
        let live = self.live.lock().unwrap();
        let (&start, &len) = live.range(..=addr).next_back().unwrap_or_else(|| panic!("{what}: {addr:#x} is in no allocation"));
        assert!(addr as u128 + bytes <= start as u128 + len as u128, "{what}: [{addr:#x}, +{bytes}) runs past its allocation [{start:#x}, +{len})");
    }
}

fn fits_i64(what: &str, v: u128) -> u128 {
    assert!(v <= i64::MAX as u128, "{what}: {v} does not fit a long long");
    v
}

/// The views (name, address, bytes) a launch of kernel `stem` touches, from its parameters
/// (kernels/densenet.cu's signatures), `t` the element size; null optional pointers are skipped.
fn views(stem: &str, p: &[Word], t: u128, grid: u32, rows: &[i64]) -> Vec<(&'static str, u64, u128)> {
    let n = |i: usize| fits_i64(stem, p[i] as i64 as u128);
    let ix = |what: &str, v: u128| fits_i64(&format!("{stem} {what}"), v);
    let pool_out = |side: u128| (side + 2 - 3) / 2 + 1;
    match stem {
        "add_assign" => vec![("src", p[0], n(2) * t), ("dst", p[1], n(2) * t)],
        "bn_stats" => {
            let (c, cp) = (n(1), ix("c·p", n(1) * n(2)));
            vec![("x", p[0], cp * t), ("mean", p[4], c * t), ("invstd", p[5], c * t), ("var", p[6], c * t)]
        }
        "bn_stats_partial" => {
            let (c, cp, parts) = (n(1), ix("c·p", n(1) * n(2)), ix("c·segs", n(1) * n(3)));
            vec![("x", p[0], cp * t), ("center", p[4], c * 8), ("partial", p[5], parts * 8)]
        }
        "bn_stats_mean" => vec![("partial", p[0], ix("c·segs", n(1) * n(3)) * 8), ("mean_f64", p[4], n(1) * 8), ("mean", p[5], n(1) * t)],
        "bn_stats_var" => vec![("partial", p[0], ix("c·segs", n(1) * n(3)) * 8), ("invstd", p[5], n(1) * t), ("var", p[6], n(1) * t)],
        "bn_running_invstd" => vec![("var", p[0], n(1) * t), ("invstd", p[3], n(1) * t)],
        "bn_update_running" => (0..4).map(|i| (["mean", "var", "running_mean", "running_var"][i], p[i], n(4) * t)).collect(),
        "bn_forward" => {
            let (c, cp) = (n(1), ix("c·p", n(1) * n(2)));
            vec![("x", p[0], cp * t), ("gamma", p[3], c * t), ("beta", p[4], c * t), ("mean", p[5], c * t), ("invstd", p[6], c * t), ("y", p[8], cp * t)]
        }
        "bn_backward_sums" | "bn_backward_dx" => {
            let (c, cp) = (n(2), ix("c·p", n(2) * n(3)));
            let mut v = vec![("x", p[0], cp * t), ("dy", p[1], cp * t), ("gamma", p[4], c * t), ("beta", p[5], c * t), ("mean", p[6], c * t), ("invstd", p[7], c * t)];
            if stem == "bn_backward_sums" {
                v.extend([("dgamma", p[9], c * t), ("dbeta", p[10], c * t), ("sums", p[11], 2 * c * 8)]);
            } else {
                v.extend([("sums", p[9], 2 * c * 8), ("dx", p[10], cp * t)]);
            }
            v
        }
        "bn_backward_sums_partial" => {
            let (c, cp, parts) = (n(2), ix("c·p", n(2) * n(3)), ix("c·segs", n(2) * n(4)));
            vec![
                ("x", p[0], cp * t),
                ("dy", p[1], cp * t),
                ("gamma", p[5], c * t),
                ("beta", p[6], c * t),
                ("mean", p[7], c * t),
                ("invstd", p[8], c * t),
                ("partial", p[10], 2 * parts * 8),
            ]
        }
        "bn_backward_sums_total" => {
            let c = n(1);
            vec![("partial", p[0], 2 * ix("c·segs", c * n(2)) * 8), ("dgamma", p[3], c * t), ("dbeta", p[4], c * t), ("sums", p[5], 2 * c * 8)]
        }
        "im2col" | "col2im" => {
            let image = ix("cin·n·h·w", n(1) * n(2) * n(3) * n(4));
            assert!(n(10) < n(11) && n(11) <= n(2), "{stem}: samples [{}, {}) of {}", n(10), n(11), n(2));
            let cols = ix("cols", n(1) * n(5) * n(5) * (n(11) - n(10)) * n(8) * n(9));
            // The kernels' in-row index math is 32-bit.
            let (per_row, plane) = ((n(11) - n(10)) * n(8) * n(9), n(3) * n(4));
            assert!(per_row <= i32::MAX as u128 && plane <= i32::MAX as u128, "{stem}: {per_row} columns per row, {plane} pixels per plane");
            let (image_ptr, cols_ptr) = if stem == "im2col" { (p[0], p[12]) } else { (p[12], p[0]) };
            vec![("image", image_ptr, image * t), ("cols", cols_ptr, cols * t)]
        }
        "avg_pool2_forward" | "avg_pool2_backward" => {
            let (big, small) = (ix("planes·h·w", n(1) * n(2) * n(3)), n(1) * (n(2) / 2) * (n(3) / 2));
            let (x, y) = if stem == "avg_pool2_forward" { (big, small) } else { (small, big) };
            vec![("in", p[0], x * t), ("out", p[4], y * t)]
        }
        "max_pool3s2_forward" => {
            assert!(n(2) * n(3) <= u32::MAX as u128, "max pool: an in-plane index {}×{} does not fit the u32 argmax", n(2), n(3));
            let out = n(1) * pool_out(n(2)) * pool_out(n(3));
            vec![("x", p[0], ix("planes·h·w", n(1) * n(2) * n(3)) * t), ("y", p[4], out * t), ("argmax", p[5], out * 4)]
        }
        "bn_avg_pool2_forward" | "bn_max_pool3s2_forward" => {
            let (c, planes) = (n(1), ix("c·n", n(1) * n(2)));
            let out = if stem == "bn_avg_pool2_forward" { planes * (n(3) / 2) * (n(4) / 2) } else { planes * pool_out(n(3)) * pool_out(n(4)) };
            vec![
                ("x", p[0], ix("c·n·h·w", planes * n(3) * n(4)) * t),
                ("gamma", p[5], c * t),
                ("beta", p[6], c * t),
                ("mean", p[7], c * t),
                ("invstd", p[8], c * t),
                ("y", p[10], out * t),
            ]
        }
        "max_pool3s2_backward" => {
            let out = n(2) * pool_out(n(3)) * pool_out(n(4));
            vec![("dy", p[0], out * t), ("argmax", p[1], out * 4), ("dx", p[5], ix("planes·h·w", n(2) * n(3) * n(4)) * t)]
        }
        "global_avg_forward" => vec![("x", p[0], ix("planes·hw", n(1) * n(2)) * t), ("out", p[3], n(1) * t)],
        "global_avg_backward" => vec![("dpooled", p[0], n(1) * t), ("dx", p[3], ix("planes·hw", n(1) * n(2)) * t)],
        "bias_rows" => vec![("bias", p[0], n(2) * t), ("logits", p[3], n(1) * n(2) * t)],
        "bias_grad" => vec![("dlogits", p[0], n(1) * n(2) * t), ("dbias", p[3], n(2) * t)],
        "softmax_xent" => {
            let (rows, nk) = (n(2), ix("n·k", n(2) * n(3)));
            vec![("logits", p[0], nk * t), ("labels", p[1], rows * 8), ("dlogits", p[4], nk * t), ("row_loss", p[5], rows * 8), ("row_correct", p[6], rows * 8)]
        }
        "dropout_hashed" => vec![("y", p[0], n(1) * t)],
        "dropout_mask" => vec![("y", p[0], n(2) * t), ("mask", p[1], n(2) * t)],
        "sgd_step" => vec![("param", p[0], n(3) * t), ("grad", p[1], n(3) * t), ("momentum", p[2], n(3) * t)],
        "first_non_finite" => vec![("x", p[0], n(1) * t), ("block_min", p[2], grid as u128 * 8)],
        // Rows of SgdChunk: param, grad, buf, n, lr, weight_decay, momentum, initialized, nesterov.
        "sgd_step_chunks" => rows
            .chunks(9)
            .flat_map(|r| {
                let len = fits_i64("chunk", r[3] as u128) * t;
                [("param", r[0] as u64, len), ("grad", r[1] as u64, len), ("momentum", r[2] as u64, len)]
            })
            .filter(|&(name, addr, _)| addr != 0 || name != "momentum")
            .collect(),
        // Rows of FiniteChunk: x, n, base; one index out per row.
        "first_non_finite_chunks" => {
            let mut v: Vec<_> = rows.chunks(3).map(|r| ("x", r[0] as u64, r[1] as u128 * t)).collect();
            v.push(("chunk_min", p[2], n(1) * 8));
            v
        }
        other => panic!("kernel {other} has no entry in this test's table of views: add one"),
    }
    .into_iter()
    // The optional pointers (null when unused); any other null is an error of `inside`.
    .filter(|&(name, addr, _)| {
        addr != 0 || !matches!((stem, name), ("bn_backward_dx", "dx") | ("max_pool3s2_forward", "argmax") | ("sgd_step", "momentum") | ("bn_stats_partial", "center"))
    })
    .collect()
}

/// Bytes of a row-major operand of `rows` rows of `cols` elements, row stride `ld`.
fn operand(rows: usize, cols: usize, ld: usize, t: u128) -> u128 {
    assert!(ld >= cols, "a leading dimension {ld} under the row length {cols}");
    ((rows as u128 - 1) * ld as u128 + cols as u128) * t
}

impl Device for Recorder {
    type Mem<E: Elem> = Span;

    fn name(&self) -> &'static str {
        "recording"
    }
    fn alloc<E: Elem>(&self, len: usize) -> Result<Span> {
        let bytes = len.max(1).checked_mul(std::mem::size_of::<E>()).ok_or_else(|| Error::Memory(format!("{len} elements")))? as u64;
        // 256-byte aligned, as cudaMalloc's; the first allocation is not at 0 (null).
        let start = self.next.fetch_add(bytes.div_ceil(256) * 256, Ordering::Relaxed) + (1 << 32);
        self.live.lock().unwrap().insert(start, bytes);
        Ok(Span { start, live: self.live.clone() })
    }
    fn upload<E: Elem>(&self, data: &[E]) -> Result<Span> {
        let span = self.alloc::<E>(data.len())?;
        if std::any::TypeId::of::<E>() == std::any::TypeId::of::<i64>() {
            // SAFETY: E is i64.
            let words = unsafe { std::slice::from_raw_parts(data.as_ptr() as *const i64, data.len()) };
            self.words.lock().unwrap().insert(span.start, words.to_vec());
        }
        Ok(span)
    }
    fn addr<E: Elem>(mem: &Span) -> Addr {
        mem.start
    }
    fn download<E: Elem>(&self, src: Addr, len: usize) -> Result<Vec<E>> {
        let bytes = len * std::mem::size_of::<E>();
        self.inside("download", src, bytes as u128);
        let mut out = vec![E::default(); len];
        // SAFETY: `out` holds `bytes` bytes; 0x3F bytes are a valid f32/f64/i64/u32 each.
        unsafe { std::ptr::write_bytes(out.as_mut_ptr() as *mut u8, 0x3F, bytes) };
        Ok(out)
    }
    fn memset_zero(&self, dst: Addr, bytes: usize) -> Result<()> {
        self.inside("memset", dst, bytes as u128);
        Ok(())
    }
    fn memcpy(&self, dst: Addr, src: Addr, bytes: usize) -> Result<()> {
        self.inside("copy source", src, bytes as u128);
        self.inside("copy destination", dst, bytes as u128);
        Ok(())
    }
    fn launch(&self, name: &str, grid: u32, block: u32, params: &[Word]) -> Result<()> {
        // The backend's launches are 1-D: CUDA takes up to 2³¹ − 1 blocks of up to 1024 threads.
        assert!((1..=i32::MAX as u32).contains(&grid), "{name}: grid of {grid} blocks");
        assert_eq!(block, BLOCK, "{name}: every kernel assumes DN_BLOCK threads per block");
        let (stem, t) = match name.rsplit_once('_') {
            Some((stem, "f32")) => (stem, 4),
            Some((stem, "f64")) => (stem, 8),
            _ => panic!("kernel {name} has no element-type suffix"),
        };
        let table = |at: Word, rows: Word, row_words: usize| -> Vec<i64> {
            self.inside(&format!("{name} table"), at, rows as u128 * row_words as u128 * 8);
            let words = self.words.lock().unwrap();
            let w = words.get(&at).unwrap_or_else(|| panic!("{name}: its table at {at:#x} was not uploaded"));
            assert_eq!(w.len(), rows as usize * row_words, "{name}: {rows} rows of {row_words} words");
            w.clone()
        };
        let rows = match stem {
            "sgd_step_chunks" => table(params[0], params[1], 9),
            "first_non_finite_chunks" => table(params[0], params[1], 3),
            _ => Vec::new(),
        };
        for (what, addr, bytes) in views(stem, params, t, grid, &rows) {
            self.inside(&format!("{name} {what}"), addr, bytes);
        }
        self.kernels.lock().unwrap().insert(stem.to_string());
        self.launches.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn gemm(&self, g: &Gemm, double: bool) -> Result<()> {
        let t = if double { 8 } else { 4 };
        let (a_rows, a_cols) = if g.ta { (g.k, g.m) } else { (g.m, g.k) };
        let (b_rows, b_cols) = if g.tb { (g.n, g.k) } else { (g.k, g.n) };
        self.inside("GEMM A", g.a, operand(a_rows, a_cols, g.lda, t));
        self.inside("GEMM B", g.b, operand(b_rows, b_cols, g.ldb, t));
        self.inside("GEMM C", g.c, operand(g.m, g.n, g.ldc, t));
        if let BlasIndexing::I64(_) = g.column_major().blas_indexing()? {
            self.wide_gemms.fetch_add(1, Ordering::Relaxed);
        }
        self.gemms.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// One planned training step of `preset` on `n` × 3 × side²; the column buffer it allocated.
fn plan_step<T: Float + Elem>(preset: &str, n: usize, side: usize) -> (u64, u64) {
    let cfg = DenseNetConfig::preset(preset).unwrap();
    let classes = cfg.num_classes as i64;
    let mut model = DenseNet::new(Gpu::<T, _>::with_device(Recorder::default(), COLS_BUDGET), cfg, 1).unwrap();
    let shape = [n, 3, side, side];
    let estimate = model.memory_estimate(&shape).unwrap();
    let x = model.backend().alloc(3 * n * side * side).unwrap();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % classes).collect();
    model.train_step_on_device(x, &shape, &labels).unwrap_or_else(|e| panic!("{preset} {n}×{side}²: {e}"));
    let dev = model.backend().device();
    let what = format!("{preset} {} {n}×3×{side}²", T::NAME);
    assert!(dev.launches.load(Ordering::Relaxed) > 100 && dev.gemms.load(Ordering::Relaxed) > 50, "{what}: the step launched too little");
    let kernels = dev.kernels.lock().unwrap();
    for k in [
        "im2col",
        "col2im",
        "bn_backward_dx",
        "softmax_xent",
        "sgd_step_chunks",
        "first_non_finite_chunks",
        "bn_stats_partial",
        "bn_stats_mean",
        "bn_stats_var",
        "bn_backward_sums_partial",
        "bn_backward_sums_total",
    ] {
        assert!(kernels.contains(k), "{what}: no {k} launched");
    }
    // The estimate counts the column buffer the step grew (and this device has no workspace).
    let cols = model.cached_bytes();
    let without = densenet_core::memory::estimate_fused(model.config(), &shape, std::mem::size_of::<T>(), false).unwrap();
    assert_eq!(estimate.training_efficient - without.training_efficient, cols, "{what}: the estimate's column buffer");
    assert_eq!(estimate.inference - without.inference, cols, "{what}: the estimate's column buffer (inference)");
    assert!(cols > 0 && cols <= (COLS_BUDGET * std::mem::size_of::<T>()) as u64, "{what}: {cols} bytes of columns");
    model.release_cached();
    assert_eq!(model.cached_bytes(), 0, "{what}: trim frees the column buffer");
    (cols, dev.wide_gemms.load(Ordering::Relaxed))
}

#[test]
fn every_imagenet_preset_plans_within_cuda_limits_at_224_and_batch_4096() {
    for preset in PRESET_NAMES.iter().filter(|p| !p.contains('-')) {
        let (_, wide) = plan_step::<f32>(preset, 4096, 224);
        // Block 1's input is ≥ 256·56²·4096 > 2³¹ elements: its 1×1 convs need 64-bit sizes.
        assert!(wide > 0, "{preset}: no GEMM needed cuBLAS's 64-bit sizes at batch 4096");
    }
    plan_step::<f64>("densenet264", 4096, 224);
}

#[test]
fn every_cifar_preset_plans_within_cuda_limits_at_batch_65536() {
    for preset in PRESET_NAMES.iter().filter(|p| p.contains('-')) {
        plan_step::<f32>(preset, 65_536, 32);
    }
}
