//! `Cpu<T>`: the [`Backend`] on host memory. Buffers are `Vec<T>`, views are slices; the
//! kernels in `ops` run on the calling rayon pool (the binding that owns the model decides
//! its threads with `ThreadPool::install`).

use crate::ops::{batchnorm, conv, dropout, linear, loss, pool};
use densenet_core::backend::BN_EPS;
use densenet_core::geometry::ConvGeom;
use densenet_core::{Backend, BatchStats, BnArgs, Error, Float, GradOut, LossOut, MaskSource, Result, SgdConfig};
use std::ops::Range;
use std::sync::Mutex;

/// The CPU backend for element type `T` (f32 or f64).
pub struct Cpu<T> {
    /// im2col columns, reused across calls.
    cols: Mutex<Vec<T>>,
}

impl<T> Default for Cpu<T> {
    fn default() -> Self {
        Cpu { cols: Mutex::new(Vec::new()) }
    }
}

impl<T: Float> Cpu<T> {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_cols<R>(&self, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
        let mut cols = self.cols.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut cols)
    }
}

/// A zeroed vector, or an error naming the size when the allocator says no (never an abort).
fn try_zeroed<X: Clone + Default>(len: usize) -> Result<Vec<X>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| Error::InvalidArg(format!("out of memory: cannot allocate a buffer of {len} elements ({} bytes)", len.saturating_mul(std::mem::size_of::<X>()))))?;
    v.resize(len, X::default());
    Ok(v)
}

fn host_stats<T: Float>(s: batchnorm::BatchStats<T>) -> BatchStats<Vec<T>> {
    BatchStats { mean: s.mean, invstd: s.invstd, var_unbiased: Some(s.var_unbiased) }
}

impl<T: Float> Backend<T> for Cpu<T> {
    type Buf = Vec<T>;
    type Idx = Vec<u32>;
    type Src<'a> = &'a [T];
    type Dst<'a> = &'a mut [T];

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn alloc(&self, len: usize) -> Result<Vec<T>> {
        try_zeroed(len)
    }
    fn alloc_idx(&self, len: usize) -> Result<Vec<u32>> {
        try_zeroed(len)
    }
    fn upload(&self, data: &[T]) -> Result<Vec<T>> {
        let mut v = try_zeroed(0)?;
        v.try_reserve_exact(data.len()).map_err(|_| Error::InvalidArg(format!("out of memory: cannot copy {} elements", data.len())))?;
        v.extend_from_slice(data);
        Ok(v)
    }
    fn download(&self, src: &[T]) -> Vec<T> {
        src.to_vec()
    }
    fn len(buf: &Vec<T>) -> usize {
        buf.len()
    }
    fn src(buf: &Vec<T>) -> &[T] {
        buf
    }
    fn dst(buf: &mut Vec<T>) -> &mut [T] {
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
        dst.fill(T::ZERO);
    }
    fn copy(&self, src: &[T], dst: &mut [T]) {
        dst.copy_from_slice(src);
    }
    fn add_assign(&self, src: &[T], dst: &mut [T]) {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += *s);
    }

    fn bn_stats(&self, x: &[T], channels: usize, p: usize) -> Result<BatchStats<Vec<T>>> {
        Ok(host_stats(batchnorm::batch_stats(x, channels, p)))
    }
    fn bn_running_stats(&self, running_mean: &[T], running_var: &[T]) -> Result<BatchStats<Vec<T>>> {
        let invstd = running_var.iter().map(|v| T::from_f64(1.0 / (v.to_f64() + BN_EPS).sqrt())).collect();
        Ok(BatchStats { mean: running_mean.to_vec(), invstd, var_unbiased: None })
    }
    fn bn_update_running(&self, batch_mean: &[T], batch_var_unbiased: &[T], running_mean: &mut [T], running_var: &mut [T]) {
        batchnorm::update_running(batch_mean, batch_var_unbiased, running_mean, running_var);
    }
    fn bn_forward(&self, x: &[T], channels: usize, p: usize, args: &BnArgs<&[T]>, y: &mut [T]) {
        batchnorm::forward(x, channels, p, args, y);
    }
    fn bn_backward(&self, x: &[T], dy: &mut [T], channels: usize, p: usize, args: &BnArgs<&[T]>, dgamma: &mut [T], dbeta: &mut [T], out: GradOut<&mut [T]>) {
        batchnorm::backward(x, dy, channels, p, args, dgamma, dbeta, out);
    }

    fn conv_forward(&self, x: &[T], weight: &[T], g: &ConvGeom, y: &mut [T], accumulate: bool) {
        self.with_cols(|cols| conv::forward_into(x, weight, g, y, accumulate, cols));
    }
    fn conv_backward_weight(&self, x: &[T], dy: &[T], g: &ConvGeom, dweight: &mut [T]) {
        conv::backward_weight(x, dy, g, dweight);
    }
    fn conv_backward_input(&self, dy: &[T], weight: &[T], g: &ConvGeom, dx: &mut [T], accumulate: bool) {
        self.with_cols(|cols| conv::backward_input(dy, weight, g, dx, accumulate, cols));
    }

    fn avg_pool2_forward(&self, x: &[T], planes: usize, h: usize, w: usize, y: &mut [T]) {
        pool::avg2_forward(x, planes, h, w, y);
    }
    fn avg_pool2_backward(&self, dy: &[T], planes: usize, h: usize, w: usize, dx: &mut [T]) {
        pool::avg2_backward(dy, planes, h, w, dx);
    }
    fn max_pool3s2_forward(&self, x: &[T], planes: usize, h: usize, w: usize, y: &mut [T], argmax: Option<&mut Vec<u32>>) {
        pool::max3s2_forward(x, planes, h, w, y, argmax.map(|a| a.as_mut_slice()));
    }
    fn max_pool3s2_backward(&self, dy: &[T], argmax: &Vec<u32>, planes: usize, h: usize, w: usize, dx: &mut [T]) {
        pool::max3s2_backward(dy, argmax, planes, h, w, dx);
    }
    fn global_avg_forward(&self, x: &[T], planes: usize, hw: usize, out: &mut [T]) {
        pool::global_avg_forward(x, planes, hw, out);
    }
    fn global_avg_backward(&self, dpooled: &[T], planes: usize, hw: usize, dx: &mut [T]) {
        pool::global_avg_backward(dpooled, planes, hw, dx);
    }
    fn linear_forward(&self, pooled: &[T], weight: &[T], bias: &[T], n: usize, c: usize, k: usize, logits: &mut [T]) {
        linear::forward(pooled, weight, bias, n, c, k, logits);
    }
    fn linear_backward(&self, pooled: &[T], weight: &[T], dlogits: &[T], n: usize, c: usize, k: usize, dweight: &mut [T], dbias: &mut [T], dpooled: &mut [T]) {
        linear::backward(pooled, weight, dlogits, n, c, k, dweight, dbias, dpooled);
    }
    fn softmax_cross_entropy(&self, logits: &[T], labels: &[usize], k: usize) -> Result<LossOut<Vec<T>>> {
        let l = loss::softmax_cross_entropy(logits, labels, k);
        Ok(LossOut { loss: l.loss, correct: l.correct, dlogits: l.dlogits })
    }

    fn dropout(&self, y: &mut [T], p: f64, mask: MaskSource<&[T]>) {
        dropout::apply(y, p, &mask);
    }

    fn sgd_step(&self, param: &mut [T], grad: &[T], momentum: Option<(&mut [T], bool)>, c: &SgdConfig) {
        let (lr, wd, m) = (T::from_f64(c.lr), T::from_f64(c.weight_decay), T::from_f64(c.momentum));
        let mut d: Vec<T> = param.iter().zip(grad).map(|(p, g)| if c.weight_decay != 0.0 { *g + wd * *p } else { *g }).collect();
        if let Some((buf, initialized)) = momentum {
            if initialized {
                buf.iter_mut().zip(&d).for_each(|(b, dv)| *b = *b * m + *dv);
            } else {
                buf.copy_from_slice(&d);
            }
            if c.nesterov {
                d.iter_mut().zip(buf.iter()).for_each(|(dv, b)| *dv += m * *b);
            } else {
                d.copy_from_slice(buf);
            }
        }
        param.iter_mut().zip(&d).for_each(|(p, dv)| *p -= lr * *dv);
    }

    fn first_non_finite(&self, x: &[T]) -> Option<(usize, f64)> {
        x.iter().position(|v| !v.is_finite()).map(|i| (i, x[i].to_f64()))
    }
}
