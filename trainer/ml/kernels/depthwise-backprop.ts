// Gradients of depthwise 2-D convolution for wasm (the stock backend has neither).
// Direct loops: a depthwise conv does little work per output, so there is no big
// matrix product to hand to BatchMatMul, and the loops beat a cpu round trip.
import {
  backend_util,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type KernelConfig,
} from '@tensorflow/tfjs-core'
import { allocate, attrsOf, input, view, wasmBackend, type KernelArgs } from './wasm-heap.ts'

/** A flat [b, oh, ow, fh, fw] walk over the in-bounds taps; `visit(xAt, dyAt, filterAt)` gets element offsets. */
function forEachTap(info: backend_util.Conv2DInfo, visit: (xAt: number, dyAt: number, filterAt: number) => void): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info
  const { filterHeight, filterWidth, strideHeight, strideWidth, dilationHeight, dilationWidth } = info
  const { top, left } = info.padInfo
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        const dyAt = ((b * outHeight + oh) * outWidth + ow) * outChannels
        for (let fh = 0; fh < filterHeight; fh++) {
          const ih = oh * strideHeight - top + fh * dilationHeight
          if (ih < 0 || ih >= inHeight) continue
          for (let fw = 0; fw < filterWidth; fw++) {
            const iw = ow * strideWidth - left + fw * dilationWidth
            if (iw < 0 || iw >= inWidth) continue
            visit(((b * inHeight + ih) * inWidth + iw) * inChannels, dyAt, (fh * filterWidth + fw) * outChannels)
          }
        }
      }
    }
  }
}

function depthwiseBackpropFilter(args: KernelArgs) {
  const backend = wasmBackend(args)
  const x = input(args, 'x')
  const dy = input(args, 'dy')
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrsOf<DepthwiseConv2dNativeBackpropFilterAttrs>(args)
  const info = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true)
  const multiplier = info.outChannels / info.inChannels

  const out = allocate(backend, filterShape)
  const dw = view(backend, out)
  const xs = view(backend, x)
  const dys = view(backend, dy)
  dw.fill(0)
  // Output channel d reads input channel floor(d / multiplier); filter [fh, fw, ci, m] is flat in d = ci·multiplier + m.
  forEachTap(info, (xAt, dyAt, filterAt) => {
    for (let d = 0; d < info.outChannels; d++) dw[filterAt + d] += xs[xAt + Math.floor(d / multiplier)] * dys[dyAt + d]
  })
  return out
}

function depthwiseBackpropInput(args: KernelArgs) {
  const backend = wasmBackend(args)
  const dy = input(args, 'dy')
  const filter = input(args, 'filter')
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrsOf<DepthwiseConv2dNativeBackpropInputAttrs>(args)
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, true)
  const multiplier = info.outChannels / info.inChannels

  const out = allocate(backend, inputShape)
  const dx = view(backend, out)
  const dys = view(backend, dy)
  const w = view(backend, filter)
  dx.fill(0)
  forEachTap(info, (xAt, dyAt, filterAt) => {
    for (let d = 0; d < info.outChannels; d++) dx[xAt + Math.floor(d / multiplier)] += dys[dyAt + d] * w[filterAt + d]
  })
  return out
}

export const depthwiseBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilter,
}

export const depthwiseBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInput,
}
