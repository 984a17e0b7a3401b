/**
 * Builds the ONNX graph of a DenseNet from its config and its stored tensors (torchvision
 * names, see `docs` and `crates/densenet-core/src/plan.rs`): the same network the native
 * core runs in eval mode (BN running statistics, no dropout).
 *
 * - CIFAR stem (`smallInputs`): conv0 3×3/1 pad 1.
 *   ImageNet stem: conv0 7×7/2 pad 3 → norm0 → ReLU → MaxPool 3×3/2 pad 1.
 * - Dense layer, input = Concat of the block input and every earlier layer's output:
 *   BC: norm1 → ReLU → conv1 1×1 → norm2 → ReLU → conv2 3×3 pad 1; basic: norm1 → ReLU → conv1 3×3 pad 1.
 * - Transition: norm → ReLU → conv 1×1 (⌊θ·m⌋ channels) → AveragePool 2×2/2.
 * - Head: norm5 → ReLU → GlobalAveragePool → Flatten → Gemm (classifier).
 *
 * With `foldBatchNorm`, norm0 and each norm2 are folded into the conv before them (see ./fold.ts).
 *
 * @module
 * @internal
 */
import type { ModelConfig } from '../config.js';
import { WeightsError } from '../errors.js';
import { foldBatchNormIntoConv, type BatchNormParams } from './fold.js';
import { float, int, ints, type OnnxAttribute, type OnnxGraph, type OnnxInitializer, type OnnxNode } from './ir.js';
import type { StoredTensor } from './safetensors.js';

/** BatchNorm epsilon of the native core (`BN_EPS`) and of torchvision. */
export const BN_EPSILON = 1e-5;

/** Name of the graph's input (NCHW float32). */
export const ONNX_INPUT_NAME = 'input';
/** Name of the graph's output (`[batch, numClasses]` logits). */
export const ONNX_OUTPUT_NAME = 'logits';
/** The symbolic batch dimension of a dynamic-batch export. */
export const ONNX_BATCH_DIM = 'batch';

/** What shapes the exported graph has and whether it folds BatchNorms. */
export interface GraphOptions {
  readonly batch: 'dynamic' | number;
  readonly inputSize: readonly [height: number, width: number];
  readonly foldBatchNorm: boolean;
}

/** The graph, and which BatchNorms were folded into a conv (torchvision names). */
export interface BuiltGraph {
  readonly graph: OnnxGraph;
  readonly foldedBatchNorms: readonly string[];
  readonly batchNormNodes: readonly string[];
}

interface ConvSpec {
  readonly kernel: number;
  readonly stride: number;
  readonly pad: number;
  readonly cin: number;
  readonly cout: number;
}

class DenseNetGraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  readonly folded: string[] = [];
  readonly batchNorms: string[] = [];

  constructor(
    private readonly tensors: ReadonlyMap<string, StoredTensor>,
    private readonly fold: boolean,
  ) {}

  #stored(name: string, shape: readonly number[]): StoredTensor {
    const t = this.tensors.get(name);
    if (!t) throw new WeightsError(`the saved weights lack ${name}`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new WeightsError(`${name} has shape [${t.shape.join(', ')}], the config needs [${shape.join(', ')}]`);
    }
    return t;
  }

  #initializer(name: string, dims: readonly number[], data: Float32Array | Float64Array): string {
    this.initializers.push({ name, dims: [...dims], data: data instanceof Float32Array ? data : Float32Array.from(data) });
    return name;
  }

  #weight(name: string, shape: readonly number[]): string {
    return this.#initializer(name, shape, this.#stored(name, shape).data);
  }

  #batchNormParams(prefix: string, channels: number): BatchNormParams {
    const read = (field: string): ArrayLike<number> => this.#stored(`${prefix}.${field}`, [channels]).data;
    return { weight: read('weight'), bias: read('bias'), runningMean: read('running_mean'), runningVar: read('running_var') };
  }

  node(opType: string, name: string, inputs: readonly string[], attributes: Record<string, OnnxAttribute> = {}): string {
    this.nodes.push({ opType, name, inputs, outputs: [name], attributes });
    return name;
  }

  #convNode(prefix: string, x: string, spec: ConvSpec, inputs: readonly string[]): string {
    return this.node('Conv', prefix, [x, ...inputs], {
      kernel_shape: ints(spec.kernel, spec.kernel),
      strides: ints(spec.stride, spec.stride),
      pads: ints(spec.pad, spec.pad, spec.pad, spec.pad),
    });
  }

  /** A bias-free conv. */
  conv(prefix: string, x: string, spec: ConvSpec): string {
    return this.#convNode(prefix, x, spec, [this.#weight(`${prefix}.weight`, [spec.cout, spec.cin, spec.kernel, spec.kernel])]);
  }

  /** A conv followed by the BN `bnPrefix` that reads only its output: one Conv with a bias when folding, else Conv → BatchNormalization. */
  convThenBatchNorm(prefix: string, x: string, spec: ConvSpec, bnPrefix: string): string {
    if (!this.fold) return this.batchNorm(bnPrefix, this.conv(prefix, x, spec), spec.cout);
    const shape = [spec.cout, spec.cin, spec.kernel, spec.kernel];
    const folded = foldBatchNormIntoConv(this.#stored(`${prefix}.weight`, shape).data, spec.cout, this.#batchNormParams(bnPrefix, spec.cout), BN_EPSILON);
    this.folded.push(bnPrefix);
    const weight = this.#initializer(`${prefix}.weight+${bnPrefix}`, shape, folded.weight);
    const bias = this.#initializer(`${prefix}.bias+${bnPrefix}`, [spec.cout], folded.bias);
    return this.#convNode(prefix, x, spec, [weight, bias]);
  }

  batchNorm(prefix: string, x: string, channels: number): string {
    this.#batchNormParams(prefix, channels); // checks that all four tensors exist with the right shape
    const inputs = ['weight', 'bias', 'running_mean', 'running_var'].map((f) => this.#weight(`${prefix}.${f}`, [channels]));
    this.batchNorms.push(prefix);
    return this.node('BatchNormalization', prefix, [x, ...inputs], { epsilon: float(BN_EPSILON) });
  }

  relu(name: string, x: string): string {
    return this.node('Relu', name, [x]);
  }

  /** The classifier `y = x·Wᵀ + b` as a Gemm writing `output`. */
  linear(prefix: string, x: string, cin: number, cout: number, output: string): string {
    const inputs = [x, this.#weight(`${prefix}.weight`, [cout, cin]), this.#weight(`${prefix}.bias`, [cout])];
    this.nodes.push({ opType: 'Gemm', name: prefix, inputs, outputs: [output], attributes: { transB: int(1) } });
    return output;
  }
}

function stem(b: DenseNetGraphBuilder, config: ModelConfig, x: string): string {
  const c0 = config.numInitFeatures;
  if (config.smallInputs) return b.conv('features.conv0', x, { kernel: 3, stride: 1, pad: 1, cin: config.inChannels, cout: c0 });
  const y = b.convThenBatchNorm('features.conv0', x, { kernel: 7, stride: 2, pad: 3, cin: config.inChannels, cout: c0 }, 'features.norm0');
  return b.node('MaxPool', 'features.pool0', [b.relu('features.relu0', y)], { kernel_shape: ints(3, 3), strides: ints(2, 2), pads: ints(1, 1, 1, 1) });
}

function denseLayer(b: DenseNetGraphBuilder, config: ModelConfig, name: string, x: string, cin: number): string {
  const k = config.growthRate;
  const a = b.relu(`${name}.relu1`, b.batchNorm(`${name}.norm1`, x, cin));
  if (!config.bottleneck) return b.conv(`${name}.conv1`, a, { kernel: 3, stride: 1, pad: 1, cin, cout: k });
  const width = config.bnSize * k;
  const y = b.convThenBatchNorm(`${name}.conv1`, a, { kernel: 1, stride: 1, pad: 0, cin, cout: width }, `${name}.norm2`);
  return b.conv(`${name}.conv2`, b.relu(`${name}.relu2`, y), { kernel: 3, stride: 1, pad: 1, cin: width, cout: k });
}

/** A dense block: each layer reads the concatenation so far; returns the block output and its channels. */
function denseBlock(b: DenseNetGraphBuilder, config: ModelConfig, index: number, x: string, c0: number): [string, number] {
  let features = x;
  let channels = c0;
  for (let l = 1; l <= config.blockConfig[index - 1]!; l++) {
    const name = `features.denseblock${index}.denselayer${l}`;
    const y = denseLayer(b, config, name, features, channels);
    features = b.node('Concat', `${name}.concat`, [features, y], { axis: int(1) });
    channels += config.growthRate;
  }
  return [features, channels];
}

function transition(b: DenseNetGraphBuilder, config: ModelConfig, index: number, x: string, cin: number): [string, number] {
  const prefix = `features.transition${index}`;
  const cout = Math.floor(config.compression * cin);
  const a = b.relu(`${prefix}.relu`, b.batchNorm(`${prefix}.norm`, x, cin));
  const y = b.conv(`${prefix}.conv`, a, { kernel: 1, stride: 1, pad: 0, cin, cout });
  return [b.node('AveragePool', `${prefix}.pool`, [y], { kernel_shape: ints(2, 2), strides: ints(2, 2) }), cout];
}

function head(b: DenseNetGraphBuilder, config: ModelConfig, x: string, channels: number): string {
  const a = b.relu('features.relu5', b.batchNorm('features.norm5', x, channels));
  const pooled = b.node('Flatten', 'flatten', [b.node('GlobalAveragePool', 'avgpool', [a])], { axis: int(1) });
  return b.linear('classifier', pooled, channels, config.numClasses, ONNX_OUTPUT_NAME);
}

/**
 * The eval-mode graph of a DenseNet.
 *
 * @param config - the normalized config
 * @param tensors - the model's tensors by torchvision name (as `DenseNet.save` writes them)
 * @param options - batch, input size, BN folding
 * @throws {@link WeightsError} when a tensor is missing or has the wrong shape
 */
export function buildDenseNetGraph(config: ModelConfig, tensors: ReadonlyMap<string, StoredTensor>, options: GraphOptions): BuiltGraph {
  const b = new DenseNetGraphBuilder(tensors, options.foldBatchNorm);
  let x = stem(b, config, ONNX_INPUT_NAME);
  let channels = config.numInitFeatures;
  config.blockConfig.forEach((_, i) => {
    [x, channels] = denseBlock(b, config, i + 1, x, channels);
    if (i + 1 < config.blockConfig.length) [x, channels] = transition(b, config, i + 1, x, channels);
  });
  head(b, config, x, channels);
  const batchDim = options.batch === 'dynamic' ? ONNX_BATCH_DIM : options.batch;
  return {
    graph: {
      name: 'densenet',
      nodes: b.nodes,
      initializers: b.initializers,
      inputs: [{ name: ONNX_INPUT_NAME, shape: [batchDim, config.inChannels, options.inputSize[0], options.inputSize[1]] }],
      outputs: [{ name: ONNX_OUTPUT_NAME, shape: [batchDim, config.numClasses] }],
    },
    foldedBatchNorms: b.folded,
    batchNormNodes: b.batchNorms,
  };
}
