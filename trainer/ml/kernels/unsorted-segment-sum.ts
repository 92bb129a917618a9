// UnsortedSegmentSum for wasm (the stock backend has none). It is the gradient of
// tf.gather, so every embedding layer needs it; the cpu kernel loops over all
// segments and takes minutes for a 5000-row embedding, this scatter-add one pass.
import { UnsortedSegmentSum, util, type KernelConfig, type UnsortedSegmentSumAttrs } from '@tensorflow/tfjs-core'
import { allocate, attrsOf, input, view, wasmBackend, type KernelArgs } from './wasm-heap.ts'

function unsortedSegmentSum(args: KernelArgs) {
  const backend = wasmBackend(args)
  const x = input(args, 'x')
  const segmentIds = input(args, 'segmentIds')
  const { numSegments } = attrsOf<UnsortedSegmentSumAttrs>(args)
  const idCount = util.sizeFromShape(segmentIds.shape)
  const inner = idCount === 0 ? 0 : util.sizeFromShape(x.shape) / idCount
  if (!Number.isInteger(inner)) {
    throw new Error(`UnsortedSegmentSum: x shape [${x.shape}] does not start with segmentIds shape [${segmentIds.shape}]`)
  }

  const out = allocate(backend, [numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype)
  // Views only after the allocation: it may grow (and detach) the heap.
  const result = view(backend, out)
  const values = view(backend, x)
  const ids = view(backend, segmentIds)
  result.fill(0)
  for (let i = 0; i < idCount; i++) {
    const segment = ids[i]
    // As in TensorFlow, ids outside [0, numSegments) contribute nothing.
    if (segment < 0 || segment >= numSegments) continue
    const from = i * inner
    const to = segment * inner
    for (let j = 0; j < inner; j++) result[to + j] += values[from + j]
  }
  return out
}

export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSum,
}
