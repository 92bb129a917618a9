// Patch extraction for NHWC 2-D convolutions, so their gradients become one big
// matrix product (the fast untransposed wasm BatchMatMul) plus cheap copies.
// A patch row holds filterHeight × filterWidth × inChannels values in filter
// order; for a fixed filter row the in-bounds part of the patch is one
// contiguous run of the image, so each is a single copy.
import type { backend_util } from '@tensorflow/tfjs-core'

export interface ConvGeometry {
  batch: number
  inHeight: number
  inWidth: number
  inChannels: number
  outHeight: number
  outWidth: number
  outChannels: number
  filterHeight: number
  filterWidth: number
  strideHeight: number
  strideWidth: number
  padTop: number
  padLeft: number
}

/** The parts of tfjs' Conv2DInfo the im2col kernels use (NHWC, no dilation). */
export function convGeometry(info: backend_util.Conv2DInfo): ConvGeometry {
  if (info.dataFormat !== 'channelsLast') throw new Error('im2col handles NHWC (channelsLast) only')
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) throw new Error('im2col handles dilation 1 only')
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  }
}

/** Length of one patch row: filterHeight × filterWidth × inChannels. */
export function patchSize(g: ConvGeometry): number {
  return g.filterHeight * g.filterWidth * g.inChannels
}

// Keeps the patch matrix near 16 MB; bigger gains nothing in matmul speed.
const MAX_PATCH_ELEMENTS = 1 << 22

/** How many images go into one patch matrix. */
export function imagesPerChunk(g: ConvGeometry): number {
  const perImage = g.outHeight * g.outWidth * patchSize(g)
  return Math.max(1, Math.min(g.batch, Math.floor(MAX_PATCH_ELEMENTS / Math.max(1, perImage))))
}

type RunVisitor = (patchAt: number, imageAt: number, length: number) => void

/**
 * Calls `visit` for every in-bounds run of images [first, first+count) that
 * belongs in the patch matrix (offsets relative to the patch matrix and the image
 * tensor, in elements), and `pad` for the out-of-bounds stretches of patch rows.
 */
function forEachRun(g: ConvGeometry, first: number, count: number, visit: RunVisitor, pad: (at: number, length: number) => void) {
  const K = patchSize(g)
  const rowLength = g.filterWidth * g.inChannels
  let row = 0
  for (let b = first; b < first + count; b++) {
    for (let oh = 0; oh < g.outHeight; oh++) {
      for (let ow = 0; ow < g.outWidth; ow++, row++) {
        const iw0 = ow * g.strideWidth - g.padLeft
        const fwStart = Math.max(0, -iw0)
        const fwEnd = Math.min(g.filterWidth, g.inWidth - iw0)
        for (let fh = 0; fh < g.filterHeight; fh++) {
          const at = row * K + fh * rowLength
          const ih = oh * g.strideHeight - g.padTop + fh
          if (ih < 0 || ih >= g.inHeight || fwEnd <= fwStart) {
            pad(at, rowLength)
            continue
          }
          if (fwStart > 0) pad(at, fwStart * g.inChannels)
          const imageAt = ((b * g.inHeight + ih) * g.inWidth + iw0 + fwStart) * g.inChannels
          visit(at + fwStart * g.inChannels, imageAt, (fwEnd - fwStart) * g.inChannels)
          if (fwEnd < g.filterWidth) pad(at + fwEnd * g.inChannels, (g.filterWidth - fwEnd) * g.inChannels)
        }
      }
    }
  }
}

/** Writes the patches of images [first, first+count) of `image` into `patches` (rows = output positions). */
export function im2col(heap: Float32Array, imageOffset: number, patchOffset: number, g: ConvGeometry, first: number, count: number): void {
  forEachRun(
    g,
    first,
    count,
    (patchAt, imageAt, length) => {
      const dst = patchOffset + patchAt
      const src = imageOffset + imageAt
      if (length >= 32) heap.copyWithin(dst, src, src + length)
      else for (let i = 0; i < length; i++) heap[dst + i] = heap[src + i]
    },
    (at, length) => {
      const dst = patchOffset + at
      for (let i = 0; i < length; i++) heap[dst + i] = 0
    },
  )
}

/** The adjoint of im2col: adds every patch value back onto the image position it came from. */
export function col2imAdd(heap: Float32Array, patchOffset: number, imageOffset: number, g: ConvGeometry, first: number, count: number): void {
  forEachRun(
    g,
    first,
    count,
    (patchAt, imageAt, length) => {
      const src = patchOffset + patchAt
      const dst = imageOffset + imageAt
      for (let i = 0; i < length; i++) heap[dst + i] += heap[src + i]
    },
    () => {},
  )
}
