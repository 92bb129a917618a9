// The search space of a hyperparameter tuning (spec §3.1 `parameters`):
// plain JSON shared by the API (validation, views) and the trainer's
// samplers. Parameter order is the order the user wrote them in.

export type ParameterValue = number | string | boolean

export type ParameterSpec =
  | { type: 'float'; min: number; max: number; scale: 'linear' | 'log' }
  /** Values min, min + step, ... ≤ max; `scale: 'log'` only with step 1. */
  | { type: 'int'; min: number; max: number; step: number; scale: 'linear' | 'log' }
  | { type: 'categorical'; values: ParameterValue[] }

export type SearchSpace = Record<string, ParameterSpec>

/** One point of a search space: a value for every parameter. */
export type ParameterSet = Record<string, ParameterValue>

export type Direction = 'minimize' | 'maximize'

/** The largest int value on the step grid: min + k·step ≤ max. */
export function intTop(spec: { min: number; max: number; step: number }): number {
  return spec.min + Math.floor((spec.max - spec.min) / spec.step + 1e-9) * spec.step
}

/** `count` values from `from` to `to` evenly spaced (in log space when `log`), the ends exact. */
function spaced(from: number, to: number, count: number, log: boolean): number[] {
  if (count === 1) return [from]
  const [a, b] = log ? [Math.log(from), Math.log(to)] : [from, to]
  return Array.from({ length: count }, (_, i) => {
    if (i === 0) return from
    if (i === count - 1) return to
    const x = a + ((b - a) * i) / (count - 1)
    return log ? Math.exp(x) : x
  })
}

/** The values a grid search tries for one parameter: every categorical value; `points` evenly spaced values of a range (in log space for scale log), ints on their step without repeats, all of them when there are no more than `points`. */
export function gridValues(spec: ParameterSpec, points: number): ParameterValue[] {
  if (spec.type === 'categorical') return spec.values
  const log = spec.scale === 'log'
  if (spec.type === 'float') return [...new Set(spaced(spec.min, spec.max, points, log))]
  const top = intTop(spec)
  const count = Math.round((top - spec.min) / spec.step) + 1
  if (count <= points) return Array.from({ length: count }, (_, i) => spec.min + i * spec.step)
  const snapped = spaced(spec.min, top, points, log).map((x) => spec.min + Math.round((x - spec.min) / spec.step) * spec.step)
  return [...new Set(snapped)]
}

/** Every grid point, the first parameter varying slowest. */
export function gridOf(space: SearchSpace, points: number): ParameterSet[] {
  return Object.entries(space).reduce<ParameterSet[]>(
    (sets, [name, spec]) => sets.flatMap((set) => gridValues(spec, points).map((value) => ({ ...set, [name]: value }))),
    [{}],
  )
}
