/**
 * The in-memory ONNX graph the exporter builds before encoding it: only what a DenseNet
 * needs (float32 tensors, int/ints/float attributes, the default `ai.onnx` domain).
 *
 * @module
 * @internal
 */

/** A node attribute: ONNX `INT`, `INTS` or `FLOAT`. */
export type OnnxAttribute =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'float'; readonly value: number };

/** One operator of the graph. */
export interface OnnxNode {
  /** ONNX operator, e.g. `Conv`. */
  readonly opType: string;
  /** Unique node name (the torchvision module name where there is one). */
  readonly name: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes: Readonly<Record<string, OnnxAttribute>>;
}

/** A constant float32 tensor of the graph (a weight). */
export interface OnnxInitializer {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** A graph input or output: a float32 tensor; a string dimension is symbolic (e.g. `'batch'`). */
export interface OnnxValueInfo {
  readonly name: string;
  readonly shape: readonly (number | string)[];
}

/** A whole graph. */
export interface OnnxGraph {
  readonly name: string;
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxInitializer[];
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
}

/** A model: a graph, the opset it is written for, and string metadata (`metadata_props`). */
export interface OnnxModel {
  readonly irVersion: number;
  readonly opset: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString: string;
  readonly graph: OnnxGraph;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Shorthand for an `INT` attribute. */
export const int = (value: number): OnnxAttribute => ({ kind: 'int', value });
/** Shorthand for an `INTS` attribute. */
export const ints = (...value: number[]): OnnxAttribute => ({ kind: 'ints', value });
/** Shorthand for a `FLOAT` attribute. */
export const float = (value: number): OnnxAttribute => ({ kind: 'float', value });
