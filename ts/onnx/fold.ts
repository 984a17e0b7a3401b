/**
 * Folding an eval-mode BatchNorm into the convolution that feeds it.
 *
 * BN(y) = γ·(y − μ)/√(σ² + ε) + β is per output channel affine: with s = γ/√(σ² + ε),
 * BN(W ∗ x) = (s·W) ∗ x + (β − s·μ). So a conv whose output goes only to that BN can take
 * the BN into its weights and a bias. This is valid only where the conv's output has no other
 * reader: in a DenseNet that is the ImageNet stem (conv0 → norm0) and a bottleneck layer's
 * 1×1 conv (conv1 → norm2). The norm1 of a dense layer, a transition's norm and norm5 read a
 * concatenation that other layers read too, and BN comes before ReLU and the conv
 * (pre-activation), so those cannot be folded either way; the graph keeps them as
 * BatchNormalization nodes. Arithmetic is in float64, rounded to float32 once.
 *
 * @module
 * @internal
 */

/** The four tensors of one BatchNorm, any float precision. */
export interface BatchNormParams {
  readonly weight: ArrayLike<number>;
  readonly bias: ArrayLike<number>;
  readonly runningMean: ArrayLike<number>;
  readonly runningVar: ArrayLike<number>;
}

/** A conv with a folded BN: float32 weights `[cout, cin, kh, kw]` and a bias `[cout]`. */
export interface FoldedConv {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
}

/**
 * Folds `bn` (over the conv's `cout` output channels) into a bias-free conv.
 *
 * @param convWeight - the conv's weights, `[cout, cin, kh, kw]` row-major
 * @param cout - output channels (= the BN's channels)
 * @param bn - the BN that reads the conv's output, and only it
 * @param eps - the BN's epsilon
 */
export function foldBatchNormIntoConv(convWeight: ArrayLike<number>, cout: number, bn: BatchNormParams, eps: number): FoldedConv {
  if (convWeight.length % cout !== 0 || bn.weight.length !== cout) {
    throw new RangeError(`cannot fold a BN of ${bn.weight.length} channels into a conv of ${cout} output channels and ${convWeight.length} weights`);
  }
  const perChannel = convWeight.length / cout;
  const weight = new Float32Array(convWeight.length);
  const bias = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    const scale = bn.weight[o]! / Math.sqrt(bn.runningVar[o]! + eps);
    bias[o] = bn.bias[o]! - scale * bn.runningMean[o]!;
    for (let j = o * perChannel; j < (o + 1) * perChannel; j++) weight[j] = convWeight[j]! * scale;
  }
  return { weight, bias };
}
