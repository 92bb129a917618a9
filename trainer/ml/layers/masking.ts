// Padding-aware layers for token sequences. Token id 0 is padding (see
// TextPreprocessing.vocabulary). tfjs-layers' own mask propagation (maskZero)
// is not used: its executor carries one mask through every later layer and
// GlobalAveragePooling1D ignores masks, so the mask travels as an explicit input.
import * as tf from '@tensorflow/tfjs-core'
import * as tfl from '@tensorflow/tfjs-layers'

export type LayerArgs = ConstructorParameters<typeof tfl.layers.Layer>[0]

/** The one tensor of a single-input layer call. */
export function onlyTensor(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  if (!Array.isArray(inputs)) return inputs
  if (inputs.length !== 1) throw new Error(`Expected one input tensor, got ${inputs.length}`)
  return inputs[0]
}

/** A weight that `build` adds: throws, naming the layer, when the layer is called before it was built. */
export function builtWeight(weight: tfl.LayerVariable | null, layer: string): tfl.LayerVariable {
  if (weight === null) throw new Error(`${layer}: the layer has not been built`)
  return weight
}

/** The two tensors of a [values, mask] layer call. */
export function valuesAndMask(inputs: tf.Tensor | tf.Tensor[], layer: string): [tf.Tensor, tf.Tensor] {
  if (!Array.isArray(inputs) || inputs.length !== 2) throw new Error(`${layer} expects [values, mask] as inputs`)
  return [inputs[0], inputs[1]]
}

/** Token ids [batch, length] → float32 [batch, length]: 1 for tokens, 0 for padding. */
export class PaddingMask extends tfl.layers.Layer {
  static readonly className = 'PaddingMask'

  constructor(args?: LayerArgs) {
    super({ ...args, trainable: false })
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.cast(tf.notEqual(onlyTensor(inputs), 0), 'float32'))
  }
}

/** [values [batch, length, dim], mask [batch, length]] → the mean of the unmasked positions, [batch, dim]. */
export class MaskedAveragePooling1D extends tfl.layers.Layer {
  static readonly className = 'MaskedAveragePooling1D'

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const values = inputShape[0] as tfl.Shape
    return [values[0], values[2]]
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [values, mask] = valuesAndMask(inputs, 'MaskedAveragePooling1D')
      const summed = tf.sum(tf.mul(values, tf.expandDims(mask, 2)), 1)
      // An all-padding row (an empty text) averages to zeros instead of 0/0.
      const counts = tf.maximum(tf.sum(mask, 1, true), 1)
      return tf.div(summed, counts)
    })
  }
}

tf.serialization.registerClass(PaddingMask)
tf.serialization.registerClass(MaskedAveragePooling1D)
