// Conv2DBackpropInput for wasm as one matrix product plus col2im: the patch
// gradients dy · Wᵀ run through wasm's fast untransposed BatchMatMul, then each
// patch value is added back onto the image position it came from. Stock wasm has
// this kernel as direct loops, which this replaces (see the report's timings).
import { backend_util, Conv2DBackpropInput, type Conv2DBackpropInputAttrs, type KernelConfig } from '@tensorflow/tfjs-core'
import { col2imAdd, convGeometry, imagesPerChunk, patchSize } from './im2col.ts'
import {
  allocate,
  attrsOf,
  copyRange,
  heapF32,
  input,
  matMul,
  offsetOf,
  release,
  reshaped,
  runStock,
  transpose2d,
  wasmBackend,
  type KernelArgs,
} from './wasm-heap.ts'

function conv2DBackpropInput(args: KernelArgs) {
  const backend = wasmBackend(args)
  const dy = input(args, 'dy')
  const filter = input(args, 'filter')
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrsOf<Conv2DBackpropInputAttrs>(args)
  // The stock kernel handles channels-first; Keras-style models here are channels-last.
  if (dataFormat === 'NCHW') return runStock(Conv2DBackpropInput, backend, args.inputs, args.attrs)
  const info = backend_util.computeConv2DInfo(
    inputShape,
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  )
  const g = convGeometry(info)
  const K = patchSize(g)
  const positions = g.outHeight * g.outWidth
  const chunk = imagesPerChunk(g)

  // Filter [fh, fw, ci, co] is the matrix [K, co]; the product wants [co, K].
  const filterT = transpose2d(backend, reshaped(filter, [K, g.outChannels]))
  const out = allocate(backend, inputShape)
  heapF32(backend).fill(0, offsetOf(backend, out), offsetOf(backend, out) + inputShape.reduce((a, b) => a * b, 1))
  for (let first = 0; first < g.batch; first += chunk) {
    const count = Math.min(chunk, g.batch - first)
    const rows = count * positions
    const dyChunk = count === g.batch ? reshaped(dy, [rows, g.outChannels]) : copyRange(backend, dy, first * positions * g.outChannels, [rows, g.outChannels])
    const patches = matMul(backend, dyChunk, filterT) // [rows, K]
    col2imAdd(heapF32(backend), offsetOf(backend, patches), offsetOf(backend, out), g, first, count)
    release(backend, patches)
    if (dyChunk.dataId !== dy.dataId) release(backend, dyChunk)
  }
  release(backend, filterT)
  return out
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput,
}
