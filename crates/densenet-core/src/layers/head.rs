//! The head: BN → ReLU → global average pool → linear.

use super::context::{bn_args, head, head_mut, two_mut, Ctx};
use crate::backend::{Backend, BatchStats, GradOut};
use crate::error::Result;
use crate::float::Float;
use crate::plan::HeadPlan;

pub struct HeadOut<Buf> {
    pub stats: BatchStats<Buf>,
    /// Pooled features [C, N].
    pub pooled: Buf,
    /// Logits [N, classes].
    pub logits: Buf,
}

/// `x` is the last block buffer [C, N, h, w].
pub fn forward<T: Float, B: Backend<T>>(hd: &HeadPlan, x: B::Src<'_>, n: usize, hw: usize, cx: &mut Ctx<T, B>) -> Result<HeadOut<B::Buf>> {
    let p = n * hw;
    let (be, params) = (cx.be, cx.params);
    let c = hd.features;
    let stats = cx.stats(&hd.norm, x, p)?;
    let mut z = cx.scratch.z.take(be, c * p)?;
    be.bn_forward(x, c, p, &bn_args::<T, B>(params, &hd.norm, &stats, true), head_mut::<T, B>(&mut z, c * p));
    let mut pooled = be.alloc(c * n)?;
    be.global_avg_forward(head::<T, B>(&z, c * p), c * n, hw, B::dst(&mut pooled));
    cx.scratch.z.put(z);
    let mut logits = be.alloc(n * hd.classes)?;
    be.linear_forward(B::src(&pooled), B::src(&params[hd.weight]), B::src(&params[hd.bias]), n, c, hd.classes, B::dst(&mut logits));
    Ok(HeadOut { stats, pooled, logits })
}

/// From d(logits), accumulates the classifier and norm5 gradients and, when `need_dx`, d(x)
/// into `gx`. Below the classifier nothing is computed when neither norm5 trains nor d(x) is wanted.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float, B: Backend<T>>(
    hd: &HeadPlan,
    out: &HeadOut<B::Buf>,
    x: B::Src<'_>,
    dlogits: B::Src<'_>,
    gx: B::Dst<'_>,
    n: usize,
    hw: usize,
    need_dx: bool,
    cx: &mut Ctx<T, B>,
) -> Result<()> {
    let p = n * hw;
    let (be, params) = (cx.be, cx.params);
    let c = hd.features;
    let mut dpooled = be.alloc(c * n)?;
    let grads = cx.grads.as_deref_mut().expect("backward needs gradient storage");
    let (dw, db) = two_mut(grads, hd.weight, hd.bias);
    be.linear_backward(B::src(&out.pooled), B::src(&params[hd.weight]), dlogits, n, c, hd.classes, B::dst(dw), B::dst(db), B::dst(&mut dpooled));
    if !(need_dx || cx.trains(hd.norm.weight) || cx.trains(hd.norm.bias)) {
        return Ok(());
    }
    let mut dz = cx.scratch.z.take(be, c * p)?;
    be.global_avg_backward(B::src(&dpooled), c * n, hw, head_mut::<T, B>(&mut dz, c * p));
    let args = bn_args::<T, B>(params, &hd.norm, &out.stats, true);
    let dx = if need_dx { GradOut::Accumulate(gx) } else { GradOut::InPlace };
    super::partial_backward::bn_backward(cx, &hd.norm, x, head_mut::<T, B>(&mut dz, c * p), p, &args, dx)?;
    cx.scratch.z.put(dz);
    Ok(())
}
