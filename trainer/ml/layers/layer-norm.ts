// Layer normalization over the last axis (Ba et al. 2016), same math and
// weights (gamma, beta) as tfjs-layers' LayerNormalization. That layer tiles
// its statistics to the input's shape before calling batchNormalization, and
// tfjs-core's Tile gradient is one slice + add per repetition: 8,192 kernel
// calls per layer norm for a 32×32×64 batch, about 10 s per transformer step
// on wasm. Broadcasting ops instead have reduce-sum gradients.
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'
import { builtWeight, onlyTensor, type LayerArgs } from './masking.ts'

export interface LayerNormArgs extends NonNullable<LayerArgs> {
  epsilon?: number
}

/** [..., dim] → normalized to zero mean and unit variance over dim, then scaled by gamma and shifted by beta. */
export class LayerNorm extends tfl.layers.Layer {
  static readonly className = 'LayerNorm'
  readonly epsilon: number
  private gamma: tfl.LayerVariable | null = null
  private beta: tfl.LayerVariable | null = null

  constructor(args: LayerNormArgs = {}) {
    super(args)
    this.epsilon = args.epsilon ?? 1e-3
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = inputShape as tfl.Shape
    const dim = shape[shape.length - 1]
    if (dim == null) throw new Error('LayerNorm: the last input dimension must be known')
    this.gamma = this.addWeight('gamma', [dim], 'float32', tfl.initializers.ones())
    this.beta = this.addWeight('beta', [dim], 'float32', tfl.initializers.zeros())
    this.built = true
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = onlyTensor(inputs)
      const axis = x.rank - 1
      const centered = tf.sub(x, tf.mean(x, axis, true))
      const variance = tf.mean(tf.square(centered), axis, true)
      const normalized = tf.mul(centered, tf.rsqrt(tf.add(variance, this.epsilon)))
      return tf.add(tf.mul(normalized, builtWeight(this.gamma, 'LayerNorm').read()), builtWeight(this.beta, 'LayerNorm').read())
    })
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon }
  }
}

tf.serialization.registerClass(LayerNorm)
