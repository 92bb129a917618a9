// Multi-head scaled dot-product self-attention (Vaswani et al. 2017) that
// ignores padding keys. One fused [dim, 3·dim] projection makes Q, K and V in
// a single matmul; an output projection mixes the heads.
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import { builtWeight, valuesAndMask, type LayerArgs } from './masking.ts'

export interface MultiHeadSelfAttentionArgs extends NonNullable<LayerArgs> {
  numHeads: number
}

/** [values [batch, length, dim], mask [batch, length]] → [batch, length, dim]. */
export class MultiHeadSelfAttention extends tfl.layers.Layer {
  static readonly className = 'MultiHeadSelfAttention'
  readonly numHeads: number
  private qkvKernel: tfl.LayerVariable | null = null
  private qkvBias: tfl.LayerVariable | null = null
  private outputKernel: tfl.LayerVariable | null = null
  private outputBias: tfl.LayerVariable | null = null

  constructor(args: MultiHeadSelfAttentionArgs) {
    super(args)
    if (!Number.isInteger(args.numHeads) || args.numHeads < 1) {
      throw new Error(`MultiHeadSelfAttention: numHeads must be a positive integer, got ${args.numHeads}`)
    }
    this.numHeads = args.numHeads
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const values = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape
    const dim = values[values.length - 1]
    if (dim == null) throw new Error('MultiHeadSelfAttention: the last input dimension must be known')
    if (dim % this.numHeads !== 0) {
      throw new Error(`MultiHeadSelfAttention: numHeads (${this.numHeads}) must divide the model dimension (${dim})`)
    }
    const glorot = () => tfl.initializers.glorotUniform({})
    const zeros = () => tfl.initializers.zeros()
    this.qkvKernel = this.addWeight('qkv_kernel', [dim, 3 * dim], 'float32', glorot())
    this.qkvBias = this.addWeight('qkv_bias', [3 * dim], 'float32', zeros())
    this.outputKernel = this.addWeight('output_kernel', [dim, dim], 'float32', glorot())
    this.outputBias = this.addWeight('output_bias', [dim], 'float32', zeros())
    this.built = true
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [x, mask] = valuesAndMask(inputs, 'MultiHeadSelfAttention')
      const [batch, length, dim] = x.shape
      const heads = this.numHeads
      const headDim = dim / heads
      const flat = tf.reshape(x, [batch * length, dim])
      const layer = 'MultiHeadSelfAttention'
      const qkv = tf.add(tf.matMul(flat, builtWeight(this.qkvKernel, layer).read()), builtWeight(this.qkvBias, layer).read())
      // [batch·length, dim] → [batch·heads, length, headDim]
      const split = (t: tf.Tensor) => tf.reshape(tf.transpose(tf.reshape(t, [batch, length, heads, headDim]), [0, 2, 1, 3]), [batch * heads, length, headDim])
      const [q, k, v] = tf.split(qkv, 3, 1).map(split)
      const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(headDim))
      // Padding keys get a large negative score so softmax gives them ~0 weight.
      const keyBias = tf.reshape(tf.mul(tf.sub(1, mask), -1e9), [batch, 1, 1, length])
      const masked = tf.add(tf.reshape(scores, [batch, heads, length, length]), keyBias)
      const weights = tf.reshape(tf.softmax(masked), [batch * heads, length, length])
      const context = tf.matMul(weights, v)
      const merged = tf.reshape(tf.transpose(tf.reshape(context, [batch, heads, length, headDim]), [0, 2, 1, 3]), [batch * length, dim])
      const out = tf.add(tf.matMul(merged, builtWeight(this.outputKernel, layer).read()), builtWeight(this.outputBias, layer).read())
      return tf.reshape(out, [batch, length, dim])
    })
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numHeads: this.numHeads }
  }
}

tf.serialization.registerClass(MultiHeadSelfAttention)
