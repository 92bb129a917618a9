// A small ONNX graph builder: nodes, constants and weights (stored as float32,
// float16 or int8 as the export asks), removal of nodes no output needs, and
// the ModelProto bytes. The layer converters (onnx-layers.ts) and the raw
// input encoders (onnx-inputs.ts) emit through it.
import pkg from 'onnx-proto'
import type { onnx } from 'onnx-proto'

const proto = pkg.onnx
const { AttributeType } = proto.AttributeProto
const { DataType } = proto.TensorProto

/** ai.onnx opset: 18 is the first with every reduction's axes as an input; LayerNormalization needs 17. */
export const OPSET = 18
/** The IR version that came with opset 18 (ONNX 1.13). */
export const IR_VERSION = 8
/** ai.onnx.ml opset paired with ai.onnx 18 (LabelEncoder for categorical columns). */
export const ML_OPSET = 3
export const ML_DOMAIN = 'ai.onnx.ml'

export type Quantization = 'int8' | 'float16' | null
export type ElementType = 'float32' | 'int64' | 'string'

export type Attribute = Omit<onnx.IAttributeProto, 'name'>

const utf8 = (text: string) => new TextEncoder().encode(text)

export const attr = {
  int: (i: number): Attribute => ({ type: AttributeType.INT, i }),
  ints: (ints: number[]): Attribute => ({ type: AttributeType.INTS, ints }),
  float: (f: number): Attribute => ({ type: AttributeType.FLOAT, f }),
  strings: (values: string[]): Attribute => ({ type: AttributeType.STRINGS, strings: values.map(utf8) }),
}

const elementTypes: Record<ElementType, number> = { float32: DataType.FLOAT, int64: DataType.INT64, string: DataType.STRING }

/** A graph input or output: its name, element type and shape (a string names a dynamic dimension). */
export interface TensorSpec {
  name: string
  dtype: ElementType
  shape: (number | string)[]
  description: string
}

export interface ModelParts {
  name: string
  inputs: TensorSpec[]
  outputs: TensorSpec[]
  description: string
  metadata: Record<string, string>
}

/** A node as the builder keeps it: its inputs and outputs always listed. */
type GraphNode = onnx.INodeProto & { input: string[]; output: string[] }
/** A stored tensor as the builder keeps it: always named. */
type Initializer = onnx.ITensorProto & { name: string }

export class GraphBuilder {
  private nodes: GraphNode[] = []
  private readonly initializers: Initializer[] = []
  private readonly names = new Set<string>()
  private readonly constants = new Map<string, string>()

  constructor(readonly quantize: Quantization) {}

  /** A name no other value has, from `hint`. */
  fresh(hint: string): string {
    const base = hint.replace(/[^\w./-]+/g, '_') || 'value'
    let name = base
    for (let n = 1; this.names.has(name); n++) name = `${base}_${n}`
    this.names.add(name)
    return name
  }

  /** Claims `name` exactly, for a graph input or output; call before other names are made. */
  reserve(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX value name ${name} is already taken`)
    this.names.add(name)
    return name
  }

  /** Adds a node with `outputs` outputs named from `hint` (the op type by default); returns their names. */
  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, Attribute> = {},
    options: { hint?: string; outputs?: number; domain?: string } = {},
  ): string[] {
    const hint = options.hint ?? opType
    const output = Array.from({ length: options.outputs ?? 1 }, () => this.fresh(hint))
    const attribute = Object.entries(attributes).map(([name, value]) => ({ name, ...value }))
    this.nodes.push({ opType, input: inputs, output, attribute, name: output[0], domain: options.domain ?? '' })
    return output
  }

  /** A single-output node. */
  op(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}, hint?: string): string {
    return this.node(opType, inputs, attributes, { hint })[0]
  }

  /** A float32 constant, never quantized (biases, normalization statistics). */
  floats(hint: string, values: ArrayLike<number>, dims: number[] = [values.length]): string {
    return this.tensor(hint, DataType.FLOAT, dims, bytesOf(Float32Array.from(values)))
  }

  /** A float32 scalar, shared by every use of the same value. */
  scalar(value: number): string {
    return this.shared(`f:${value}`, () => this.tensor('scalar', DataType.FLOAT, [], bytesOf(Float32Array.of(value))))
  }

  /** An int64 constant (shapes, axes, indices), shared by every use of the same values. */
  int64s(values: number[], dims: number[] = [values.length]): string {
    return this.shared(`i:${dims}:${values}`, () => this.tensor('ints', DataType.INT64, dims, bytesOf(BigInt64Array.from(values, BigInt))))
  }

  /**
   * A weight tensor as float32 to compute with, stored as the export asks:
   * float32; float16 cast back; or int8 with one scale per index of
   * `channelAxis` (symmetric, so no zero point) and DequantizeLinear.
   */
  weight(hint: string, values: Float32Array, dims: number[], channelAxis: number): string {
    if (this.quantize === 'float16') {
      const half = this.tensor(hint, DataType.FLOAT16, dims, bytesOf(toFloat16(values)))
      return this.op('Cast', [half], { to: attr.int(DataType.FLOAT) }, hint)
    }
    if (this.quantize === 'int8') {
      const { q, scales } = quantizeInt8(values, dims, channelAxis)
      const stored = this.tensor(hint, DataType.INT8, dims, bytesOf(q))
      const scale = this.floats(`${hint}_scale`, scales)
      return this.op('DequantizeLinear', [stored, scale], { axis: attr.int(channelAxis) }, hint)
    }
    return this.tensor(hint, DataType.FLOAT, dims, bytesOf(values))
  }

  /**
   * Rows of `table` ([rows, columns]) picked by the int64 `indices`: a Gather
   * on the stored table, so a quantized table is gathered before it is
   * dequantized (int8 with one scale per column, the output channel).
   */
  lookup(hint: string, table: Float32Array, dims: [number, number], indices: string): string {
    if (this.quantize === 'float16') {
      const half = this.tensor(hint, DataType.FLOAT16, dims, bytesOf(toFloat16(table)))
      return this.op('Cast', [this.op('Gather', [half, indices], {}, hint)], { to: attr.int(DataType.FLOAT) }, hint)
    }
    if (this.quantize === 'int8') {
      const { q, scales } = quantizeInt8(table, dims, 1)
      const stored = this.tensor(hint, DataType.INT8, dims, bytesOf(q))
      const scale = this.floats(`${hint}_scale`, scales)
      return this.op('DequantizeLinear', [this.op('Gather', [stored, indices], {}, hint), scale], { axis: attr.int(-1) }, hint)
    }
    return this.op('Gather', [this.tensor(hint, DataType.FLOAT, dims, bytesOf(table)), indices], {}, hint)
  }

  /** Makes `name` available under the reserved `graphName`: renames the node output, or copies a graph input. */
  expose(name: string, graphName: string): void {
    const producer = this.nodes.find((node) => node.output.includes(name))
    if (producer == null) {
      this.nodes.push({ opType: 'Identity', input: [name], output: [graphName], name: graphName, domain: '' })
      return
    }
    const rename = (names: string[]) => names.map((n) => (n === name ? graphName : n))
    for (const node of this.nodes) {
      node.input = rename(node.input)
      node.output = rename(node.output)
    }
  }

  /** The serialized model; nodes and initializers that no output depends on are left out. */
  encode(parts: ModelParts): Uint8Array {
    const { nodes, initializers } = this.live(parts.outputs.map((o) => o.name))
    const usesMl = nodes.some((node) => node.domain === ML_DOMAIN)
    const model: onnx.IModelProto = {
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }, ...(usesMl ? [{ domain: ML_DOMAIN, version: ML_OPSET }] : [])],
      producerName: 'training-service',
      docString: parts.description,
      graph: {
        name: parts.name,
        node: nodes,
        initializer: initializers,
        input: parts.inputs.map(valueInfo),
        output: parts.outputs.map(valueInfo),
        docString: parts.description,
      },
      metadataProps: Object.entries(parts.metadata).map(([key, value]) => ({ key, value })),
    }
    return proto.ModelProto.encode(model).finish()
  }

  private live(outputs: string[]): { nodes: GraphNode[]; initializers: Initializer[] } {
    const needed = new Set(outputs)
    const nodes: GraphNode[] = []
    // Nodes were added in topological order, so one backward sweep finds every needed one.
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i]
      if (!node.output.some((name) => needed.has(name))) continue
      nodes.push(node)
      for (const input of node.input) needed.add(input)
    }
    return { nodes: nodes.reverse(), initializers: this.initializers.filter((t) => needed.has(t.name)) }
  }

  private tensor(hint: string, dataType: number, dims: number[], rawData: Uint8Array): string {
    const name = this.fresh(hint)
    this.initializers.push({ name, dataType, dims, rawData })
    return name
  }

  private shared(key: string, make: () => string): string {
    let name = this.constants.get(key)
    if (name === undefined) {
      name = make()
      this.constants.set(key, name)
    }
    return name
  }
}

function valueInfo(value: TensorSpec): onnx.IValueInfoProto {
  const dim = value.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }))
  return { name: value.name, docString: value.description, type: { tensorType: { elemType: elementTypes[value.dtype], shape: { dim } } } }
}

/** Little-endian bytes of a typed array (the platforms Node runs on are little-endian, as ONNX raw_data is). */
function bytesOf(values: Float32Array | Int8Array | Uint16Array | BigInt64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
}

/**
 * Symmetric per-channel int8: each index of `axis` gets scale max|w|/127, so
 * the channel's largest weight is exact and rounding costs at most scale/2.
 */
export function quantizeInt8(values: Float32Array, dims: number[], axis: number): { q: Int8Array; scales: Float32Array } {
  const channels = dims[axis]
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1)
  const channelOf = (i: number) => Math.floor(i / inner) % channels
  const maxAbs = new Float32Array(channels)
  for (let i = 0; i < values.length; i++) maxAbs[channelOf(i)] = Math.max(maxAbs[channelOf(i)], Math.abs(values[i]))
  // An all-zero channel keeps scale 1: its weights quantize to 0 either way.
  const scales = maxAbs.map((m) => (m > 0 ? m / 127 : 1))
  const q = new Int8Array(values.length)
  for (let i = 0; i < values.length; i++) q[i] = Math.max(-127, Math.min(127, Math.round(values[i] / scales[channelOf(i)])))
  return { q, scales }
}

const float32 = new Float32Array(1)
const float32Bits = new Uint32Array(float32.buffer)

/** IEEE 754 half-precision bits of each value, rounded to nearest even (Node 20 has no Float16Array). */
export function toFloat16(values: Float32Array): Uint16Array {
  return Uint16Array.from(values, halfBits)
}

function halfBits(value: number): number {
  float32[0] = value
  const bits = float32Bits[0]
  const sign = (bits >>> 16) & 0x8000
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15
  const mantissa = bits & 0x7fffff
  if (exponent === 0xff - 127 + 15) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0)
  if (exponent >= 0x1f) return sign | 0x7c00
  if (exponent <= 0) {
    // Subnormal half: the implicit leading 1 joins the mantissa, shifted into place.
    if (exponent < -10) return sign
    return sign | roundShift(mantissa | 0x800000, 14 - exponent)
  }
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  return sign | ((exponent << 10) + roundShift(mantissa, 13))
}

/** value >> shift, rounded to nearest, ties to even. */
function roundShift(value: number, shift: number): number {
  const kept = value >>> shift
  const rest = value - kept * 2 ** shift
  const half = 2 ** (shift - 1)
  return rest > half || (rest === half && (kept & 1) === 1) ? kept + 1 : kept
}
