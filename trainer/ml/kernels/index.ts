// Registers this project's kernels for the wasm backend, plus a cpu fallback for
// every kernel the cpu backend has and wasm lacks. Call after tf.setBackend('wasm')
// has succeeded (stock kernels are captured then, and their setup has run).
import * as tf from '@tensorflow/tfjs-core'
import { batchMatMulConfig, fusedMatMulConfig } from './batch-mat-mul.ts'
import { conv2DBackpropFilterConfig } from './conv2d-backprop-filter.ts'
import { conv2DBackpropInputConfig } from './conv2d-backprop-input.ts'
import { cpuFallbackConfig, NO_WASM_FALLBACK } from './cpu-fallback.ts'
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-backprop.ts'
import { equalConfig } from './equal.ts'
import { gatherV2Config } from './gather-v2.ts'
import { unsortedSegmentSumConfig } from './unsorted-segment-sum.ts'
import { captureStockKernel } from './wasm-heap.ts'

/** Ours, in place of (or in addition to) the stock wasm kernels of the same name. */
const WASM_KERNELS: tf.KernelConfig[] = [
  unsortedSegmentSumConfig,
  conv2DBackpropFilterConfig,
  conv2DBackpropInputConfig,
  batchMatMulConfig,
  fusedMatMulConfig,
  depthwiseBackpropFilterConfig,
  depthwiseBackpropInputConfig,
  gatherV2Config,
  equalConfig,
]

/** Stock wasm kernels ours call besides the ones they replace (which they call for the cases they leave alone). */
const STOCK_HELPERS = ['Transpose', 'BatchMatMul']

export interface WasmKernelRegistration {
  /** Kernels this project implements for wasm. */
  registered: string[]
  /** Kernels that wasm lacks and now run on the cpu backend (copied across). */
  fallback: string[]
  /** Kernels the cpu backend has that still cannot run on wasm. */
  unavailable: string[]
}

let done: WasmKernelRegistration | null = null

/** Registers the fast wasm kernels and the cpu fallbacks once; later calls return the first result. */
export function registerWasmKernels(): WasmKernelRegistration {
  if (done) return done
  const stockNames = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName))
  for (const name of [...STOCK_HELPERS, ...WASM_KERNELS.map((k) => k.kernelName)]) {
    if (stockNames.has(name)) captureStockKernel(name)
  }
  for (const config of WASM_KERNELS) {
    if (stockNames.has(config.kernelName)) tf.unregisterKernel(config.kernelName, 'wasm')
    tf.registerKernel(config)
  }
  const ours = new Set(WASM_KERNELS.map((k) => k.kernelName))
  const missing = tf
    .getKernelsForBackend('cpu')
    .map((k) => k.kernelName)
    .filter((name) => !stockNames.has(name) && !ours.has(name))
    .sort()
  const fallback = missing.filter((name) => !NO_WASM_FALLBACK.has(name))
  for (const name of fallback) tf.registerKernel(cpuFallbackConfig(name))
  done = { registered: [...ours].sort(), fallback, unavailable: missing.filter((name) => NO_WASM_FALLBACK.has(name)) }
  return done
}
