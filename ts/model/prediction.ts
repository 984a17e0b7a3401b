/**
 * {@link Prediction}: the logits of a batch and their softmax, arg-max and top-k readers.
 *
 * @module
 */
import { DTypeError, InvalidArgumentError, ShapeError } from '../errors.js';
import { typeName } from '../internal/validate.js';

/**
 * One entry of {@link Prediction.topK}.
 *
 * @category Model
 */
export interface TopKEntry {
  /** Class index in `[0, numClasses)`. */
  index: number;
  /** Raw logit of the class. */
  logit: number;
  /** Softmax probability of the class. */
  probability: number;
  /** The class name, when the prediction has {@link Prediction.classNames}. */
  label?: string;
}

/**
 * Logits of a batch, with helpers to read them: softmax probabilities, arg-max, top-k (with
 * class names when the model's preprocessing has them).
 *
 * @example
 * ```ts
 * const model = await DenseNet.load('runs/mnist/best.safetensors');
 * const pred = await model.predictImages(['three.png', 'seven.png']);
 * pred.shape;          // [2, 10]
 * pred.argmax();       // Int32Array [3, 7]
 * pred.topK(2)[0];     // [{ index: 3, logit, probability: 0.98, label: '3' }, { index: 8, ... }]
 * pred.row(1);         // the 10 logits of the second image
 * ```
 *
 * @category Model
 */
export class Prediction {
  /** Row-major logits, `shape[0] * shape[1]` values. */
  readonly logits: Float32Array;
  /** `[n, classes]`. */
  readonly shape: [n: number, classes: number];
  /** Class names, index = class (from the model's preprocessing), or `null`. */
  readonly classNames: readonly string[] | null;

  /**
   * @param logits - row-major logits
   * @param shape - `[n, classes]`; `n * classes` must equal `logits.length`
   * @param classNames - optional class names (`classes` of them)
   */
  constructor(logits: Float32Array, shape: readonly [number, number], classNames: readonly string[] | null = null) {
    if (!(logits instanceof Float32Array)) throw new DTypeError(`logits must be a Float32Array, got ${typeName(logits)}`);
    if (shape.length !== 2 || shape[0] * shape[1] !== logits.length) {
      throw new ShapeError(`logits of length ${logits.length} do not fit shape [${shape.join(', ')}]`);
    }
    if (classNames !== null && (!Array.isArray(classNames) || classNames.length !== shape[1])) {
      throw new InvalidArgumentError(`classNames must be ${shape[1]} names, got ${Array.isArray(classNames) ? classNames.length : typeName(classNames)}`);
    }
    this.logits = logits;
    this.shape = [shape[0], shape[1]];
    this.classNames = classNames === null ? null : Object.freeze([...classNames]);
  }

  /**
   * The logits of sample `i`.
   *
   * @param i - sample index in `[0, n)`
   */
  row(i: number): Float32Array {
    const [n, k] = this.shape;
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new InvalidArgumentError(`row index must be in [0, ${n}), got ${i}`);
    return this.logits.subarray(i * k, (i + 1) * k);
  }

  /** Softmax probabilities, row-major, same shape as the logits. */
  probabilities(): Float32Array {
    const [n, k] = this.shape;
    const out = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let j = 0; j < k; j++) max = Math.max(max, this.logits[i * k + j]!);
      let sum = 0;
      for (let j = 0; j < k; j++) sum += Math.exp(this.logits[i * k + j]! - max);
      for (let j = 0; j < k; j++) out[i * k + j] = Math.exp(this.logits[i * k + j]! - max) / sum;
    }
    return out;
  }

  /** The arg-max class of each sample. */
  argmax(): Int32Array {
    const [n, k] = this.shape;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if (this.logits[i * k + j]! > this.logits[i * k + best]!) best = j;
      out[i] = best;
    }
    return out;
  }

  /**
   * The `k` most likely classes of each sample, most likely first.
   *
   * @param k - positive integer; clamped to the number of classes
   * @returns one array per sample
   */
  topK(k: number): TopKEntry[][] {
    if (!Number.isInteger(k) || k < 1) throw new InvalidArgumentError(`k must be a positive integer, got ${String(k)}`);
    const [n, classes] = this.shape;
    const probs = this.probabilities();
    const names = this.classNames;
    const result: TopKEntry[][] = [];
    for (let i = 0; i < n; i++) {
      const idx = Array.from({ length: classes }, (_, j) => j);
      idx.sort((a, b) => this.logits[i * classes + b]! - this.logits[i * classes + a]! || a - b);
      result.push(
        idx.slice(0, Math.min(k, classes)).map((j) => ({
          index: j,
          logit: this.logits[i * classes + j]!,
          probability: probs[i * classes + j]!,
          ...(names ? { label: names[j]! } : {}),
        })),
      );
    }
    return result;
  }
}
