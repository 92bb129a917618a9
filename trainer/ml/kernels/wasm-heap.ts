// Helpers shared by the kernels this project registers for the wasm backend:
// typed views on the wasm heap, temporary tensors, and calls into the stock
// wasm kernels (captured before ours replace them).
import * as tf from '@tensorflow/tfjs-core'
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm'

/** What tfjs hands a kernelFunc; `backend` is the wasm backend for every kernel registered here (see wasmBackend). */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap
  backend: unknown
  attrs?: tf.NamedAttrMap
}

/** The backend behind a wasm kernel call (tfjs types it as `{}`). */
export function wasmBackend(args: KernelArgs): BackendWasm {
  return args.backend as BackendWasm
}

/** Attributes as the kernel's own attrs interface (tfjs types them as a loose map). */
export function attrsOf<T>(args: KernelArgs): T {
  return (args.attrs ?? {}) as unknown as T
}

/** Named input, with a clear error when a caller passes the wrong inputs. */
export function input(args: KernelArgs, name: string): tf.TensorInfo {
  const info = args.inputs[name]
  if (info == null) throw new Error(`wasm kernel: missing input '${name}'`)
  return info
}

/**
 * The whole wasm heap as float32 / int32. Take a fresh one after anything that may
 * allocate (makeOutput, a stock kernel): a growing heap detaches older views.
 */
export function heapF32(backend: BackendWasm): Float32Array {
  // The Emscripten module has HEAPU8 at run time; tfjs' module typings omit it.
  const heap = (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8
  return new Float32Array(heap.buffer)
}

/** Element offset of a 4-byte tensor in the heap views returned by heapF32. */
export function offsetOf(backend: BackendWasm, info: tf.TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId)
  if (data === undefined) throw new Error('wasm kernel: the tensor has no data on the wasm backend (disposed, or made by another backend)')
  return data.memoryOffset >>> 2
}

/** Float32 or int32 data of a tensor, read in place from the heap. */
export function view(backend: BackendWasm, info: tf.TensorInfo): Float32Array | Int32Array {
  const arr = backend.typedArrayFromHeap(info)
  if (!(arr instanceof Float32Array || arr instanceof Int32Array)) {
    throw new Error(`wasm kernel: dtype ${info.dtype} is not supported here`)
  }
  return arr
}

/** A new uninitialized heap tensor (malloc does not zero). */
export function allocate(backend: BackendWasm, shape: number[], dtype: tf.DataType = 'float32'): tf.TensorInfo {
  return backend.makeOutput(shape, dtype)
}

/** Frees an intermediate tensor made inside a kernel. */
export function release(backend: BackendWasm, info: tf.TensorInfo): void {
  backend.disposeData(info.dataId)
}

/** The same data seen with another shape (no copy; do not release it separately). */
export function reshaped(info: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype }
}

const stock = new Map<string, tf.KernelFunc>()

/** Remembers the stock wasm kernel before ours replaces it (call once per name, before registering). */
export function captureStockKernel(kernelName: string): void {
  if (stock.has(kernelName)) return
  const config = tf.getKernel(kernelName, 'wasm')
  if (config == null) throw new Error(`wasm backend has no stock ${kernelName} kernel`)
  stock.set(kernelName, config.kernelFunc)
}

/** Runs a stock wasm kernel (as shipped by tfjs-backend-wasm, even when ours is registered under its name). */
export function runStock(kernelName: string, backend: BackendWasm, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
  const kernel = stock.get(kernelName)
  // Capturing now could pick up our own replacement and recurse forever.
  if (kernel == null) throw new Error(`stock wasm ${kernelName} was not captured before the project's kernels were registered`)
  const out = kernel({ inputs, backend, attrs })
  if (Array.isArray(out)) throw new Error(`stock ${kernelName} returned several outputs`)
  return out
}

/** a·b through the stock wasm BatchMatMul without transposes (its fast path): a [..., m, k], b [..., k, n]. */
export function matMul(backend: BackendWasm, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  return runStock('BatchMatMul', backend, { a, b }, { transposeA: false, transposeB: false })
}

/** A new float32 tensor of `shape` holding `source`'s elements from element `start` on (a chunk of a batch). */
export function copyRange(backend: BackendWasm, source: tf.TensorInfo, start: number, shape: number[]): tf.TensorInfo {
  const copy = allocate(backend, shape)
  const from = offsetOf(backend, source) + start
  heapF32(backend).copyWithin(offsetOf(backend, copy), from, from + shape.reduce((a, b) => a * b, 1))
  return copy
}

/** The [rows, cols] matrix `x` as [cols, rows], through the stock wasm Transpose. */
export function transpose2d(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  return runStock('Transpose', backend, { x }, { perm: [1, 0] })
}
