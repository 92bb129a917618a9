// The honest fallback for kernels the wasm backend lacks and we have not written:
// copy the inputs to the cpu backend, run its kernel, copy the outputs back.
// Slow for big tensors (two copies plus pure-JS math), but correct, and listed
// in BackendInfo.fallbackKernels so a job can log which kernels run on cpu.
import * as tf from '@tensorflow/tfjs-core'
import { wasmBackend, type KernelArgs } from './wasm-heap.ts'

/** Kernels that cannot cross to wasm at all: complex64 has no wasm storage, Draw needs a canvas. */
export const NO_WASM_FALLBACK = new Set(['Complex', 'ComplexAbs', 'FFT', 'IFFT', 'Imag', 'Real', 'Draw'])

/** Runs the cpu backend's `kernelName` on copies of a wasm kernel call's inputs; outputs land on the wasm heap. */
export function runOnCpu(kernelName: string, args: KernelArgs): tf.TensorInfo | tf.TensorInfo[] {
  const cpu = tf.findBackend('cpu')
  const kernel = tf.getKernel(kernelName, 'cpu')
  if (cpu == null || kernel == null) throw new Error(`cpu fallback for ${kernelName}: the cpu backend or its kernel is not registered`)
  const wasm = wasmBackend(args)

  const copies: tf.TensorInfo[] = []
  const toCpu = (info: tf.TensorInfo): tf.TensorInfo => {
    const copy = { dataId: cpu.write(wasm.readSync(info.dataId), info.shape, info.dtype), shape: info.shape, dtype: info.dtype }
    copies.push(copy)
    return copy
  }
  // Some kernels (Einsum, Concat, AddN) take their inputs as an array, not by name.
  const inputs = Array.isArray(args.inputs)
    ? (args.inputs as tf.TensorInfo[]).map(toCpu)
    : Object.fromEntries(Object.entries(args.inputs).flatMap(([name, info]) => (info == null ? [] : [[name, toCpu(info)]])))
  try {
    const result = kernel.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend: cpu, attrs: args.attrs })
    const outputs = Array.isArray(result) ? result : [result]
    const back = outputs.map((out) => wasm.makeOutput(out.shape, out.dtype, undefined, cpu.readSync(out.dataId)))
    for (const out of outputs) cpu.disposeData(out.dataId)
    return Array.isArray(result) ? back : back[0]
  } finally {
    for (const copy of copies) cpu.disposeData(copy.dataId)
  }
}

/** A wasm kernel config that runs `kernelName` on the cpu backend. */
export function cpuFallbackConfig(kernelName: string): tf.KernelConfig {
  return { kernelName, backendName: 'wasm', kernelFunc: (args) => runOnCpu(kernelName, args) }
}
