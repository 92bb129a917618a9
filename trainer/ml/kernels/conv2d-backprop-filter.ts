// Conv2DBackpropFilter for wasm (the stock backend has none; every conv1d/conv2d
// layer needs it to train). dW = patchesᵀ · dy, computed as (dyᵀ · patches)ᵀ so
// that the big product runs through wasm's fast untransposed BatchMatMul; dy is
// transposed by the stock wasm Transpose and the small result in JS.
import { backend_util, Conv2DBackpropFilter, type Conv2DBackpropFilterAttrs, type KernelConfig } from '@tensorflow/tfjs-core'
import { runOnCpu } from './cpu-fallback.ts'
import { convGeometry, im2col, imagesPerChunk, patchSize } from './im2col.ts'
import { allocate, attrsOf, copyRange, heapF32, input, matMul, offsetOf, release, reshaped, transpose2d, wasmBackend, type KernelArgs } from './wasm-heap.ts'

function conv2DBackpropFilter(args: KernelArgs) {
  const backend = wasmBackend(args)
  const x = input(args, 'x')
  const dy = input(args, 'dy')
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrsOf<Conv2DBackpropFilterAttrs>(args)
  // Keras-style models here are channels-last; the rare NCHW call stays correct on cpu.
  if (dataFormat === 'NCHW') return runOnCpu(Conv2DBackpropFilter, args)
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast')
  const g = convGeometry(info)
  const K = patchSize(g)
  const positions = g.outHeight * g.outWidth
  const chunk = imagesPerChunk(g)

  const out = allocate(backend, filterShape)
  heapF32(backend).fill(0, offsetOf(backend, out), offsetOf(backend, out) + K * g.outChannels)
  for (let first = 0; first < g.batch; first += chunk) {
    const count = Math.min(chunk, g.batch - first)
    const rows = count * positions
    const patches = allocate(backend, [rows, K])
    im2col(heapF32(backend), offsetOf(backend, x), offsetOf(backend, patches), g, first, count)
    const dyChunk = count === g.batch ? reshaped(dy, [rows, g.outChannels]) : copyRange(backend, dy, first * positions * g.outChannels, [rows, g.outChannels])
    const dyT = transpose2d(backend, dyChunk)
    if (dyChunk.dataId !== dy.dataId) release(backend, dyChunk)

    const product = matMul(backend, dyT, patches) // [outChannels, K]
    const heap = heapF32(backend)
    const src = offsetOf(backend, product)
    const dst = offsetOf(backend, out)
    for (let co = 0; co < g.outChannels; co++) {
      for (let k = 0; k < K; k++) heap[dst + k * g.outChannels + co] += heap[src + co * K + k]
    }
    release(backend, product)
    release(backend, dyT)
    release(backend, patches)
  }
  return out
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter,
}
