// A small builder for ONNX graphs (ai.onnx opset 17, IR 8, plus com.microsoft 1).
// Values are plain names; node names come from the diffusers path of the block that emits
// them, so a failing node in ORT's error message points at the model code that made it.
// Weights become external-data initializers that point into the safetensors files.
import onnxProto from 'onnx-proto';
import { basename } from 'node:path';
import type { WeightRef } from './weights.ts';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IGraphProto = onnxProto.onnx.IGraphProto;

export const OPSET = 17;
export const MS_DOMAIN = 'com.microsoft';

export type ElemType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool' | 'uint8';
const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
};
const WEIGHT_ELEM: Record<string, number> = {
  F32: onnx.TensorProto.DataType.FLOAT,
  F16: onnx.TensorProto.DataType.FLOAT16,
  BF16: onnx.TensorProto.DataType.BFLOAT16,
  I64: onnx.TensorProto.DataType.INT64,
};

/** A graph value: its name in the graph. */
export interface Value {
  readonly name: string;
}

export type Attr = number | number[] | string | { float: number } | { floats: number[] } | { graph: IGraphProto };

/** A subgraph's output: a value made inside it and its element type. */
export interface BranchOutput {
  value: Value;
  type: ElemType;
}

export interface OpOptions {
  /** Base for the node's name, usually the diffusers path of the emitting block. */
  name?: string;
  domain?: string;
  outputs?: number;
}

/** A dimension: a fixed size or a symbolic name (e.g. 'batch'). */
export type Dim = number | string;

export class Graph {
  private nodes: INodeProto[] = [];
  private readonly initializers: ITensorProto[] = [];
  private readonly inputs: IValueInfoProto[] = [];
  private readonly outputs: IValueInfoProto[] = [];
  private readonly weightValues = new Map<string, Value>();
  private readonly usedNames = new Set<string>();
  private readonly constCache = new Map<string, Value>();
  private externalFolder: string | undefined;
  private counter = 0;

  constructor(readonly name: string) {}

  input(name: string, type: ElemType, shape: Dim[]): Value {
    this.inputs.push(valueInfo(name, type, shape));
    this.usedNames.add(name);
    return { name };
  }

  /** Exposes `value` as the graph output `name` (an Identity node, which ORT removes). */
  output(value: Value, name: string, type: ElemType = 'float32', shape?: Dim[]): void {
    if (this.usedNames.has(name)) throw new Error(`${this.name}: output name "${name}" is already taken`);
    this.usedNames.add(name);
    this.nodes.push({ name: this.uniqueName(`output/${name}`), opType: 'Identity', domain: '', input: [value.name], output: [name], attribute: [] });
    this.outputs.push(valueInfo(name, type, shape));
  }

  /** Declares a weight as an external-data initializer (once per name). */
  weight(ref: WeightRef): Value {
    const known = this.weightValues.get(ref.name);
    if (known) return known;
    const folder = ref.file.slice(0, ref.file.length - basename(ref.file).length - 1);
    if (this.externalFolder === undefined) this.externalFolder = folder;
    else if (this.externalFolder !== folder) {
      throw new Error(`${this.name}: weights come from two folders (${this.externalFolder}, ${folder}); ORT accepts one`);
    }
    const dataType = WEIGHT_ELEM[ref.dtype];
    if (dataType === undefined) throw new Error(`${ref.name}: dtype ${ref.dtype} is not supported in graphs`);
    this.initializers.push({
      name: ref.name,
      dataType,
      dims: ref.shape,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: basename(ref.file) },
        { key: 'offset', value: String(ref.offset) },
        { key: 'length', value: String(ref.length) },
      ],
    });
    const v = { name: ref.name };
    this.usedNames.add(ref.name);
    this.weightValues.set(ref.name, v);
    return v;
  }

  /** Folder the external initializers live in (for ORT's `model_external_initializers_file_folder_path`). */
  get weightsFolder(): string | undefined {
    return this.externalFolder;
  }

  /** An embedded constant (small: shapes, axes, scalars). Identical constants are shared. */
  constant(values: number[] | Float32Array, type: ElemType = 'float32', dims?: number[]): Value {
    const shape = dims ?? [values.length];
    const key = `${type}:${shape.join(',')}:${Array.from(values).join(',')}`;
    const cached = this.constCache.get(key);
    if (cached) return cached;
    const name = this.uniqueName('const');
    const t: ITensorProto = { name, dataType: ELEM[type], dims: shape };
    if (type === 'float32') t.floatData = Array.from(values);
    else if (type === 'int64') t.int64Data = Array.from(values);
    else if (type === 'int32' || type === 'bool' || type === 'uint8') t.int32Data = Array.from(values);
    else throw new Error(`constant of type ${type} is not supported`);
    this.initializers.push(t);
    const v = { name };
    this.constCache.set(key, v);
    return v;
  }

  /** int64 constant, the usual form for shapes and axes. */
  ints(values: number[]): Value {
    return this.constant(values, 'int64');
  }

  scalar(value: number): Value {
    return this.constant([value], 'float32', []);
  }

  /** Emits one node and returns its outputs. `null` inputs are skipped optional inputs. */
  op(opType: string, inputs: (Value | null)[], attrs: Record<string, Attr> = {}, options: OpOptions = {}): Value[] {
    const base = options.name ? `${options.name}/${opType}` : opType;
    const nodeName = this.uniqueName(base);
    const outputs = Array.from({ length: options.outputs ?? 1 }, (_, i) => ({ name: i === 0 ? nodeName : `${nodeName}:${i}` }));
    for (const o of outputs) this.usedNames.add(o.name);
    this.nodes.push({
      name: nodeName,
      opType,
      domain: options.domain ?? '',
      input: inputs.map((v) => (v ? v.name : '')),
      output: outputs.map((o) => o.name),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** Single-output shorthand for `op`. */
  node(opType: string, inputs: (Value | null)[], attrs: Record<string, Attr> = {}, options: OpOptions = {}): Value {
    return this.op(opType, inputs, attrs, options)[0]!;
  }

  /**
   * A subgraph (an If/Loop body): the nodes `build` emits go into it instead of the main graph,
   * and it may read any value of the enclosing scope. Weights and constants stay main-graph
   * initializers (outer scope), so the subgraph adds no copy of them.
   */
  subgraph(name: string, build: () => BranchOutput[]): { graph: IGraphProto } {
    const outer = this.nodes;
    const body: INodeProto[] = [];
    this.nodes = body;
    let outputs: BranchOutput[];
    try {
      outputs = build();
    } finally {
      this.nodes = outer;
    }
    const outputInfos = outputs.map(({ value, type }, i) => {
      const outName = this.uniqueName(`${name}/out${i}`);
      body.push({ name: this.uniqueName(`${name}/Identity`), opType: 'Identity', domain: '', input: [value.name], output: [outName], attribute: [] });
      return valueInfo(outName, type);
    });
    return { graph: { name, node: body, initializer: [], input: [], output: outputInfos } };
  }

  /** Serialises to ModelProto bytes. */
  toBytes(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'tokenflow-premiere',
      opsetImport: [
        { domain: '', version: OPSET },
        { domain: MS_DOMAIN, version: 1 },
      ],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  private uniqueName(base: string): string {
    let name = base;
    while (this.usedNames.has(name)) name = `${base}_${++this.counter}`;
    this.usedNames.add(name);
    return name;
  }
}

function attribute(name: string, v: Attr): IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  }
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  if ('graph' in v) return { name, type: T.GRAPH, g: v.graph };
  return { name, type: T.FLOATS, floats: v.floats };
}

function valueInfo(name: string, type: ElemType, shape?: Dim[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: shape ? { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined,
      },
    },
  };
}
