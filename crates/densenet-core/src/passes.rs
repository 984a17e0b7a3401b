//! The whole-network passes, written once over the backend: the training forward (keeps a
//! tape), its backward (one shared gradient buffer per block, walked back), and inference
//! (no tape: a block's buffer is dropped as soon as the next one is written).

use crate::backend::Backend;
use crate::error::Result;
use crate::float::Float;
use crate::geometry::Geometry;
use crate::layers::context::{head, head_mut, Ctx, MemoryMode};
use crate::layers::{dense_layer, dense_layer_naive, head as head_stage, stem, transition};
use crate::plan::Plan;
use crate::tape::{LayerTape, Tape};

fn block_buffer<T: Float, B: Backend<T>>(cx: &Ctx<T, B>, plan: &Plan, geo: &Geometry, b: usize) -> Result<B::Buf> {
    cx.be.alloc(plan.blocks[b].width() * geo.plane(b))
}

/// Training forward: logits in `tape.head.logits`.
pub fn forward_train<T: Float, B: Backend<T>>(plan: &Plan, input: B::Buf, geo: &Geometry, mode: MemoryMode, cx: &mut Ctx<T, B>) -> Result<Tape<B::Buf, B::Idx>> {
    let n = geo.n;
    let mut buf = block_buffer(cx, plan, geo, 0)?;
    let c0 = plan.blocks[0].c0;
    let stem_tape = stem::forward(&plan.stem, B::src(&input), geo, head_mut::<T, B>(&mut buf, c0 * geo.plane(0)), cx)?;
    let mut blocks = Vec::with_capacity(plan.blocks.len());
    let mut layers = Vec::with_capacity(plan.blocks.len());
    let mut transitions = Vec::new();
    for (bi, block) in plan.blocks.iter().enumerate() {
        let (h, w) = geo.blocks[bi];
        cx.feature_stats = None;
        let mut tapes = Vec::with_capacity(block.layers.len());
        for l in &block.layers {
            tapes.push(match mode {
                MemoryMode::Efficient => LayerTape::Efficient(dense_layer::forward(l, &mut buf, n, h, w, cx)?),
                MemoryMode::Naive => LayerTape::Naive(dense_layer_naive::forward(l, &mut buf, n, h, w, cx)?),
            });
        }
        layers.push(tapes);
        if let Some(t) = plan.transitions.get(bi) {
            let mut next = block_buffer(cx, plan, geo, bi + 1)?;
            let out = head_mut::<T, B>(&mut next, t.conv.cout * geo.plane(bi + 1));
            transitions.push(transition::forward(t, B::src(&buf), out, n, h, w, cx)?);
            blocks.push(std::mem::replace(&mut buf, next));
        }
    }
    let (h, w) = *geo.blocks.last().expect("a network has at least one block");
    let head_out = head_stage::forward(&plan.head, B::src(&buf), n, h * w, cx)?;
    blocks.push(buf);
    Ok(Tape { input, stem: stem_tape, blocks, layers, transitions, head: head_out })
}

/// Backward from d(logits) into `cx.grads`.
pub fn backward<T: Float, B: Backend<T>>(plan: &Plan, tape: Tape<B::Buf, B::Idx>, geo: &Geometry, dlogits: B::Src<'_>, cx: &mut Ctx<T, B>) -> Result<()> {
    let n = geo.n;
    let Tape { input, stem: stem_tape, mut blocks, mut layers, mut transitions, head: head_out } = tape;
    let last = plan.blocks.len() - 1;
    let (h, w) = geo.blocks[last];
    let mut grad = block_buffer(cx, plan, geo, last)?;
    head_stage::backward(&plan.head, &head_out, B::src(&blocks[last]), dlogits, B::dst(&mut grad), n, h * w, cx)?;
    drop(head_out);
    for bi in (0..plan.blocks.len()).rev() {
        let (h, w) = geo.blocks[bi];
        let buf = blocks.pop().expect("one buffer per block");
        let block = &plan.blocks[bi];
        let tapes = layers.pop().expect("one tape list per block");
        for (l, t) in block.layers.iter().zip(tapes).rev() {
            match t {
                LayerTape::Efficient(t) => dense_layer::backward(l, t, &buf, &mut grad, n, h, w, cx)?,
                LayerTape::Naive(t) => dense_layer_naive::backward(l, t, &mut grad, n, h, w, cx)?,
            }
        }
        // The block input's channels still lack the BN terms the layers deferred.
        cx.apply_deferred_bn(B::src(&buf), B::dst(&mut grad), 0, block.c0, n * h * w)?;
        cx.deferred_bn = None;
        drop(buf);
        let dprefix = head::<T, B>(&grad, block.c0 * geo.plane(bi));
        if bi > 0 {
            let stats = transitions.pop().expect("one transition between blocks");
            let mut gprev = block_buffer(cx, plan, geo, bi - 1)?;
            let (hp, wp) = geo.blocks[bi - 1];
            transition::backward(&plan.transitions[bi - 1], &stats, B::src(&blocks[bi - 1]), dprefix, B::dst(&mut gprev), n, hp, wp, cx)?;
            grad = gprev;
        } else {
            return stem::backward(&plan.stem, stem_tape, B::src(&input), geo, dprefix, cx);
        }
    }
    Ok(())
}

/// Eval-mode logits with no tape: per block only its own buffer (and the next one while the
/// transition writes it), the stem's intermediates dropped as soon as it is done.
pub fn infer<T: Float, B: Backend<T>>(plan: &Plan, input: B::Buf, geo: &Geometry, cx: &mut Ctx<T, B>) -> Result<B::Buf> {
    let n = geo.n;
    let mut buf = block_buffer(cx, plan, geo, 0)?;
    let c0 = plan.blocks[0].c0;
    stem::forward(&plan.stem, B::src(&input), geo, head_mut::<T, B>(&mut buf, c0 * geo.plane(0)), cx)?;
    drop(input);
    for (bi, block) in plan.blocks.iter().enumerate() {
        let (h, w) = geo.blocks[bi];
        for l in &block.layers {
            dense_layer::forward(l, &mut buf, n, h, w, cx)?;
        }
        if let Some(t) = plan.transitions.get(bi) {
            let mut next = block_buffer(cx, plan, geo, bi + 1)?;
            let out = head_mut::<T, B>(&mut next, t.conv.cout * geo.plane(bi + 1));
            transition::forward(t, B::src(&buf), out, n, h, w, cx)?;
            buf = next;
        }
    }
    let (h, w) = *geo.blocks.last().expect("a network has at least one block");
    Ok(head_stage::forward(&plan.head, B::src(&buf), n, h * w, cx)?.logits)
}
