//! The whole-network passes, written once over the backend: the training forward (keeps a
//! tape), its backward (one shared gradient buffer per block, walked back), and inference
//! (no tape: a block's buffer is dropped as soon as the next one is written). With frozen
//! stages (fine-tuning) the training passes run the stages below the lowest trainable one as
//! inference does and stop backward there.

use crate::backend::Backend;
use crate::error::Result;
use crate::float::Float;
use crate::freeze::StageOrder;
use crate::geometry::Geometry;
use crate::layers::context::{head, head_mut, Ctx, MemoryMode};
use crate::layers::{dense_layer, dense_layer_naive, head as head_stage, partial_backward, stem, transition};
use crate::plan::Plan;
use crate::tape::{LayerTape, Tape};

fn block_buffer<T: Float, B: Backend<T>>(cx: &Ctx<T, B>, plan: &Plan, geo: &Geometry, b: usize) -> Result<B::Buf> {
    cx.be.alloc(plan.blocks[b].width() * geo.plane(b))
}

/// A block's feature buffer: the stem or transition writes its first channels and each layer
/// its own, every channel before any is read, so it need not be cleared.
fn feature_buffer<T: Float, B: Backend<T>>(cx: &Ctx<T, B>, plan: &Plan, geo: &Geometry, b: usize) -> Result<B::Buf> {
    cx.be.alloc_for_overwrite(plan.blocks[b].width() * geo.plane(b))
}

/// Training forward: logits in `tape.head.logits`. Stages before `frontier` (the first that
/// trains, see `freeze::StageOrder`) keep no tape, and a block buffer is dropped once the next
/// one is written when backward will not come back to it, as in inference.
pub fn forward_train<T: Float, B: Backend<T>>(
    plan: &Plan,
    input: B::Buf,
    geo: &Geometry,
    mode: MemoryMode,
    stages: &StageOrder,
    frontier: usize,
    cx: &mut Ctx<T, B>,
) -> Result<Tape<B::Buf, B::Idx>> {
    let n = geo.n;
    let mut buf = feature_buffer(cx, plan, geo, 0)?;
    let c0 = plan.blocks[0].c0;
    let keep_stem = frontier == StageOrder::STEM;
    let stem_tape = stem::forward(&plan.stem, B::src(&input), geo, head_mut::<T, B>(&mut buf, c0 * geo.plane(0)), keep_stem, cx)?;
    let input = keep_stem.then_some(input);
    let mut blocks = Vec::with_capacity(plan.blocks.len());
    let mut layers = Vec::with_capacity(plan.blocks.len());
    let mut transitions = Vec::new();
    for (bi, block) in plan.blocks.iter().enumerate() {
        let (h, w) = geo.blocks[bi];
        cx.feature_stats = None;
        let mut tapes = Vec::with_capacity(block.layers.len());
        for (li, l) in block.layers.iter().enumerate() {
            let pos = stages.layer(bi, li);
            if pos < frontier {
                dense_layer::forward(l, &mut buf, n, h, w, cx)?;
                tapes.push(None);
                continue;
            }
            let naive = mode == MemoryMode::Naive && partial_backward::layer_trains_whole(cx, l, pos > frontier);
            tapes.push(Some(if naive {
                LayerTape::Naive(dense_layer_naive::forward(l, &mut buf, n, h, w, cx)?)
            } else {
                LayerTape::Efficient(dense_layer::forward(l, &mut buf, n, h, w, cx)?)
            }));
        }
        layers.push(tapes);
        if let Some(t) = plan.transitions.get(bi) {
            let mut next = feature_buffer(cx, plan, geo, bi + 1)?;
            let out = head_mut::<T, B>(&mut next, t.conv.cout * geo.plane(bi + 1));
            let stats = transition::forward(t, B::src(&buf), out, n, h, w, cx)?;
            // Backward reads this block's buffer only from the transition down.
            let kept = stages.transition(bi) >= frontier;
            transitions.push(kept.then_some(stats));
            let done = std::mem::replace(&mut buf, next);
            blocks.push(kept.then_some(done));
        }
    }
    let (h, w) = *geo.blocks.last().expect("a network has at least one block");
    let head_out = head_stage::forward(&plan.head, B::src(&buf), n, h * w, cx)?;
    blocks.push(Some(buf));
    Ok(Tape { input, stem: stem_tape, blocks, layers, transitions, head: head_out })
}

/// Backward from d(logits) into `cx.grads`, down to the stage `frontier` (which gets its
/// parameters' gradients but passes none to its input).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Float, B: Backend<T>>(
    plan: &Plan,
    tape: Tape<B::Buf, B::Idx>,
    geo: &Geometry,
    dlogits: B::Src<'_>,
    stages: &StageOrder,
    frontier: usize,
    cx: &mut Ctx<T, B>,
) -> Result<()> {
    let n = geo.n;
    let Tape { input, stem: stem_tape, mut blocks, mut layers, mut transitions, head: head_out } = tape;
    let last = plan.blocks.len() - 1;
    let (h, w) = geo.blocks[last];
    let head_dx = stages.head() > frontier;
    let mut grad = if head_dx { block_buffer(cx, plan, geo, last)? } else { cx.be.alloc(0)? };
    let last_buf = blocks[last].as_ref().expect("the last block's buffer is kept");
    head_stage::backward(&plan.head, &head_out, B::src(last_buf), dlogits, B::dst(&mut grad), n, h * w, head_dx, cx)?;
    drop(head_out);
    if !head_dx {
        return Ok(());
    }
    for bi in (0..plan.blocks.len()).rev() {
        let (h, w) = geo.blocks[bi];
        let buf = blocks.pop().flatten().expect("backward keeps the buffers of the blocks it walks through");
        let block = &plan.blocks[bi];
        let tapes = layers.pop().expect("one tape list per block");
        for ((li, l), t) in block.layers.iter().enumerate().zip(tapes).rev() {
            let pos = stages.layer(bi, li);
            if pos < frontier {
                break;
            }
            let need_dx = pos > frontier;
            match t.expect("a layer at or after the frontier keeps its tape") {
                LayerTape::Efficient(t) if partial_backward::layer_trains_whole(cx, l, need_dx) => dense_layer::backward(l, t, &buf, &mut grad, n, h, w, cx)?,
                LayerTape::Efficient(t) => partial_backward::dense_layer(l, t, &buf, &mut grad, n, h, w, need_dx, cx)?,
                LayerTape::Naive(t) => dense_layer_naive::backward(l, t, &mut grad, n, h, w, cx)?,
            }
        }
        if frontier >= stages.layer(bi, 0) {
            return Ok(());
        }
        // The block input's channels still lack the BN terms the layers deferred.
        cx.apply_deferred_bn(B::src(&buf), B::dst(&mut grad), 0, block.c0, n * h * w)?;
        cx.deferred_bn = None;
        drop(buf);
        let dprefix = head::<T, B>(&grad, block.c0 * geo.plane(bi));
        if bi > 0 {
            let stats = transitions.pop().flatten().expect("the statistics of a transition backward walks through");
            let t = &plan.transitions[bi - 1];
            let need_dx = stages.transition(bi - 1) > frontier;
            let mut gprev = if need_dx { block_buffer(cx, plan, geo, bi - 1)? } else { cx.be.alloc(0)? };
            let (hp, wp) = geo.blocks[bi - 1];
            let x = B::src(blocks[bi - 1].as_ref().expect("the buffer before a transition backward walks through"));
            if partial_backward::transition_trains_whole(cx, t, need_dx) {
                transition::backward(t, &stats, x, dprefix, B::dst(&mut gprev), n, hp, wp, cx)?;
            } else {
                partial_backward::transition(t, &stats, x, dprefix, B::dst(&mut gprev), n, hp, wp, need_dx, cx)?;
            }
            if !need_dx {
                return Ok(());
            }
            grad = gprev;
        } else {
            let input = input.expect("the input is kept when the stem trains");
            return stem::backward(&plan.stem, stem_tape, B::src(&input), geo, dprefix, cx);
        }
    }
    Ok(())
}

/// Eval-mode logits with no tape: per block only its own buffer (and the next one while the
/// transition writes it), the stem's intermediates dropped as soon as it is done.
pub fn infer<T: Float, B: Backend<T>>(plan: &Plan, input: B::Buf, geo: &Geometry, cx: &mut Ctx<T, B>) -> Result<B::Buf> {
    let n = geo.n;
    let mut buf = feature_buffer(cx, plan, geo, 0)?;
    let c0 = plan.blocks[0].c0;
    stem::forward(&plan.stem, B::src(&input), geo, head_mut::<T, B>(&mut buf, c0 * geo.plane(0)), false, cx)?;
    drop(input);
    for (bi, block) in plan.blocks.iter().enumerate() {
        let (h, w) = geo.blocks[bi];
        for l in &block.layers {
            dense_layer::forward(l, &mut buf, n, h, w, cx)?;
        }
        if let Some(t) = plan.transitions.get(bi) {
            let mut next = feature_buffer(cx, plan, geo, bi + 1)?;
            let out = head_mut::<T, B>(&mut next, t.conv.cout * geo.plane(bi + 1));
            transition::infer(t, B::src(&buf), out, n, h, w, cx)?;
            buf = next;
        }
    }
    let (h, w) = *geo.blocks.last().expect("a network has at least one block");
    Ok(head_stage::forward(&plan.head, B::src(&buf), n, h * w, cx)?.logits)
}
