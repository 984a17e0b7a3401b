/**
 * Serializes an {@link OnnxModel} to the ONNX protobuf format (`ModelProto`).
 *
 * The field numbers are those of the published `onnx/onnx.proto` (ONNX 1.17, Apache-2.0),
 * named here after the messages and fields they belong to. Tensors are written as
 * little-endian `raw_data`, as the ONNX spec requires.
 *
 * @module
 * @internal
 */
import { endianness } from 'node:os';

import type { OnnxAttribute, OnnxGraph, OnnxInitializer, OnnxModel, OnnxNode, OnnxValueInfo } from './ir.js';
import { ProtoMessage } from './proto.js';

/** `ModelProto` fields. */
const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14 } as const;
/** `OperatorSetIdProto` fields. */
const OPSET_ID = { domain: 1, version: 2 } as const;
/** `StringStringEntryProto` fields. */
const STRING_ENTRY = { key: 1, value: 2 } as const;
/** `GraphProto` fields. */
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 } as const;
/** `NodeProto` fields. */
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 } as const;
/** `AttributeProto` fields. */
const ATTRIBUTE = { name: 1, f: 2, i: 3, ints: 8, type: 20 } as const;
/** `AttributeProto.AttributeType` values. */
const ATTRIBUTE_TYPE = { float: 1, int: 2, ints: 7 } as const;
/** `TensorProto` fields. */
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9 } as const;
/** `TensorProto.DataType.FLOAT`. */
const DATA_TYPE_FLOAT = 1;
/** `ValueInfoProto` fields. */
const VALUE_INFO = { name: 1, type: 2 } as const;
/** `TypeProto` fields. */
const TYPE = { tensorType: 1 } as const;
/** `TypeProto.Tensor` fields. */
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
/** `TensorShapeProto` fields. */
const SHAPE = { dim: 1 } as const;
/** `TensorShapeProto.Dimension` fields. */
const DIMENSION = { dimValue: 1, dimParam: 2 } as const;

const littleEndianHost = endianness() === 'LE';

function littleEndianBytes(data: Float32Array): Uint8Array {
  if (littleEndianHost) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

function encodeAttribute(name: string, attr: OnnxAttribute): ProtoMessage {
  const m = new ProtoMessage().string(ATTRIBUTE.name, name);
  switch (attr.kind) {
    case 'int':
      return m.varint(ATTRIBUTE.i, attr.value).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.int);
    case 'ints':
      for (const v of attr.value) m.varint(ATTRIBUTE.ints, v);
      return m.varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.ints);
    case 'float':
      return m.float32(ATTRIBUTE.f, attr.value).varint(ATTRIBUTE.type, ATTRIBUTE_TYPE.float);
  }
}

function encodeNode(node: OnnxNode): ProtoMessage {
  const m = new ProtoMessage();
  for (const input of node.inputs) m.string(NODE.input, input);
  for (const output of node.outputs) m.string(NODE.output, output);
  m.string(NODE.name, node.name).string(NODE.opType, node.opType);
  for (const [name, attr] of Object.entries(node.attributes)) m.message(NODE.attribute, encodeAttribute(name, attr));
  return m;
}

function encodeInitializer(t: OnnxInitializer): ProtoMessage {
  const m = new ProtoMessage();
  for (const d of t.dims) m.varint(TENSOR.dims, d);
  return m.varint(TENSOR.dataType, DATA_TYPE_FLOAT).string(TENSOR.name, t.name).bytes(TENSOR.rawData, littleEndianBytes(t.data));
}

function encodeValueInfo(v: OnnxValueInfo): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of v.shape) {
    const dim = typeof d === 'string' ? new ProtoMessage().string(DIMENSION.dimParam, d) : new ProtoMessage().varint(DIMENSION.dimValue, d);
    shape.message(SHAPE.dim, dim);
  }
  const tensorType = new ProtoMessage().varint(TENSOR_TYPE.elemType, DATA_TYPE_FLOAT).message(TENSOR_TYPE.shape, shape);
  return new ProtoMessage().string(VALUE_INFO.name, v.name).message(VALUE_INFO.type, new ProtoMessage().message(TYPE.tensorType, tensorType));
}

function encodeGraph(g: OnnxGraph): ProtoMessage {
  const m = new ProtoMessage();
  for (const node of g.nodes) m.message(GRAPH.node, encodeNode(node));
  m.string(GRAPH.name, g.name);
  for (const t of g.initializers) m.message(GRAPH.initializer, encodeInitializer(t));
  for (const v of g.inputs) m.message(GRAPH.input, encodeValueInfo(v));
  for (const v of g.outputs) m.message(GRAPH.output, encodeValueInfo(v));
  return m;
}

/**
 * The bytes of an ONNX file for `model`.
 *
 * @param model - the model to serialize
 */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const m = new ProtoMessage()
    .varint(MODEL.irVersion, model.irVersion)
    .string(MODEL.producerName, model.producerName)
    .string(MODEL.producerVersion, model.producerVersion)
    .string(MODEL.docString, model.docString)
    .message(MODEL.graph, encodeGraph(model.graph))
    // The default domain ("" = ai.onnx) at the model's opset.
    .message(MODEL.opsetImport, new ProtoMessage().string(OPSET_ID.domain, '').varint(OPSET_ID.version, model.opset));
  for (const [key, value] of Object.entries(model.metadata)) {
    m.message(MODEL.metadataProps, new ProtoMessage().string(STRING_ENTRY.key, key).string(STRING_ENTRY.value, value));
  }
  return m.toBytes();
}
