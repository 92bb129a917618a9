// Edits of a TF.js layers topology (the Keras-style JSON of model.toJSON) for
// inference: layers that only act while training are cut out and their
// consumers rewired to the layers that fed them.

/** Layer classes that pass their input through unchanged at inference. */
export const INFERENCE_NO_OPS: ReadonlySet<string> = new Set(['Dropout', 'SpatialDropout1D', 'GaussianDropout', 'GaussianNoise', 'AlphaDropout'])

/** [layer name, node index, tensor index], and for an inbound input the call's keyword arguments. */
type TensorRef = [string, number, number, ...unknown[]]

interface LayerJson {
  name?: string
  class_name: string
  config: Record<string, unknown>
  /** Functional models only: per node of the layer, the tensors it was called on. */
  inbound_nodes?: TensorRef[][]
}

export interface TopologyJson {
  class_name: string
  config: { name: string; layers: LayerJson[]; input_layers?: TensorRef[]; output_layers?: TensorRef[] }
  [key: string]: unknown
}

/** A copy of `topology` without the layers in INFERENCE_NO_OPS. */
export function withoutInferenceNoOps(topology: TopologyJson): TopologyJson {
  const copy = structuredClone(topology)
  copy.config.layers = copy.class_name === 'Sequential' ? sequentialWithout(copy.config.layers) : functionalWithout(copy)
  return copy
}

/** A Sequential model's first layer carries the input shape: a removed first layer hands it on. */
function sequentialWithout(layers: LayerJson[]): LayerJson[] {
  const kept = layers.filter((layer) => !INFERENCE_NO_OPS.has(layer.class_name))
  const [first] = layers
  if (kept.length > 0 && kept[0] !== first) {
    const { batch_input_shape, dtype } = first.config
    Object.assign(kept[0].config, batch_input_shape === undefined ? {} : { batch_input_shape, dtype })
  }
  return kept
}

/** Functional models: every reference to a removed layer's output points at that layer's own input instead. */
function functionalWithout(topology: TopologyJson): LayerJson[] {
  const removed = new Map<string, LayerJson>()
  for (const layer of topology.config.layers) {
    if (!INFERENCE_NO_OPS.has(layer.class_name)) continue
    // Functional layers are referenced by name, so each one has a name.
    if (layer.name === undefined) throw new Error(`TF.js export: a ${layer.class_name} layer of model "${topology.config.name}" has no name`)
    removed.set(layer.name, layer)
  }
  const source = (ref: TensorRef): TensorRef => {
    let [name, node, tensor, ...rest] = ref
    // A removed layer has one input and one output: its node's only input is what it passed on.
    for (let layer = removed.get(name); layer !== undefined; layer = removed.get(name)) {
      const inputs = layer.inbound_nodes?.[node]
      if (inputs === undefined) throw new Error(`TF.js export: layer "${name}" of model "${topology.config.name}" has no inbound node ${node}`)
      ;[name, node, tensor] = inputs[0]
    }
    return [name, node, tensor, ...rest]
  }
  const kept = topology.config.layers.filter((layer) => layer.name === undefined || !removed.has(layer.name))
  for (const layer of kept) layer.inbound_nodes = layer.inbound_nodes?.map((inputs) => inputs.map(source))
  topology.config.output_layers = topology.config.output_layers?.map(source)
  return kept
}
