//! The backend seam: the network's ops over device buffers, at llm.c's level of granularity.
//!
//! The orchestration (stem, dense layers, transitions, head; both memory modes; running
//! statistics once per step) is written once over this trait. A backend owns its buffers and
//! kernels: `densenet-cpu` implements it with gemm + rayon; a CUDA or WASM backend implements
//! the same ops. Tensors inside the network are channel-major ([C, N, H, W]): every channel is
//! one contiguous run of P = N·H·W values, so a block's input prefix is a plain sub-view.
//!
//! Views borrow from a buffer at an offset (`Src` reads, `Dst` writes). The memory-efficient
//! algorithm reads a layer's input prefix and writes its k new channels into the same block
//! buffer: [`Backend::split_mut`] hands out the two disjoint halves.

use crate::error::Result;
use crate::float::Float;
use crate::geometry::ConvGeom;
use crate::optim::SgdConfig;
use std::ops::Range;

/// Per-channel statistics of one BN call (device buffers of `channels` values).
pub struct BatchStats<B> {
    pub mean: B,
    pub invstd: B,
    /// Unbiased batch variance, for the running-variance update (absent in eval).
    pub var_unbiased: Option<B>,
}

/// The affine parameters and statistics one BN(-ReLU) call uses.
pub struct BnArgs<S> {
    pub gamma: S,
    pub beta: S,
    pub mean: S,
    pub invstd: S,
    pub relu: bool,
}

/// Where a BN backward writes d(x).
pub enum GradOut<D> {
    /// d(x) is added into this view.
    Accumulate(D),
    /// d(y) is overwritten with d(x).
    InPlace,
}

/// Where a layer's dropout keep-mask comes from.
pub enum MaskSource<S> {
    /// A pure function of (seed, layer id, element index): regenerated in backward, the same
    /// for any thread count (see `dropout_keep`).
    Hashed { seed: u64, layer: usize },
    /// Given explicitly (1 = keep, 0 = drop), e.g. replayed from a reference run.
    Given(S),
}

/// Loss of a batch and its logits gradient.
pub struct LossOut<B> {
    pub loss: f64,
    pub correct: usize,
    /// d(mean loss)/d(logits), [N, K].
    pub dlogits: B,
}

/// A compute device for element type `T`.
pub trait Backend<T: Float>: Send + Sync {
    /// An owned buffer of `T` on the device.
    type Buf: Send + Sync;
    /// Pooling argmax indices on the device.
    type Idx: Send + Sync;
    /// A read-only view into a buffer.
    type Src<'a>: Copy
    where
        Self: 'a;
    /// A writable view into a buffer.
    type Dst<'a>
    where
        Self: 'a;

    /// Short name ("cpu", "cuda", ...).
    fn name(&self) -> &'static str;

    /// Bytes a pass could still allocate on the device, when its memory is not the host's
    /// (a GPU's: free plus what its allocator caches unused); None for host memory. The bindings'
    /// default memory budget uses it in place of the machine's available memory.
    fn device_memory_available(&self) -> Option<u64> {
        None
    }

    // ---- memory -------------------------------------------------------------------------

    /// A zero-filled buffer of `len` elements (an error, never an abort, when it cannot be had).
    fn alloc(&self, len: usize) -> Result<Self::Buf>;
    /// A buffer of `len` elements with unspecified (but initialized) contents, for a caller
    /// that writes every element before it reads it: a backend may hand back a reused buffer
    /// without clearing it. The default is `alloc`.
    fn alloc_for_overwrite(&self, len: usize) -> Result<Self::Buf> {
        self.alloc(len)
    }
    fn alloc_idx(&self, len: usize) -> Result<Self::Idx>;
    fn upload(&self, data: &[T]) -> Result<Self::Buf>;
    fn download(&self, src: Self::Src<'_>) -> Vec<T>;
    /// A buffer of `len` elements filled on the host by `fill`, which writes every element (a
    /// backend on host memory writes straight into its buffer, not cleared first; the default
    /// stages it in a host vector).
    fn upload_with(&self, len: usize, fill: &mut dyn FnMut(&mut [T])) -> Result<Self::Buf> {
        let mut host = vec![T::ZERO; len];
        fill(&mut host);
        self.upload(&host)
    }
    /// Frees whatever the backend keeps for reuse between calls (pooled buffers, scratch).
    fn trim(&self) {}
    /// Bytes the backend keeps for reuse between calls (see [`Backend::trim`]).
    fn cached_bytes(&self) -> u64 {
        0
    }
    /// Bytes of its own scratch the backend holds through a pass over these convolutions, for
    /// the memory estimate, where they are large (a GPU's conv column buffer and BLAS
    /// workspace; see [`Backend::cached_bytes`]); 0 where they are negligible (the default).
    fn workspace_bytes(&self, _convs: &[ConvGeom]) -> u64 {
        0
    }
    /// The failure of an op that cannot return one (on a GPU: a launch refused, a kernel fault,
    /// a scratch allocation, a copy) since the last call, which clears it; Ok when none. A
    /// backend keeps the first such failure and skips its later device work until it is taken,
    /// so what they produced (downloads included) is garbage: the model takes it before it
    /// trusts a result or commits a step. Backends whose ops cannot fail keep this default.
    fn take_error(&self) -> Result<()> {
        Ok(())
    }
    fn len(buf: &Self::Buf) -> usize;
    fn src(buf: &Self::Buf) -> Self::Src<'_>;
    fn dst(buf: &mut Self::Buf) -> Self::Dst<'_>;
    fn slice<'a>(src: Self::Src<'a>, range: Range<usize>) -> Self::Src<'a>;
    fn slice_mut<'a>(dst: Self::Dst<'a>, range: Range<usize>) -> Self::Dst<'a>;
    /// Two disjoint writable halves [0, at) and [at, len).
    fn split_mut<'a>(dst: Self::Dst<'a>, at: usize) -> (Self::Dst<'a>, Self::Dst<'a>);
    /// A shorter-lived writable view of the same range.
    fn reborrow<'b>(dst: &'b mut Self::Dst<'_>) -> Self::Dst<'b>;
    /// A read-only view of a writable one.
    fn as_src<'b>(dst: &'b Self::Dst<'_>) -> Self::Src<'b>;

    /// dst = 0.
    fn fill_zero(&self, dst: Self::Dst<'_>);
    /// dst = src (same length).
    fn copy(&self, src: Self::Src<'_>, dst: Self::Dst<'_>);
    /// dst += src (same length).
    fn add_assign(&self, src: Self::Src<'_>, dst: Self::Dst<'_>);

    // ---- batch norm (+ ReLU) ------------------------------------------------------------

    /// Mean, 1/sqrt(var + eps) and unbiased variance of each of `channels` runs of `p` values,
    /// reduced in a fixed order (the same bits for any thread count).
    fn bn_stats(&self, x: Self::Src<'_>, channels: usize, p: usize) -> Result<BatchStats<Self::Buf>>;
    /// Eval statistics: the running mean and 1/sqrt(running_var + eps).
    fn bn_running_stats(&self, running_mean: Self::Src<'_>, running_var: Self::Src<'_>) -> Result<BatchStats<Self::Buf>>;
    /// running ← (1 − momentum)·running + momentum·batch (PyTorch's rule; the variance unbiased).
    fn bn_update_running(&self, batch_mean: Self::Src<'_>, batch_var_unbiased: Self::Src<'_>, running_mean: Self::Dst<'_>, running_var: Self::Dst<'_>);
    /// y = [relu](gamma·(x − mean)·invstd + beta) per channel.
    fn bn_forward(&self, x: Self::Src<'_>, channels: usize, p: usize, args: &BnArgs<Self::Src<'_>>, y: Self::Dst<'_>);
    /// Training-mode BN(-ReLU) backward from x and d(y); the ReLU mask is recomputed from x.
    /// dgamma and dbeta are accumulated; d(x) goes where `out` says.
    #[allow(clippy::too_many_arguments)]
    fn bn_backward(
        &self,
        x: Self::Src<'_>,
        dy: Self::Dst<'_>,
        channels: usize,
        p: usize,
        args: &BnArgs<Self::Src<'_>>,
        dgamma: Self::Dst<'_>,
        dbeta: Self::Dst<'_>,
        out: GradOut<Self::Dst<'_>>,
    );

    /// Eval-mode BN(-ReLU) backward, for a frozen BN that normalizes with its running statistics
    /// during training (PyTorch's `eval()` on a frozen BN): mean and invstd are constants, so
    /// d(x) = d(y)·[y > 0]·γ·invstd (the mask only with `relu`), written where `out` says; no
    /// affine gradients. This default computes on the host; a backend may run it on its device.
    fn bn_backward_frozen(&self, x: Self::Src<'_>, dy: Self::Dst<'_>, channels: usize, p: usize, args: &BnArgs<Self::Src<'_>>, out: GradOut<Self::Dst<'_>>) -> Result<()> {
        let host = |s: Self::Src<'_>| self.download(s);
        let (xv, gamma, beta, mean, invstd) = (host(Self::slice(x, 0..channels * p)), host(args.gamma), host(args.beta), host(args.mean), host(args.invstd));
        let mut dx = host(Self::as_src(&dy));
        dx.truncate(channels * p);
        for c in 0..channels {
            let scale = gamma[c] * invstd[c];
            for (d, &xi) in dx[c * p..(c + 1) * p].iter_mut().zip(&xv[c * p..(c + 1) * p]) {
                // The forward's arithmetic and mask (y <= 0 is cut; a NaN is kept, as there).
                let y = (xi - mean[c]) * invstd[c] * gamma[c] + beta[c];
                *d = if args.relu && y <= T::ZERO { T::ZERO } else { *d * scale };
            }
        }
        let dx = self.upload(&dx)?;
        match out {
            GradOut::Accumulate(g) => self.add_assign(Self::src(&dx), Self::slice_mut(g, 0..channels * p)),
            GradOut::InPlace => self.copy(Self::src(&dx), Self::slice_mut(dy, 0..channels * p)),
        }
        Ok(())
    }

    // ---- convolution (no bias) ----------------------------------------------------------

    /// y (+)= conv(x, weight); x [Cin, N, H, W], weight [Cout, Cin, k, k], y [Cout, N, Ho, Wo].
    fn conv_forward(&self, x: Self::Src<'_>, weight: Self::Src<'_>, g: &ConvGeom, y: Self::Dst<'_>, accumulate: bool);
    /// Whether [`Backend::bn_conv_forward`] fuses (no normalized copy of x) for this conv; when
    /// not, the layers normalize into their own scratch and call `conv_forward`.
    fn fuses_bn_conv(&self, _g: &ConvGeom) -> bool {
        false
    }
    /// y (+)= conv(BN(x)[ReLU], weight): `bn_forward` of x's Cin channels followed by
    /// `conv_forward`, with the same result. This default materializes BN's output in a
    /// temporary buffer; a backend that fuses applies BN while reading x.
    fn bn_conv_forward(&self, x: Self::Src<'_>, args: &BnArgs<Self::Src<'_>>, weight: Self::Src<'_>, g: &ConvGeom, y: Self::Dst<'_>, accumulate: bool) -> Result<()> {
        let z = normalized(self, x, args, g)?;
        self.conv_forward(Self::src(&z), weight, g, y, accumulate);
        Ok(())
    }
    /// [`Backend::bn_conv_forward`] where the weights are those of parameter `key.param` and
    /// stay the same while `key.version` does (inference): a backend may keep them in its own
    /// layout between calls. This default ignores the key.
    #[allow(clippy::too_many_arguments)]
    fn bn_conv_forward_keyed(
        &self,
        _key: WeightKey,
        x: Self::Src<'_>,
        args: &BnArgs<Self::Src<'_>>,
        weight: Self::Src<'_>,
        g: &ConvGeom,
        y: Self::Dst<'_>,
        accumulate: bool,
    ) -> Result<()> {
        self.bn_conv_forward(x, args, weight, g, y, accumulate)
    }
    /// [`Backend::conv_forward`] (overwriting y) where the weights are those of parameter
    /// `key.param` and stay the same while `key.version` does, like
    /// [`Backend::bn_conv_forward_keyed`]. This default ignores the key.
    fn conv_forward_keyed(&self, _key: WeightKey, x: Self::Src<'_>, weight: Self::Src<'_>, g: &ConvGeom, y: Self::Dst<'_>) -> Result<()> {
        self.conv_forward(x, weight, g, y, false);
        Ok(())
    }
    /// dweight += d(y) × lowered(BN(x)[ReLU])ᵀ: `bn_forward` of x followed by
    /// `conv_backward_weight`, with the same result. Used where [`Backend::fuses_bn_conv`]
    /// says so; this default materializes BN's output in a temporary buffer.
    fn bn_conv_backward_weight(&self, x: Self::Src<'_>, args: &BnArgs<Self::Src<'_>>, dy: Self::Src<'_>, g: &ConvGeom, dweight: Self::Dst<'_>) -> Result<()> {
        let z = normalized(self, x, args, g)?;
        self.conv_backward_weight(Self::src(&z), dy, g, dweight);
        Ok(())
    }
    /// The backward of y = conv(BN(x)[ReLU], weight) with training-mode BN, given d(y):
    /// dweight += the conv's weight gradient, dgamma and dbeta += BN's, and d(x) where `out`
    /// says. `scratch` (Cin·N·H·W) is the conv's input gradient on the way; its contents
    /// afterwards are unspecified. The default is [`unfused_bn_conv_backward`]; a backend may
    /// fuse it (the CPU does for 1×1 convs). Called where [`Backend::fuses_bn_conv`] says so.
    #[allow(clippy::too_many_arguments)]
    fn bn_conv_backward(
        &self,
        x: Self::Src<'_>,
        args: &BnArgs<Self::Src<'_>>,
        dy: Self::Src<'_>,
        weight: Self::Src<'_>,
        g: &ConvGeom,
        dweight: Self::Dst<'_>,
        dgamma: Self::Dst<'_>,
        dbeta: Self::Dst<'_>,
        scratch: Self::Dst<'_>,
        out: GradOut<Self::Dst<'_>>,
    ) -> Result<()> {
        unfused_bn_conv_backward(self, x, args, dy, weight, g, dweight, dgamma, dbeta, scratch, out)
    }
    /// [`Backend::bn_conv_backward`] with d(x) accumulated into `gx`, less BN's per-channel affine
    /// part: for input channel c that part is a[c] + b[c]·x̂, x̂ = (x − mean)·invstd, and a[c],
    /// b[c] are added into `a` and `b` (Cin each) instead, for [`Backend::bn_apply_deferred`] to
    /// apply once for every layer that read the channel (a block's layers share its statistics,
    /// so their terms add up). Returns false, having done nothing, where the backend does not
    /// defer (the default).
    #[allow(clippy::too_many_arguments)]
    fn bn_conv_backward_deferred(
        &self,
        _x: Self::Src<'_>,
        _args: &BnArgs<Self::Src<'_>>,
        _dy: Self::Src<'_>,
        _weight: Self::Src<'_>,
        _g: &ConvGeom,
        _dweight: Self::Dst<'_>,
        _dgamma: Self::Dst<'_>,
        _dbeta: Self::Dst<'_>,
        _gx: Self::Dst<'_>,
        _a: &mut [f64],
        _b: &mut [f64],
    ) -> Result<bool> {
        Ok(false)
    }
    /// grad[c] += a[c] + b[c]·(x[c] − mean[c])·invstd[c] over `channels` channels of P values: the
    /// terms [`Backend::bn_conv_backward_deferred`] left out. Only called on a backend that deferred.
    #[allow(clippy::too_many_arguments)]
    fn bn_apply_deferred(
        &self,
        _x: Self::Src<'_>,
        _mean: Self::Src<'_>,
        _invstd: Self::Src<'_>,
        _a: &[f64],
        _b: &[f64],
        _channels: usize,
        _p: usize,
        _grad: Self::Dst<'_>,
    ) -> Result<()> {
        Err(crate::Error::InvalidArg(format!("the {} backend does not defer BN backward terms", self.name())))
    }
    /// dweight += d(y) × lowered(x)ᵀ (fixed reduction order).
    fn conv_backward_weight(&self, x: Self::Src<'_>, dy: Self::Src<'_>, g: &ConvGeom, dweight: Self::Dst<'_>);
    /// dx (+)= the input gradient of d(y).
    fn conv_backward_input(&self, dy: Self::Src<'_>, weight: Self::Src<'_>, g: &ConvGeom, dx: Self::Dst<'_>, accumulate: bool);

    // ---- pooling, classifier, loss ------------------------------------------------------

    /// 2×2 average pool, stride 2, over `planes` planes of h×w.
    fn avg_pool2_forward(&self, x: Self::Src<'_>, planes: usize, h: usize, w: usize, y: Self::Dst<'_>);
    /// dx = its backward (overwritten).
    fn avg_pool2_backward(&self, dy: Self::Src<'_>, planes: usize, h: usize, w: usize, dx: Self::Dst<'_>);
    /// y = 2×2 average pool (stride 2) of BN(x)[ReLU] in one pass, x [C, N, h, w] with the
    /// statistics of `args`, y [C, N, h/2, w/2]; each normalized value as in `bn_forward`.
    /// Returns false, writing nothing, where the backend has no such pass (the caller then
    /// normalizes into its scratch and pools).
    #[allow(clippy::too_many_arguments)]
    fn bn_avg_pool2_forward(&self, _x: Self::Src<'_>, _channels: usize, _n: usize, _h: usize, _w: usize, _args: &BnArgs<Self::Src<'_>>, _y: Self::Dst<'_>) -> bool {
        false
    }
    /// y = 3×3 max pool (stride 2, padding 1) of BN(x)[ReLU] in one pass, x [C, N, h, w] with
    /// the statistics of `args`, y [C, N, ⌊(h−1)/2⌋+1, ⌊(w−1)/2⌋+1], no argmax (a stem that
    /// does not train). Returns false, writing nothing, where the backend has no such pass.
    #[allow(clippy::too_many_arguments)]
    fn bn_max_pool3s2_forward(&self, _x: Self::Src<'_>, _channels: usize, _n: usize, _h: usize, _w: usize, _args: &BnArgs<Self::Src<'_>>, _y: Self::Dst<'_>) -> bool {
        false
    }
    /// 3×3 max pool, stride 2, padding 1; `argmax` (training only) receives each maximum's
    /// in-plane index (the first on ties, as PyTorch).
    fn max_pool3s2_forward(&self, x: Self::Src<'_>, planes: usize, h: usize, w: usize, y: Self::Dst<'_>, argmax: Option<&mut Self::Idx>);
    /// dx = scatter of d(y) onto the saved maxima (overwritten).
    fn max_pool3s2_backward(&self, dy: Self::Src<'_>, argmax: &Self::Idx, planes: usize, h: usize, w: usize, dx: Self::Dst<'_>);
    /// Mean of each of `planes` planes of `hw` values into `out` [planes].
    fn global_avg_forward(&self, x: Self::Src<'_>, planes: usize, hw: usize, out: Self::Dst<'_>);
    /// dx[plane, i] = dpooled[plane] / hw (overwritten).
    fn global_avg_backward(&self, dpooled: Self::Src<'_>, planes: usize, hw: usize, dx: Self::Dst<'_>);
    /// logits[N, K] = pooled[C, N]ᵀ × weight[K, C]ᵀ + bias.
    #[allow(clippy::too_many_arguments)]
    fn linear_forward(&self, pooled: Self::Src<'_>, weight: Self::Src<'_>, bias: Self::Src<'_>, n: usize, c: usize, k: usize, logits: Self::Dst<'_>);
    /// Accumulates dweight and dbias; writes dpooled [C, N].
    #[allow(clippy::too_many_arguments)]
    fn linear_backward(
        &self,
        pooled: Self::Src<'_>,
        weight: Self::Src<'_>,
        dlogits: Self::Src<'_>,
        n: usize,
        c: usize,
        k: usize,
        dweight: Self::Dst<'_>,
        dbias: Self::Dst<'_>,
        dpooled: Self::Dst<'_>,
    );
    /// Mean softmax cross-entropy of logits [N, K] against labels (each < K).
    fn softmax_cross_entropy(&self, logits: Self::Src<'_>, labels: &[usize], k: usize) -> Result<LossOut<Self::Buf>>;

    // ---- dropout, optimizer, numerics guard ---------------------------------------------

    /// y ← y · mask / (1 − p): the forward and the backward are the same operation.
    fn dropout(&self, y: Self::Dst<'_>, p: f64, mask: MaskSource<Self::Src<'_>>);
    /// One SGD step of one tensor (PyTorch's semantics, dampening 0): g = grad + wd·p;
    /// buf = g on the first step, else m·buf + g; d = g + m·buf (Nesterov) or buf; p −= lr·d.
    /// `momentum` is None when the momentum factor is 0.
    fn sgd_step(&self, param: Self::Dst<'_>, grad: Self::Src<'_>, momentum: Option<(Self::Dst<'_>, bool)>, cfg: &SgdConfig);
    /// Every tensor's SGD step of one optimizer step, each exactly as [`Backend::sgd_step`]. A
    /// backend whose launches cost (a GPU) updates them all in one pass instead of one per tensor.
    fn sgd_steps<'a>(&self, updates: Vec<SgdUpdate<Self::Dst<'a>, Self::Src<'a>>>) {
        for u in updates {
            self.sgd_step(u.param, u.grad, u.momentum, &u.cfg);
        }
    }
    /// The first element that is NaN or ±Inf, with its value.
    fn first_non_finite(&self, x: Self::Src<'_>) -> Option<(usize, f64)>;
    /// The first NaN/±Inf over several views in order: (view, element, value). A backend whose
    /// every answer waits for the device (a GPU) checks them all at once instead.
    fn first_non_finite_of(&self, xs: &[Self::Src<'_>]) -> Option<(usize, usize, f64)> {
        xs.iter().enumerate().find_map(|(t, x)| self.first_non_finite(*x).map(|(i, v)| (t, i, v)))
    }
}

/// One tensor's part of an optimizer step (see [`Backend::sgd_steps`]): its view, its gradient,
/// its momentum buffer with whether it holds a previous step (None when the momentum factor is
/// 0), and its group's hyper-parameters.
pub struct SgdUpdate<D, S> {
    pub param: D,
    pub grad: S,
    pub momentum: Option<(D, bool)>,
    pub cfg: SgdConfig,
}

/// Names a weight tensor and the version of the model's parameters it belongs to: the same key
/// means the same values (see [`Backend::bn_conv_forward_keyed`]). Versions come from one
/// process-wide counter, so two models never share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WeightKey {
    pub param: usize,
    pub version: u64,
}

impl WeightKey {
    /// A version no model has used yet.
    pub fn next_version() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}

/// BN(-ReLU) of a conv's Cin input channels in a fresh buffer: what the unfused
/// `bn_conv_*` paths (the trait's defaults, a backend's fallbacks) convolve.
pub fn normalized<T: Float, B: Backend<T> + ?Sized>(be: &B, x: B::Src<'_>, args: &BnArgs<B::Src<'_>>, g: &ConvGeom) -> Result<B::Buf> {
    let len = g.cin * g.in_plane();
    let mut z = be.alloc(len)?;
    be.bn_forward(B::slice(x, 0..len), g.cin, g.in_plane(), args, B::dst(&mut z));
    Ok(z)
}

/// [`Backend::bn_conv_backward`] as three calls: the fused weight gradient, the conv's input
/// gradient into `scratch`, BN backward from it.
#[allow(clippy::too_many_arguments)]
pub fn unfused_bn_conv_backward<T: Float, B: Backend<T> + ?Sized>(
    be: &B,
    x: B::Src<'_>,
    args: &BnArgs<B::Src<'_>>,
    dy: B::Src<'_>,
    weight: B::Src<'_>,
    g: &ConvGeom,
    dweight: B::Dst<'_>,
    dgamma: B::Dst<'_>,
    dbeta: B::Dst<'_>,
    mut scratch: B::Dst<'_>,
    out: GradOut<B::Dst<'_>>,
) -> Result<()> {
    be.bn_conv_backward_weight(x, args, dy, g, dweight)?;
    be.conv_backward_input(dy, weight, g, B::reborrow(&mut scratch), false);
    be.bn_backward(x, scratch, g.cin, g.in_plane(), args, dgamma, dbeta, out);
    Ok(())
}

/// splitmix64: the mixing function behind the weight init and the dropout masks.
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The hashed dropout mask every backend must reproduce: element `i` of layer `layer` is kept
/// when its 53-bit hash is at or above p·2⁵³.
#[inline]
pub fn dropout_keep(seed: u64, layer: usize, p: f64) -> impl Fn(usize) -> bool {
    let base = splitmix64(seed ^ (layer as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let threshold = (p * (1u64 << 53) as f64) as u64;
    move |i| splitmix64(base.wrapping_add(i as u64)) >> 11 >= threshold
}

/// BN constants (PyTorch's defaults).
pub const BN_EPS: f64 = 1e-5;
pub const BN_MOMENTUM: f64 = 0.1;
