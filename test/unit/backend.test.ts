import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import { describe, expect, it } from 'vitest'
import { selectBackend } from '../../trainer/ml/backend.ts'

// Each check computes the same thing on wasm (with this project's kernels) and on
// the cpu backend, the reference, from the same seeded inputs.

function seededValues(count: number, seed: number): Float32Array {
  let state = seed >>> 0
  const values = new Float32Array(count)
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    values[i] = state / 2 ** 32 - 0.5
  }
  return values
}

function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    seededValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  )
}

/** Runs `compute` on wasm and on cpu; returns both results as plain arrays (one per output tensor). */
async function onWasmAndCpu(compute: () => tf.Tensor[]): Promise<{ wasm: Float32Array[]; cpu: Float32Array[] }> {
  const run = () => {
    const outputs = tf.tidy(compute)
    const values = outputs.map((t) => Float32Array.from(t.dataSync()))
    tf.dispose(outputs)
    return values
  }
  await selectBackend({ prefer: 'wasm' })
  const wasm = run()
  await selectBackend({ prefer: 'cpu' })
  const cpu = run()
  await selectBackend({ prefer: 'wasm' })
  return { wasm, cpu }
}

/** Every element within 1e-5 of the reference tensor's largest magnitude. */
function expectClose({ wasm, cpu }: { wasm: Float32Array[]; cpu: Float32Array[] }) {
  expect(wasm.length).toBe(cpu.length)
  cpu.forEach((expected, t) => {
    const actual = wasm[t]
    expect(actual.length, `output ${t} length`).toBe(expected.length)
    const scale = expected.reduce((max, v) => Math.max(max, Math.abs(v)), 1e-12)
    let worst = 0
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / scale)
    expect(worst, `output ${t}: worst difference relative to max |value| ${scale}`).toBeLessThan(1e-5)
  })
}

/** Gradients of a scalar loss with respect to each tensor in `wrt`, with a non-uniform upstream gradient. */
function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, wrt: tf.Tensor[], seed = 99): tf.Tensor[] {
  return tf.grads((...xs: tf.Tensor[]) => {
    const y = f(...xs)
    return tf.sum(tf.mul(y, seeded(y.shape, seed)))
  })(wrt)
}

describe('selectBackend', () => {
  it('picks wasm here (tfjs-node absent), registers the fast kernels and lists the cpu fallbacks', async () => {
    const info = await selectBackend()
    expect(info.name).toBe('wasm')
    expect(tf.getBackend()).toBe('wasm')
    expect(info.gpu).toBe(false)
    expect(info.float16).toBe(false)
    expect(info.notes.join('\n')).toMatch(/@tensorflow\/tfjs-node-gpu is not available/)
    expect(info.notes.join('\n')).toMatch(/@tensorflow\/tfjs-node is not available/)
    expect(info.kernelsRegistered).toEqual(expect.arrayContaining(['UnsortedSegmentSum', 'Conv2DBackpropFilter', 'BatchMatMul', 'GatherV2']))
    expect(info.fallbackKernels).toContain('Einsum')
    expect(info.fallbackKernels).not.toContain('UnsortedSegmentSum')
    for (const name of info.fallbackKernels) expect(info.kernelsRegistered).not.toContain(name)
    // After registration every cpu kernel has a wasm kernel, except the complex64 ones and Draw.
    const wasm = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName))
    const missing = tf
      .getKernelsForBackend('cpu')
      .map((k) => k.kernelName)
      .filter((name) => !wasm.has(name))
    expect(missing.sort()).toEqual(['Complex', 'ComplexAbs', 'Draw', 'FFT', 'IFFT', 'Imag', 'Real'])
  })

  it('returns the same info on a second call and re-activates its backend', async () => {
    const first = await selectBackend()
    await selectBackend({ prefer: 'cpu' })
    expect(tf.getBackend()).toBe('cpu')
    expect(await selectBackend()).toBe(first)
    expect(tf.getBackend()).toBe('wasm')
  })

  it('honours prefer, and rejects unknown or absent backends with a clear message', async () => {
    expect((await selectBackend({ prefer: 'cpu' })).name).toBe('cpu')
    await expect(selectBackend({ prefer: 'webgl' })).rejects.toThrow(/Unknown TensorFlow.js backend 'webgl'.*wasm, cpu/)
    await expect(selectBackend({ prefer: 'tensorflow' })).rejects.toThrow(/'tensorflow' cannot start: @tensorflow\/tfjs-node is not available/)
    expect((await selectBackend({ prefer: 'WASM' })).name).toBe('wasm')
  })

  it('works in a child process started with node --import tsx', async () => {
    const script = [
      "import { selectBackend } from './trainer/ml/backend.ts'",
      "import * as tf from '@tensorflow/tfjs-core'",
      'const info = await selectBackend()',
      'const g = tf.grad((t) => tf.sum(tf.gather(t, tf.tensor1d([0, 2, 2], "int32"))))(tf.ones([3, 2]))',
      'console.log(JSON.stringify({ name: info.name, grad: Array.from(g.dataSync()) }))',
    ].join('\n')
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd() })
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ name: 'wasm', grad: [1, 1, 0, 0, 2, 2] })
  })
})

describe('wasm kernels match the cpu backend', () => {
  it('UnsortedSegmentSum with repeated and out-of-range ids', async () => {
    expectClose(
      await onWasmAndCpu(() => {
        const ids = tf.tensor1d([3, 0, 3, 6, -1, 2, 3], 'int32')
        return [tf.unsortedSegmentSum(seeded([7, 3, 5], 1), ids, 6)]
      }),
    )
  })

  it('embedding gradient through tf.gather (UnsortedSegmentSum)', async () => {
    expectClose(
      await onWasmAndCpu(() => {
        const table = tf.variable(seeded([37, 6], 2))
        const ids = tf.tensor2d(
          [
            [1, 5, 5, 36, 0, 9, 9, 9, 2],
            [4, 4, 1, 30, 31, 0, 0, 7, 8],
            [1, 1, 1, 1, 2, 2, 2, 3, 3],
            [36, 35, 34, 33, 32, 31, 30, 29, 28],
            [0, 0, 0, 0, 0, 0, 0, 0, 0],
          ],
          [5, 9],
          'int32',
        )
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(tf.gather(table, ids), seeded([5, 9, 6], 3))) as tf.Scalar, [table])
        return [grads[table.name]]
      }),
    )
  })

  for (const [stride, pad] of [
    [1, 'same'],
    [1, 'valid'],
    [2, 'same'],
    [3, 'valid'],
  ] as const) {
    it(`conv1d gradients, stride ${stride}, padding '${pad}'`, async () => {
      expectClose(
        await onWasmAndCpu(() => gradsOf((x, w) => tf.conv1d(x as tf.Tensor3D, w as tf.Tensor3D, stride, pad), [seeded([3, 11, 5], 4), seeded([3, 5, 7], 5)])),
      )
    })
  }

  it('tfjs-layers conv1d (conv2d underneath) gradients with respect to its weights and input', async () => {
    expectClose(
      await onWasmAndCpu(() => {
        const layer = tfl.layers.conv1d({ filters: 6, kernelSize: 4, strides: 2, padding: 'same', activation: 'relu', useBias: true })
        layer.build([null, 13, 5])
        layer.setWeights([seeded([4, 5, 6], 6), seeded([6], 7)])
        const x = seeded([2, 13, 5], 8)
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar,
          layer.trainableWeights.map((w) => w.read() as tf.Variable),
        )
        return [value, ...Object.values(grads), tf.grad((input) => tf.sum(layer.apply(input) as tf.Tensor))(x)]
      }),
    )
  })

  it('GatherV2 on axis 0 and 1, with batchDims 1, on int32 data, and its out-of-range error', async () => {
    expectClose(
      await onWasmAndCpu(() => {
        const ids = tf.tensor2d(
          [
            [4, 0, 4],
            [1, 2, 3],
          ],
          [2, 3],
          'int32',
        )
        const x = seeded([5, 4, 3], 28)
        return [
          tf.gather(x, ids),
          tf.gather(x, tf.tensor1d([3, 3, 0, 1], 'int32'), 1),
          tf.gather(seeded([2, 5, 3], 29), ids, 1, 1),
          tf.gather(
            tf.tensor2d(
              [
                [7, -8],
                [9, 2 ** 31 - 1],
                [5, 6],
              ],
              [3, 2],
              'int32',
            ),
            tf.tensor1d([2, 1, 1], 'int32'),
          ),
          tf.gather(seeded([6, 40], 30), tf.tensor1d([5, 0, 5], 'int32')),
        ]
      }),
    )
    expect(() => tf.gather(seeded([5, 2], 31), tf.tensor1d([1, 5], 'int32'))).toThrow('GatherV2: the index value 5 is not in [0, 4]')
  })

  it('Equal with broadcasting (the gradient of tf.max over an axis)', async () => {
    expectClose(
      await onWasmAndCpu(() => {
        const x = tf.round(tf.mul(seeded([4, 7, 5], 32), 6))
        return [
          tf.equal(x, tf.max(x, 1, true)),
          tf.equal(tf.max(x, 2, true), x),
          tf.equal(x, tf.scalar(1)),
          tf.equal(tf.tensor1d([1, 2, 3], 'int32'), tf.tensor2d([[1], [2]], [2, 1], 'int32')),
          ...gradsOf((t) => tf.max(t, 1), [x]),
        ]
      }),
    )
  })

  const conv2dCases: { name: string; x: number[]; w: number[]; stride: number | [number, number]; pad: 'same' | 'valid' }[] = [
    { name: '3x3 stride 1 same', x: [2, 9, 7, 3], w: [3, 3, 3, 4], stride: 1, pad: 'same' },
    { name: '3x3 stride 1 valid', x: [2, 9, 7, 3], w: [3, 3, 3, 4], stride: 1, pad: 'valid' },
    { name: '3x3 stride 2 same', x: [3, 8, 11, 2], w: [3, 3, 2, 5], stride: 2, pad: 'same' },
    { name: '2x4 stride [2,1] valid', x: [1, 10, 9, 4], w: [2, 4, 4, 3], stride: [2, 1], pad: 'valid' },
    { name: '5x5 on 4x4 same (padding wider than the image)', x: [2, 4, 4, 1], w: [5, 5, 1, 2], stride: 1, pad: 'same' },
    // Big enough that the patch matrix is built in several chunks of images.
    { name: '3x3 same, patches in several chunks', x: [40, 32, 32, 16], w: [3, 3, 16, 2], stride: 1, pad: 'same' },
  ]
  for (const c of conv2dCases) {
    it(`conv2d gradients, ${c.name}`, async () => {
      expectClose(
        await onWasmAndCpu(() => gradsOf((x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad), [seeded(c.x, 10), seeded(c.w, 11)])),
      )
    })
  }

  const depthwiseCases: { name: string; x: number[]; w: number[]; stride: number; pad: 'same' | 'valid'; dilation: number }[] = [
    { name: 'multiplier 1, stride 1 same', x: [2, 7, 9, 3], w: [3, 3, 3, 1], stride: 1, pad: 'same', dilation: 1 },
    { name: 'multiplier 2, stride 2 valid', x: [3, 9, 8, 4], w: [3, 2, 4, 2], stride: 2, pad: 'valid', dilation: 1 },
    { name: 'multiplier 3, stride 1 same', x: [1, 10, 11, 2], w: [3, 3, 2, 3], stride: 1, pad: 'same', dilation: 1 },
  ]
  for (const c of depthwiseCases) {
    it(`depthwiseConv2d gradients, ${c.name}`, async () => {
      expectClose(
        await onWasmAndCpu(() =>
          gradsOf((x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.stride, c.pad, 'NHWC', c.dilation), [seeded(c.x, 23), seeded(c.w, 24)]),
        ),
      )
    })
  }

  // tf.grad refuses dilated depthwise convs and the cpu kernels ignore dilation, so the
  // reference here is the adjoint identity with wasm's own forward depthwise conv:
  // <dy, conv(x, w)> = <x, backpropInput(dy, w)> = <w, backpropFilter(x, dy)>.
  it('depthwise backprop kernels with dilation 2 are the adjoints of the forward conv', async () => {
    await selectBackend({ prefer: 'wasm' })
    const dot = (a: tf.Tensor, b: tf.Tensor) => {
      const [u, v] = [a.dataSync(), b.dataSync()]
      let sum = 0
      for (let i = 0; i < u.length; i++) sum += u[i] * v[i]
      return sum
    }
    tf.tidy(() => {
      const attrs = { strides: 1, dilations: 2, pad: 'same' }
      const [x, w, dy] = [seeded([2, 10, 11, 2], 25), seeded([3, 3, 2, 3], 26), seeded([2, 10, 11, 6], 27)]
      const forward = tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NHWC', 2)
      const dx = tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { ...attrs, inputShape: [...x.shape] }) as tf.Tensor
      const dw = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: [...w.shape] }) as tf.Tensor
      const reference = dot(dy, forward)
      expect(Math.abs(dot(x, dx) - reference)).toBeLessThan(1e-5 * Math.abs(reference))
      expect(Math.abs(dot(w, dw) - reference)).toBeLessThan(1e-5 * Math.abs(reference))
    })
  })

  for (const [transposeA, transposeB] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    it(`matMul transposeA=${transposeA} transposeB=${transposeB}, batched and broadcast, with gradients`, async () => {
      const shape = (batch: number[], rows: number, cols: number, t: boolean) => [...batch, t ? cols : rows, t ? rows : cols]
      expectClose(
        await onWasmAndCpu(() => {
          const a = seeded(shape([], 7, 13, transposeA), 12)
          const b = seeded(shape([], 13, 5, transposeB), 13)
          const a3 = seeded(shape([2, 3], 7, 13, transposeA), 14)
          const b3 = seeded(shape([2, 3], 13, 5, transposeB), 15)
          const b1 = seeded(shape([1], 13, 5, transposeB), 16)
          const product = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y, transposeA, transposeB)
          return [
            product(a, b),
            product(a3, b3),
            tf.matMul(seeded(shape([4], 7, 13, transposeA), 17), b1, transposeA, transposeB),
            ...gradsOf(product, [a3, b3]),
            tf.fused.matMul({ a, b, transposeA, transposeB, bias: seeded([5], 18), activation: 'relu' }),
          ]
        }),
      )
    })
  }

  it('leaves no tensor data behind on the wasm or cpu backend', async () => {
    await selectBackend({ prefer: 'wasm' })
    const cpu = tf.findBackend('cpu')
    const counts = () => [tf.memory().numTensors, tf.backend().numDataIds(), cpu.numDataIds()]
    const before = counts()
    tf.tidy(() => {
      const table = seeded([50, 8], 33)
      const w = seeded([3, 8, 6], 34)
      const ids = tf.tensor2d(
        [
          [1, 2, 49],
          [0, 0, 7],
        ],
        [2, 3],
        'int32',
      )
      gradsOf((t, f) => tf.max(tf.conv1d(tf.gather(t, ids) as tf.Tensor3D, f as tf.Tensor3D, 1, 'same'), 1), [table, w])
      gradsOf((x, f) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'), [seeded([2, 6, 5, 3], 35), seeded([3, 3, 3, 4], 36)])
      gradsOf((x, f) => tf.depthwiseConv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'valid'), [seeded([1, 5, 5, 2], 37), seeded([2, 2, 2, 2], 38)])
      gradsOf((a, b) => tf.matMul(a, b, true, true), [seeded([4, 3], 39), seeded([5, 4], 40)])
      tf.einsum('ij,jk->ik', seeded([2, 3], 41), seeded([3, 2], 42))
    })
    expect(counts()).toEqual(before)
  })

  it('a kernel wasm lacks (Einsum) runs through the cpu fallback with the same result', async () => {
    await selectBackend({ prefer: 'wasm' })
    expect(tf.getKernel('Einsum', 'wasm')).toBeDefined()
    expectClose(
      await onWasmAndCpu(() => [
        tf.einsum('ij,jk->ik', seeded([4, 6], 19), seeded([6, 3], 20)),
        tf.einsum('bij,bjk->bik', seeded([2, 3, 5], 21), seeded([2, 5, 4], 22)),
      ]),
    )
  })
})
