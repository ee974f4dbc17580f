// A small ONNX graph builder: named initializers, cached constants, and one method per standard op
// the encoders use (opset 17: MatMul, Add, Gather, LayerNormalization, Softmax, Erf, Tanh, ...).
// Each method returns the name of the op's output, so graph code reads like the forward pass.
// Not here: protobuf bytes (onnx-proto.ts) or any particular model (onnx-encoders.ts).

import {
  OnnxDataType,
  type OnnxAttribute,
  type OnnxDataTypeId,
  type OnnxGraph,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './onnx-proto.ts';

/** Largest-magnitude negative float32 (torch.finfo(torch.float32).min), as transformers masks with. */
export const FLOAT32_MIN = -3.4028234663852886e38;

const bytesOf = (a: Float32Array | BigInt64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Collects nodes and initializers; see the class methods for the ops. */
export class GraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly used = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  /** A fresh value name with a readable prefix. */
  private fresh(hint: string): string {
    let name = hint;
    while (this.used.has(name)) name = `${hint}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  /** Adds a float32 initializer (a weight) and returns its name. */
  weight(name: string, data: Float32Array, dims: readonly number[]): string {
    const n = this.fresh(name);
    this.initializers.push({ name: n, dataType: OnnxDataType.FLOAT, dims: [...dims], raw: bytesOf(data) });
    return n;
  }

  /** An int64 constant initializer (cached by value); `dims` [] makes a scalar. */
  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i64:${dims.join('x')}:${values.join(',')}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const n = this.fresh(`const_i64_${this.constCache.size}`);
    this.initializers.push({ name: n, dataType: OnnxDataType.INT64, dims: [...dims], raw: bytesOf(BigInt64Array.from(values, (v) => BigInt(v))) });
    this.constCache.set(key, n);
    return n;
  }

  /** A float32 scalar constant (cached by value). */
  scalar(value: number): string {
    const key = `f32:${value}`;
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const n = this.fresh(`const_f32_${this.constCache.size}`);
    this.initializers.push({ name: n, dataType: OnnxDataType.FLOAT, dims: [], raw: bytesOf(Float32Array.of(value)) });
    this.constCache.set(key, n);
    return n;
  }

  /** Adds a node; returns its output names. `out` names outputs explicitly (graph outputs). */
  node(opType: string, inputs: readonly string[], attributes: readonly OnnxAttribute[] = [], out: number | readonly string[] = 1): string[] {
    const outputs = typeof out === 'number'
      ? Array.from({ length: out }, (_, i) => this.fresh(`${opType}_${this.nodes.length}${out > 1 ? `_${i}` : ''}`))
      : out.map((o) => this.fresh(o));
    this.nodes.push({ name: `${opType}_${this.nodes.length}`, opType, inputs: [...inputs], outputs, attributes: [...attributes] });
    return outputs;
  }

  /** A single-output node. */
  op(opType: string, inputs: readonly string[], attributes: readonly OnnxAttribute[] = [], outName?: string): string {
    return this.node(opType, inputs, attributes, outName === undefined ? 1 : [outName])[0]!;
  }

  // ---- ops ---------------------------------------------------------------------------------------
  add(a: string, b: string, out?: string): string { return this.op('Add', [a, b], [], out); }
  sub(a: string, b: string): string { return this.op('Sub', [a, b]); }
  mul(a: string, b: string): string { return this.op('Mul', [a, b]); }
  div(a: string, b: string): string { return this.op('Div', [a, b]); }
  matmul(a: string, b: string): string { return this.op('MatMul', [a, b]); }
  tanh(x: string): string { return this.op('Tanh', [x]); }
  erf(x: string): string { return this.op('Erf', [x]); }
  relu(x: string): string { return this.op('Relu', [x]); }
  sigmoid(x: string): string { return this.op('Sigmoid', [x]); }
  softmax(x: string, axis = -1): string { return this.op('Softmax', [x], [{ name: 'axis', kind: 'int', value: axis }]); }
  transpose(x: string, perm: readonly number[]): string { return this.op('Transpose', [x], [{ name: 'perm', kind: 'ints', value: perm }]); }
  /** Reshape; a 0 in `shape` copies that input dim, -1 is inferred. */
  reshape(x: string, shape: readonly number[]): string { return this.op('Reshape', [x, this.int64(shape)]); }
  unsqueeze(x: string, axes: readonly number[]): string { return this.op('Unsqueeze', [x, this.int64(axes)]); }
  cast(x: string, to: OnnxDataTypeId): string { return this.op('Cast', [x], [{ name: 'to', kind: 'int', value: to }]); }
  /** Gather along `axis`; a scalar index drops that axis. */
  gather(data: string, indices: string, axis = 0, out?: string): string {
    return this.op('Gather', [data, indices], [{ name: 'axis', kind: 'int', value: axis }], out);
  }
  /** input dims [start, end) as an int64 1-D tensor (opset 15 attributes). */
  shape(x: string, start: number, end: number): string {
    return this.op('Shape', [x], [{ name: 'start', kind: 'int', value: start }, { name: 'end', kind: 'int', value: end }]);
  }
  slice(x: string, starts: string, ends: string, axes: string): string { return this.op('Slice', [x, starts, ends, axes]); }
  layerNorm(x: string, weight: string, bias: string, eps: number, out?: string): string {
    return this.op('LayerNormalization', [x, weight, bias], [
      { name: 'axis', kind: 'int', value: -1 },
      { name: 'epsilon', kind: 'float', value: eps },
    ], out);
  }

  /** x @ W + b with W already (in, out). */
  linear(x: string, wT: string, b: string | null, out?: string): string {
    const y = this.matmul(x, wT);
    return b === null ? (out === undefined ? y : this.op('Identity', [y], [], out)) : this.add(y, b, out);
  }

  /** The finished graph. */
  build(name: string, inputs: readonly OnnxValueInfo[], outputs: readonly OnnxValueInfo[]): OnnxGraph {
    return { name, nodes: this.nodes, initializers: this.initializers, inputs, outputs };
  }
}
