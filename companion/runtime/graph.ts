// A small builder for ONNX graphs (ai.onnx opset 17, IR 8, plus com.microsoft 1).
// Values are plain names; node names come from the diffusers path of the block that emits
// them, so a failing node in ORT's error message points at the model code that made it.
// Weights become external-data initializers that point into the safetensors files.
// Every value carries its element type, so a float16 graph can keep its precision-sensitive
// ops in float32 (nn.ts casts around them) and a float16/float32 mix fails at build time,
// naming the node, rather than in ORT.
import onnxProto from 'onnx-proto';
import { basename } from 'node:path';
import { toFloat16 } from './safetensors.ts';
import type { WeightRef } from './weights.ts';
import { graphVariant, type GraphVariant } from './providers.ts';

const { onnx } = onnxProto;
type INodeProto = onnxProto.onnx.INodeProto;
type ITensorProto = onnxProto.onnx.ITensorProto;
type IAttributeProto = onnxProto.onnx.IAttributeProto;
type IValueInfoProto = onnxProto.onnx.IValueInfoProto;
type IGraphProto = onnxProto.onnx.IGraphProto;

export const OPSET = 17;
export const MS_DOMAIN = 'com.microsoft';

export type ElemType = 'float32' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'bool' | 'uint8';
const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  bfloat16: onnx.TensorProto.DataType.BFLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
  uint8: onnx.TensorProto.DataType.UINT8,
};
const ELEM_OF_CODE = new Map(Object.entries(ELEM).map(([type, code]) => [code, type as ElemType]));
const WEIGHT_ELEM: Record<string, ElemType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', I64: 'int64' };

/**
 * Precision of a model graph's activations. float16 graphs keep their inputs and outputs
 * float32 (Casts at the edges) and compute normalisations, attention and the timestep
 * embedding in float32.
 */
export type GraphDType = 'float32' | 'float16';

/** A graph value: its name in the graph and its element type. */
export interface Value {
  readonly name: string;
  readonly type: ElemType;
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
  private readonly types = new Map<string, ElemType>();
  private externalFolder: string | undefined;
  private counter = 0;

  /** `variant`: the form of the provider the graph is built for (nn.ts reads it); default the CPU's. */
  constructor(readonly name: string, readonly variant: GraphVariant = graphVariant('cpu')) {}

  input(name: string, type: ElemType, shape: Dim[]): Value {
    this.inputs.push(valueInfo(name, type, shape));
    this.usedNames.add(name);
    this.types.set(name, type);
    return { name, type };
  }

  /**
   * Exposes `value` as the graph output `name`: an Identity node (which ORT removes), or a
   * Cast when a float16 value is declared a float32 output, so float16 graphs keep float32
   * outputs.
   */
  output(value: Value, name: string, type: ElemType = 'float32', shape?: Dim[]): void {
    if (this.usedNames.has(name)) throw new Error(`${this.name}: output name "${name}" is already taken`);
    const widen = value.type === 'float16' && type === 'float32';
    if (value.type !== type && !widen) throw new Error(`${this.name}: output "${name}" is declared ${type} but its value is ${value.type}`);
    this.usedNames.add(name);
    this.nodes.push(widen
      ? { name: this.uniqueName(`output/${name}`), opType: 'Cast', domain: '', input: [value.name], output: [name], attribute: [attribute('to', ELEM.float32)] }
      : { name: this.uniqueName(`output/${name}`), opType: 'Identity', domain: '', input: [value.name], output: [name], attribute: [] });
    this.outputs.push(valueInfo(name, type, shape));
    this.types.set(name, type);
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
    const type = WEIGHT_ELEM[ref.dtype];
    if (type === undefined) throw new Error(`${ref.name}: dtype ${ref.dtype} is not supported in graphs`);
    this.initializers.push({
      name: ref.name,
      dataType: ELEM[type],
      dims: ref.shape,
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: basename(ref.file) },
        { key: 'offset', value: String(ref.offset) },
        { key: 'length', value: String(ref.length) },
      ],
    });
    const v = { name: ref.name, type };
    this.types.set(ref.name, type);
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
    else if (type === 'float16') t.int32Data = Array.from(toFloat16(Float32Array.from(values))); // half bit patterns, as ONNX stores them
    else if (type === 'int64') t.int64Data = Array.from(values);
    else if (type === 'int32' || type === 'bool' || type === 'uint8') t.int32Data = Array.from(values);
    else throw new Error(`constant of type ${type} is not supported`);
    this.initializers.push(t);
    const v = { name, type };
    this.types.set(name, type);
    this.constCache.set(key, v);
    return v;
  }

  /** int64 constant, the usual form for shapes and axes. */
  ints(values: number[]): Value {
    return this.constant(values, 'int64');
  }

  /** A float scalar, of the type of the value it combines with (float32 unless given). */
  scalar(value: number, type: ElemType = 'float32'): Value {
    return this.constant([value], type, []);
  }

  /** `value` as `type`: the value itself when it already is, else a Cast node named after `name`. */
  cast(value: Value, type: ElemType, name?: string): Value {
    if (value.type === type) return value;
    return this.node('Cast', [value], { to: ELEM[type] }, { name });
  }

  /** Emits one node and returns its outputs. `null` inputs are skipped optional inputs. */
  op(opType: string, inputs: (Value | null)[], attrs: Record<string, Attr> = {}, options: OpOptions = {}): Value[] {
    const base = options.name ? `${options.name}/${opType}` : opType;
    const nodeName = this.uniqueName(base);
    const types = outputTypes(nodeName, opType, inputs, attrs, options.outputs ?? 1);
    const outputs = types.map((type, i) => ({ name: i === 0 ? nodeName : `${nodeName}:${i}`, type }));
    for (const o of outputs) {
      this.usedNames.add(o.name);
      this.types.set(o.name, o.type);
    }
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
      if (value.type !== type) throw new Error(`${name}: output ${i} is declared ${type} but its value is ${value.type}`);
      const outName = this.uniqueName(`${name}/out${i}`);
      this.types.set(outName, type);
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

  /** Element type of a value by name (inputs, weights, constants, node and subgraph outputs). */
  typeOf(name: string): ElemType | undefined {
    return this.types.get(name);
  }

  private uniqueName(base: string): string {
    let name = base;
    while (this.usedNames.has(name)) name = `${base}_${++this.counter}`;
    this.usedNames.add(name);
    return name;
  }
}

/** Ops whose float inputs may legitimately differ in type (Resize: float32 scales for any X). */
const MIXED_FLOAT_OPS = new Set(['Cast', 'Resize']);
const INDEX_OPS = new Set(['Shape', 'ArgMax', 'ArgMin', 'NonZero']);
const BOOL_OPS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor']);

/**
 * Element types of a node's outputs, from its op and inputs; fails when float16 and float32
 * values meet in an op that needs one type (ORT's own error would name no model code).
 */
function outputTypes(nodeName: string, opType: string, inputs: (Value | null)[], attrs: Record<string, Attr>, count: number): ElemType[] {
  const present = inputs.filter((v): v is Value => v !== null);
  if (!MIXED_FLOAT_OPS.has(opType)) {
    const floats = new Set(present.map((v) => v.type).filter((t) => t === 'float16' || t === 'float32'));
    if (floats.size > 1) throw new Error(`${nodeName}: mixes float16 and float32 inputs (${present.map((v) => `${v.name}: ${v.type}`).join(', ')})`);
  }
  const all = (type: ElemType) => Array.from({ length: count }, () => type);
  if (opType === 'Cast') return all(elemOfCode(attrs.to as number, nodeName));
  if (INDEX_OPS.has(opType)) return all('int64');
  if (BOOL_OPS.has(opType)) return all('bool');
  if (opType === 'Where') return all(inputs[1]!.type);
  if (opType === 'If') {
    const branch = (attrs.then_branch as { graph: IGraphProto }).graph;
    return (branch.output ?? []).map((o) => elemOfCode(o.type!.tensorType!.elemType!, nodeName));
  }
  if (!present.length) throw new Error(`${nodeName}: a node without inputs needs an explicit type`);
  return all(present[0]!.type);
}

function elemOfCode(code: number, nodeName: string): ElemType {
  const type = ELEM_OF_CODE.get(code);
  if (!type) throw new Error(`${nodeName}: element type code ${code} is not one the builder knows`);
  return type;
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
