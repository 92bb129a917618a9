// Matrix products with a transposed operand, which every backward pass makes.
// wasm's BatchMatMul runs 7-16 GFLOP/s untransposed but 0.4-1.6 with transposeA
// or transposeB (measured here), so the operand is transposed first (a cheap
// O(n²) copy) and the stock kernel runs untransposed.
import { BatchMatMul, _FusedMatMul, type KernelConfig, type TensorInfo } from '@tensorflow/tfjs-core'
import { attrsOf, input, release, runStock, wasmBackend, type KernelArgs } from './wasm-heap.ts'
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm'

interface TransposeAttrs {
  transposeA: boolean
  transposeB: boolean
}

/** Swaps the last two axes through the stock wasm Transpose. */
function transposeLastTwo(backend: BackendWasm, x: TensorInfo): TensorInfo {
  const rank = x.shape.length
  const perm = [...Array(rank).keys()]
  perm[rank - 2] = rank - 1
  perm[rank - 1] = rank - 2
  return runStock('Transpose', backend, { x }, { perm })
}

/** Runs `kernelName` with both operands untransposed; other inputs and attrs pass through. */
function untransposed(kernelName: string) {
  return (args: KernelArgs): TensorInfo => {
    const backend = wasmBackend(args)
    const { transposeA, transposeB } = attrsOf<TransposeAttrs>(args)
    if (!transposeA && !transposeB) return runStock(kernelName, backend, args.inputs, args.attrs)
    const a = transposeA ? transposeLastTwo(backend, input(args, 'a')) : input(args, 'a')
    const b = transposeB ? transposeLastTwo(backend, input(args, 'b')) : input(args, 'b')
    try {
      return runStock(kernelName, backend, { ...args.inputs, a, b }, { ...args.attrs, transposeA: false, transposeB: false })
    } finally {
      if (transposeA) release(backend, a)
      if (transposeB) release(backend, b)
    }
  }
}

export const batchMatMulConfig: KernelConfig = {
  kernelName: BatchMatMul,
  backendName: 'wasm',
  kernelFunc: untransposed(BatchMatMul),
}

/** Dense layers run the fused product forward; transposes there are rare but just as slow. */
export const fusedMatMulConfig: KernelConfig = {
  kernelName: _FusedMatMul,
  backendName: 'wasm',
  kernelFunc: untransposed(_FusedMatMul),
}
