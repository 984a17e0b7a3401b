/**
 * The options of an ONNX export: their types, their checks, and the opsets the graph can be
 * written for.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { isPositiveInt } from '../internal/validate.js';

/**
 * The lowest opset the exported graph is valid in: Gemm-7 (the classifier's bias broadcast
 * without a `broadcast` attribute) and BatchNormalization-7 (inference semantics without
 * `is_test`). Every other op (Conv, Relu, Concat, MaxPool with pads, AveragePool,
 * GlobalAveragePool, Flatten) has the semantics the graph uses since opset 7 or earlier.
 *
 * @category Model
 */
export const ONNX_MIN_OPSET = 7;

/**
 * The newest opset this exporter writes (the ops it uses are unchanged up to it).
 *
 * @category Model
 */
export const ONNX_MAX_OPSET = 22;

/**
 * The opset written when none is given.
 *
 * @category Model
 */
export const ONNX_DEFAULT_OPSET = 17;

/** The ONNX IR version of the release that introduced each opset (onnx/docs/Versioning.md). */
const IR_VERSION_OF_OPSET: Readonly<Record<number, number>> = {
  7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10,
};

/**
 * Options of {@link DenseNet.exportOnnx}.
 *
 * @category Model
 */
export interface ExportOnnxOptions {
  /** Opset of the default ONNX domain, {@link ONNX_MIN_OPSET}..{@link ONNX_MAX_OPSET} (default {@link ONNX_DEFAULT_OPSET}). */
  opset?: number;
  /** `'dynamic'` (default: a symbolic `batch` dimension) or a fixed positive batch size. */
  batch?: 'dynamic' | number;
  /** `[height, width]` of the graph's input (default: the stored preprocessing's input size, else 32×32 for `smallInputs` models and 224×224 otherwise). */
  inputSize?: readonly [height: number, width: number];
  /**
   * Fold each BatchNorm that reads only one conv's output into that conv (default `true`): the
   * ImageNet stem's norm0 into conv0, each bottleneck layer's norm2 into its conv1. The others
   * (norm1 of every dense layer, the transitions' norm, norm5) read a concatenation shared with
   * later layers and come before a ReLU, so they stay BatchNormalization nodes.
   */
  foldBatchNorm?: boolean;
  /** Cancels the export (before the file is written); it rejects with an {@link AbortError}. */
  signal?: AbortSignal;
}

/**
 * What {@link DenseNet.exportOnnx} wrote.
 *
 * @category Model
 */
export interface OnnxExportInfo {
  /** The file written. */
  path: string;
  /** Opset of the default domain. */
  opset: number;
  /** ONNX IR version of the file. */
  irVersion: number;
  /** The input's shape; the batch is `'batch'` when dynamic. */
  inputShape: [batch: number | 'batch', channels: number, height: number, width: number];
  /** BatchNorms folded into the conv before them (torchvision names, e.g. `features.norm0`). */
  foldedBatchNorms: string[];
  /** BatchNorms kept as BatchNormalization nodes. */
  batchNormNodes: string[];
  /** Number of nodes of the graph. */
  nodeCount: number;
  /** Size of the file in bytes. */
  bytes: number;
}

/** Checked options, defaults filled in (except the input size, which needs the model). @internal */
export interface ResolvedExportOptions {
  opset: number;
  irVersion: number;
  batch: 'dynamic' | number;
  inputSize: [number, number] | null;
  foldBatchNorm: boolean;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/**
 * Checks export options and fills the defaults.
 *
 * @param options - the user's options
 * @throws {@link InvalidArgumentError} naming the option (for an opset below {@link ONNX_MIN_OPSET}, naming that minimum)
 * @internal
 */
export function resolveExportOptions(options: unknown): ResolvedExportOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidArgumentError(`exportOnnx options must be an object, got ${describe(options)}`);
  }
  const known = new Set(['opset', 'batch', 'inputSize', 'foldBatchNorm', 'signal']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new InvalidArgumentError(`unknown exportOnnx option "${key}"; known: ${[...known].join(', ')}`);
  }
  const o = options as ExportOnnxOptions;
  const opset = o.opset ?? ONNX_DEFAULT_OPSET;
  if (!Number.isSafeInteger(opset)) throw new InvalidArgumentError(`opset must be an integer, got ${describe(opset)}`);
  if (opset < ONNX_MIN_OPSET) {
    throw new InvalidArgumentError(`opset ${opset} is too old for this graph: it needs opset >= ${ONNX_MIN_OPSET} (Gemm-7 and BatchNormalization-7)`);
  }
  if (opset > ONNX_MAX_OPSET) throw new InvalidArgumentError(`opset must be at most ${ONNX_MAX_OPSET} (the newest this exporter writes), got ${opset}`);
  const batch = o.batch ?? 'dynamic';
  if (batch !== 'dynamic' && !isPositiveInt(batch)) throw new InvalidArgumentError(`batch must be 'dynamic' or a positive integer, got ${describe(batch)}`);
  let inputSize: [number, number] | null = null;
  if (o.inputSize !== undefined) {
    const s: unknown = o.inputSize;
    if (!Array.isArray(s) || s.length !== 2 || !s.every(isPositiveInt)) {
      throw new InvalidArgumentError(`inputSize must be [height, width] (positive integers), got ${describe(s)}`);
    }
    inputSize = [s[0] as number, s[1] as number];
  }
  const foldBatchNorm = o.foldBatchNorm ?? true;
  if (typeof foldBatchNorm !== 'boolean') throw new InvalidArgumentError(`foldBatchNorm must be a boolean, got ${describe(foldBatchNorm)}`);
  return { opset, irVersion: IR_VERSION_OF_OPSET[opset]!, batch, inputSize, foldBatchNorm };
}
