//! `Cpu<T>`: the [`Backend`] on host memory. Buffers are `Vec<T>`, views are slices; the
//! kernels in `ops` run on the calling rayon pool (the binding that owns the model decides
//! its threads with `ThreadPool::install`).

use crate::ops::gemm::MatRef;
use crate::ops::{batchnorm, conv, dropout, linear, loss, packed_backward, packed_conv, packed_wgrad, pool, weight_cache};
use crate::pool::{Pool, PoolBuf};
use densenet_core::backend::{normalized, unfused_bn_conv_backward, BN_EPS};
use densenet_core::geometry::ConvGeom;
use densenet_core::{Backend, BatchStats, BnArgs, Error, Float, GradOut, LossOut, MaskSource, Result, SgdConfig, WeightKey};
use std::ops::Range;
use std::sync::Arc;

/// The CPU backend for element type `T` (f32 or f64).
///
/// Buffers come from and go back to a pool (see [`crate::pool`]): a step of the same shape as
/// an earlier one allocates no large buffer.
pub struct Cpu<T: Copy + Default> {
    /// im2col columns (one buffer per worker lowering its own chunk of samples), reused across calls.
    cols: conv::ColsPool<T>,
    /// Per-worker im2col columns and partial sums of the weight gradients, reused across calls.
    wgrad: conv::WgradScratch<T>,
    /// Packed weights and per-worker panels of the implicit-GEMM convolution.
    packed: packed_conv::PackScratch<T>,
    /// Partial sums and packed d(y) of the im2col-free weight gradients.
    packed_wgrad: packed_wgrad::WgradScratch<T>,
    /// Packed weights of the fused convs, kept between inference calls.
    weights: weight_cache::WeightCache<T>,
    pool: Arc<Pool<T>>,
    idx_pool: Arc<Pool<u32>>,
}

impl<T: Copy + Default> Default for Cpu<T> {
    fn default() -> Self {
        Cpu {
            cols: Default::default(),
            wgrad: Default::default(),
            packed: Default::default(),
            packed_wgrad: Default::default(),
            weights: Default::default(),
            pool: Arc::default(),
            idx_pool: Arc::default(),
        }
    }
}

impl<T: Float> Cpu<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held for reuse: free pooled buffers and the kernels' scratch.
    pub fn cached_bytes(&self) -> usize {
        self.pool.held_bytes()
            + self.idx_pool.held_bytes()
            + self.cols.held_bytes()
            + self.wgrad.held_bytes()
            + self.packed.held_bytes()
            + self.packed_wgrad.held_bytes()
            + self.weights.held_bytes()
    }
}

/// An empty vector with room for `len`, or None when the allocator says no.
fn fresh<X>(len: usize) -> Option<Vec<X>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).ok()?;
    Some(v)
}

fn oom<X>(len: usize) -> Error {
    Error::InvalidArg(format!("out of memory: cannot allocate a buffer of {len} elements ({} bytes)", len.saturating_mul(std::mem::size_of::<X>())))
}

fn host_stats<T: Float>(s: batchnorm::BatchStats<T>) -> BatchStats<PoolBuf<T>> {
    BatchStats { mean: PoolBuf::detached(s.mean), invstd: PoolBuf::detached(s.invstd), var_unbiased: Some(PoolBuf::detached(s.var_unbiased)) }
}

impl<T: Float> Backend<T> for Cpu<T> {
    type Buf = PoolBuf<T>;
    type Idx = PoolBuf<u32>;
    type Src<'a> = &'a [T];
    type Dst<'a> = &'a mut [T];

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn alloc(&self, len: usize) -> Result<PoolBuf<T>> {
        let _p = crate::ops::profile::scope("mem.alloc");
        PoolBuf::zeroed(&self.pool, len, fresh).ok_or_else(|| oom::<T>(len))
    }
    fn alloc_for_overwrite(&self, len: usize) -> Result<PoolBuf<T>> {
        let _p = crate::ops::profile::scope("mem.alloc_for_overwrite");
        PoolBuf::for_overwrite(&self.pool, len, fresh).ok_or_else(|| oom::<T>(len))
    }
    fn alloc_idx(&self, len: usize) -> Result<PoolBuf<u32>> {
        PoolBuf::zeroed(&self.idx_pool, len, fresh).ok_or_else(|| oom::<u32>(len))
    }
    fn upload(&self, data: &[T]) -> Result<PoolBuf<T>> {
        let _p = crate::ops::profile::scope("mem.upload");
        PoolBuf::copied(&self.pool, data, fresh).ok_or_else(|| oom::<T>(data.len()))
    }
    fn upload_with(&self, len: usize, fill: &mut dyn FnMut(&mut [T])) -> Result<PoolBuf<T>> {
        let mut buf = self.alloc_for_overwrite(len)?;
        fill(&mut buf);
        Ok(buf)
    }
    /// Frees the pooled buffers and the packed weights kept for inference. The kernels' own
    /// scratch (im2col columns, a few MiB at most, which the memory estimate does not count
    /// either) stays until the backend is dropped.
    fn trim(&self) {
        self.pool.trim();
        self.idx_pool.trim();
        self.weights.clear();
    }
    fn cached_bytes(&self) -> u64 {
        Cpu::cached_bytes(self) as u64
    }
    fn download(&self, src: &[T]) -> Vec<T> {
        src.to_vec()
    }
    fn len(buf: &PoolBuf<T>) -> usize {
        buf.len()
    }
    fn src(buf: &PoolBuf<T>) -> &[T] {
        buf
    }
    fn dst(buf: &mut PoolBuf<T>) -> &mut [T] {
        buf
    }
    fn slice<'a>(src: Self::Src<'a>, range: Range<usize>) -> Self::Src<'a> {
        &src[range]
    }
    fn slice_mut<'a>(dst: Self::Dst<'a>, range: Range<usize>) -> Self::Dst<'a> {
        &mut dst[range]
    }
    fn split_mut<'a>(dst: Self::Dst<'a>, at: usize) -> (Self::Dst<'a>, Self::Dst<'a>) {
        dst.split_at_mut(at)
    }
    fn reborrow<'b>(dst: &'b mut &mut [T]) -> &'b mut [T] {
        dst
    }
    fn as_src<'b>(dst: &'b &mut [T]) -> &'b [T] {
        dst
    }

    fn fill_zero(&self, dst: &mut [T]) {
        let _p = crate::ops::profile::scope("mem.fill_zero");
        dst.fill(T::ZERO);
    }
    fn copy(&self, src: &[T], dst: &mut [T]) {
        let _p = crate::ops::profile::scope("mem.copy");
        dst.copy_from_slice(src);
    }
    fn add_assign(&self, src: &[T], dst: &mut [T]) {
        let _p = crate::ops::profile::scope("mem.add_assign");
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += *s);
    }

    fn bn_stats(&self, x: &[T], channels: usize, p: usize) -> Result<BatchStats<PoolBuf<T>>> {
        Ok(host_stats(batchnorm::batch_stats(x, channels, p)))
    }
    fn bn_running_stats(&self, running_mean: &[T], running_var: &[T]) -> Result<BatchStats<PoolBuf<T>>> {
        let _p = crate::ops::profile::scope("bn.running_stats");
        let invstd = running_var.iter().map(|v| T::from_f64(1.0 / (v.to_f64() + BN_EPS).sqrt())).collect();
        Ok(BatchStats { mean: PoolBuf::detached(running_mean.to_vec()), invstd: PoolBuf::detached(invstd), var_unbiased: None })
    }
    fn bn_update_running(&self, batch_mean: &[T], batch_var_unbiased: &[T], running_mean: &mut [T], running_var: &mut [T]) {
        let _p = crate::ops::profile::scope("bn.update_running");
        batchnorm::update_running(batch_mean, batch_var_unbiased, running_mean, running_var);
    }
    fn bn_forward(&self, x: &[T], channels: usize, p: usize, args: &BnArgs<&[T]>, y: &mut [T]) {
        batchnorm::forward(x, channels, p, args, y);
    }
    fn bn_backward(&self, x: &[T], dy: &mut [T], channels: usize, p: usize, args: &BnArgs<&[T]>, dgamma: &mut [T], dbeta: &mut [T], out: GradOut<&mut [T]>) {
        batchnorm::backward(x, dy, channels, p, args, dgamma, dbeta, out);
    }

    fn conv_forward(&self, x: &[T], weight: &[T], g: &ConvGeom, y: &mut [T], accumulate: bool) {
        if packed_conv::available::<T>() {
            packed_conv::forward(x, MatRef::rows(weight, g.k()), g, None, y, accumulate, &self.packed);
        } else {
            conv::forward_into(x, weight, g, y, accumulate, &self.cols);
        }
    }
    fn fuses_bn_conv(&self, _g: &ConvGeom) -> bool {
        packed_conv::available::<T>()
    }
    fn bn_conv_forward(&self, x: &[T], args: &BnArgs<&[T]>, weight: &[T], g: &ConvGeom, y: &mut [T], accumulate: bool) -> Result<()> {
        if !packed_conv::available::<T>() {
            let z = normalized(self, x, args, g)?;
            self.conv_forward(&z, weight, g, y, accumulate);
            return Ok(());
        }
        packed_conv::forward(x, MatRef::rows(weight, g.k()), g, Some(args), y, accumulate, &self.packed);
        Ok(())
    }
    fn bn_conv_forward_keyed(&self, key: WeightKey, x: &[T], args: &BnArgs<&[T]>, weight: &[T], g: &ConvGeom, y: &mut [T], accumulate: bool) -> Result<()> {
        if !packed_conv::available::<T>() {
            return self.bn_conv_forward(x, args, weight, g, y, accumulate);
        }
        assert!(weight.len() >= g.cout * g.k(), "conv weights too small");
        let wp = self.weights.get(key, MatRef::rows(weight, g.k()), g);
        packed_conv::forward_packed(x, &wp, g, Some(args), y, accumulate, &self.packed);
        Ok(())
    }
    fn conv_forward_keyed(&self, key: WeightKey, x: &[T], weight: &[T], g: &ConvGeom, y: &mut [T]) -> Result<()> {
        if !packed_conv::available::<T>() {
            self.conv_forward(x, weight, g, y, false);
            return Ok(());
        }
        assert!(weight.len() >= g.cout * g.k(), "conv weights too small");
        let wp = self.weights.get(key, MatRef::rows(weight, g.k()), g);
        packed_conv::forward_packed(x, &wp, g, None, y, false, &self.packed);
        Ok(())
    }
    fn conv_backward_weight(&self, x: &[T], dy: &[T], g: &ConvGeom, dweight: &mut [T]) {
        if packed_wgrad::supports::<T>(g) {
            packed_wgrad::backward_weight(x, dy, g, None, dweight, &self.packed, &self.packed_wgrad);
        } else {
            conv::backward_weight(x, dy, g, dweight, &self.wgrad);
        }
    }
    fn bn_conv_backward_weight(&self, x: &[T], args: &BnArgs<&[T]>, dy: &[T], g: &ConvGeom, dweight: &mut [T]) -> Result<()> {
        if packed_wgrad::supports::<T>(g) {
            packed_wgrad::backward_weight(x, dy, g, Some(args), dweight, &self.packed, &self.packed_wgrad);
            return Ok(());
        }
        let z = normalized(self, x, args, g)?;
        self.conv_backward_weight(&z, dy, g, dweight);
        Ok(())
    }
    fn bn_conv_backward(
        &self,
        x: &[T],
        args: &BnArgs<&[T]>,
        dy: &[T],
        weight: &[T],
        g: &ConvGeom,
        dweight: &mut [T],
        dgamma: &mut [T],
        dbeta: &mut [T],
        scratch: &mut [T],
        out: GradOut<&mut [T]>,
    ) -> Result<()> {
        if !packed_backward::supports::<T>(g) {
            return unfused_bn_conv_backward(self, x, args, dy, weight, g, dweight, dgamma, dbeta, scratch, out);
        }
        let sums = packed_backward::bn_conv1x1_backward(x, dy, weight, g, args, dweight, scratch, None, &self.packed, &self.packed_wgrad);
        batchnorm::backward_with_sums(x, scratch, g.cin, g.in_plane(), args, &sums, dgamma, dbeta, out);
        Ok(())
    }
    fn bn_conv_backward_deferred(
        &self,
        x: &[T],
        args: &BnArgs<&[T]>,
        dy: &[T],
        weight: &[T],
        g: &ConvGeom,
        dweight: &mut [T],
        dgamma: &mut [T],
        dbeta: &mut [T],
        gx: &mut [T],
        a: &mut [f64],
        b: &mut [f64],
    ) -> Result<bool> {
        if !packed_backward::supports::<T>(g) {
            return Ok(false);
        }
        let (cin, p) = (g.cin, g.in_plane());
        assert!(a.len() >= cin && b.len() >= cin, "one deferred term per input channel");
        // d(x) = coef·(g − Σg/P − x̂·Σg x̂/P), coef = γ·invstd (batchnorm::backward): coef·g is
        // added by the kernel, the rest is affine in x̂ and deferred.
        let coef: Vec<T> = (0..cin).map(|c| args.gamma[c] * args.invstd[c]).collect();
        let sums = packed_backward::bn_conv1x1_backward(x, dy, weight, g, args, dweight, gx, Some(&coef), &self.packed, &self.packed_wgrad);
        for (c, &(sg, sgx)) in sums.iter().enumerate() {
            dgamma[c] += T::from_f64(sgx);
            dbeta[c] += T::from_f64(sg);
            let k = coef[c].to_f64();
            a[c] -= k * (sg / p as f64);
            b[c] -= k * (sgx / p as f64);
        }
        Ok(true)
    }
    fn bn_apply_deferred(&self, x: &[T], mean: &[T], invstd: &[T], a: &[f64], b: &[f64], channels: usize, p: usize, grad: &mut [T]) -> Result<()> {
        batchnorm::apply_affine_terms(x, mean, invstd, a, b, channels, p, grad);
        Ok(())
    }
    fn conv_backward_input(&self, dy: &[T], weight: &[T], g: &ConvGeom, dx: &mut [T], accumulate: bool) {
        if packed_conv::preferred::<T>(g) && !g.is_pointwise() {
            // A convolution of dy with the flipped, transposed kernel (padding k − 1 − pad).
            // (1×1 input gradients stay on gemm: faster there for Cin ≫ Cout.)
            let _p = crate::ops::profile::scope("convkxk.backward_input");
            let gt = ConvGeom::new(g.cout, g.cin, g.kernel, 1, g.kernel - 1 - g.pad, g.n, g.ho, g.wo);
            let flipped = conv::flip_transpose(weight, g);
            packed_conv::forward(dy, MatRef::rows(&flipped, gt.k()), &gt, None, dx, accumulate, &self.packed);
            return;
        }
        conv::backward_input(dy, weight, g, dx, accumulate, &self.cols);
    }

    fn avg_pool2_forward(&self, x: &[T], planes: usize, h: usize, w: usize, y: &mut [T]) {
        let _p = crate::ops::profile::scope("pool.avg2_forward");
        pool::avg2_forward(x, planes, h, w, y);
    }
    fn bn_avg_pool2_forward(&self, x: &[T], channels: usize, n: usize, h: usize, w: usize, args: &BnArgs<&[T]>, y: &mut [T]) -> bool {
        pool::bn_avg2_forward(x, channels, n, h, w, args, y);
        true
    }
    fn bn_max_pool3s2_forward(&self, x: &[T], channels: usize, n: usize, h: usize, w: usize, args: &BnArgs<&[T]>, y: &mut [T]) -> bool {
        pool::bn_max3s2_forward(x, channels, n, h, w, args, y);
        true
    }
    fn avg_pool2_backward(&self, dy: &[T], planes: usize, h: usize, w: usize, dx: &mut [T]) {
        let _p = crate::ops::profile::scope("pool.avg2_backward");
        pool::avg2_backward(dy, planes, h, w, dx);
    }
    fn max_pool3s2_forward(&self, x: &[T], planes: usize, h: usize, w: usize, y: &mut [T], argmax: Option<&mut PoolBuf<u32>>) {
        let _p = crate::ops::profile::scope("pool.max3s2_forward");
        pool::max3s2_forward(x, planes, h, w, y, argmax.map(|a| &mut a[..]));
    }
    fn max_pool3s2_backward(&self, dy: &[T], argmax: &PoolBuf<u32>, planes: usize, h: usize, w: usize, dx: &mut [T]) {
        let _p = crate::ops::profile::scope("pool.max3s2_backward");
        pool::max3s2_backward(dy, argmax, planes, h, w, dx);
    }
    fn global_avg_forward(&self, x: &[T], planes: usize, hw: usize, out: &mut [T]) {
        let _p = crate::ops::profile::scope("pool.global_avg_forward");
        pool::global_avg_forward(x, planes, hw, out);
    }
    fn global_avg_backward(&self, dpooled: &[T], planes: usize, hw: usize, dx: &mut [T]) {
        let _p = crate::ops::profile::scope("pool.global_avg_backward");
        pool::global_avg_backward(dpooled, planes, hw, dx);
    }
    fn linear_forward(&self, pooled: &[T], weight: &[T], bias: &[T], n: usize, c: usize, k: usize, logits: &mut [T]) {
        let _p = crate::ops::profile::scope("linear.forward");
        linear::forward(pooled, weight, bias, n, c, k, logits);
    }
    fn linear_backward(&self, pooled: &[T], weight: &[T], dlogits: &[T], n: usize, c: usize, k: usize, dweight: &mut [T], dbias: &mut [T], dpooled: &mut [T]) {
        let _p = crate::ops::profile::scope("linear.backward");
        linear::backward(pooled, weight, dlogits, n, c, k, dweight, dbias, dpooled);
    }
    fn softmax_cross_entropy(&self, logits: &[T], labels: &[usize], k: usize) -> Result<LossOut<PoolBuf<T>>> {
        let _p = crate::ops::profile::scope("loss.softmax_cross_entropy");
        let l = loss::softmax_cross_entropy(logits, labels, k);
        Ok(LossOut { loss: l.loss, correct: l.correct, dlogits: PoolBuf::detached(l.dlogits) })
    }

    fn dropout(&self, y: &mut [T], p: f64, mask: MaskSource<&[T]>) {
        dropout::apply(y, p, &mask);
    }

    fn sgd_step(&self, param: &mut [T], grad: &[T], momentum: Option<(&mut [T], bool)>, c: &SgdConfig) {
        let _p = crate::ops::profile::scope("optim.sgd");
        // One pass per element, no temporary: the same operations in the same order as
        // PyTorch's (g = grad + wd·p; buf = m·buf + g; d = g + m·buf or buf; p −= lr·d).
        let (lr, wd, m) = (T::from_f64(c.lr), T::from_f64(c.weight_decay), T::from_f64(c.momentum));
        let decay = c.weight_decay != 0.0;
        let g_of = |p: T, g: T| if decay { g + wd * p } else { g };
        match momentum {
            Some((buf, initialized)) => {
                for ((p, g), b) in param.iter_mut().zip(grad).zip(buf.iter_mut()) {
                    let gv = g_of(*p, *g);
                    *b = if initialized { *b * m + gv } else { gv };
                    let d = if c.nesterov { gv + m * *b } else { *b };
                    *p -= lr * d;
                }
            }
            None => param.iter_mut().zip(grad).for_each(|(p, g)| *p -= lr * g_of(*p, *g)),
        }
    }

    fn first_non_finite(&self, x: &[T]) -> Option<(usize, f64)> {
        let _p = crate::ops::profile::scope("guard.first_non_finite");
        x.iter().position(|v| !v.is_finite()).map(|i| (i, x[i].to_f64()))
    }
}
