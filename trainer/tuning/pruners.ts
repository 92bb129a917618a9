// Early stopping of tuning trials (issue 4): Optuna's MedianPruner and
// SuccessiveHalvingPruner (ASHA) as pure decisions over the intermediate
// values every trial has reported. The step is the epoch (1 = the first
// finished epoch): trials with different batch sizes take different numbers of
// optimizer steps per epoch, so only epochs compare.
import type { Direction } from '../../src/domain/search-space.ts'

export interface IntermediatePoint {
  epoch: number
  value: number
}

export interface TrialProgress {
  trialNumber: number
  state: 'completed' | 'pruned' | 'running' | 'failed'
  intermediate: readonly IntermediatePoint[]
}

export interface PruneDecision {
  prune: boolean
  /** one human sentence saying why (numbers included), also when not pruning */
  reason: string
}

export interface MedianOptions {
  /** completed trials with a value at the epoch before the median is trusted (default 5, Optuna's n_startup_trials) */
  startupTrials?: number
  /** epochs 1..warmupEpochs are never pruned (default 0) */
  warmupEpochs?: number
}

export interface AshaOptions {
  /** epochs before the first rung (default 1) */
  minResource?: number
  /** η: rungs at minResource·η^k, the top 1/η of a rung continue (default 3) */
  reductionFactor?: number
}

const format = (x: number) => String(Number(x.toPrecision(4)))

const keep = (reason: string): PruneDecision => ({ prune: false, reason })

/** The trial's value at `epoch`, if it reported a number there. */
function valueAtEpoch(trial: TrialProgress, epoch: number): number | undefined {
  const point = trial.intermediate.findLast((p) => p.epoch === epoch)
  return point && !Number.isNaN(point.value) ? point.value : undefined
}

function reportedAt(others: readonly TrialProgress[], current: TrialProgress, epoch: number, states: readonly TrialProgress['state'][]): number[] {
  return others
    .filter((trial) => trial.trialNumber !== current.trialNumber && states.includes(trial.state))
    .map((trial) => valueAtEpoch(trial, epoch))
    .filter((value) => value !== undefined)
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/**
 * Optuna's MedianPruner: prune when the trial's best value so far is worse
 * than the median of completed trials' values at the same epoch. Unlike
 * Optuna, startupTrials counts completed trials that reached this epoch, not
 * all completed trials: a median of one or two early finishers is noise.
 */
export function medianDecision(direction: Direction, current: TrialProgress, others: readonly TrialProgress[], options: MedianOptions = {}): PruneDecision {
  const startupTrials = Math.max(options.startupTrials ?? 5, 1)
  const warmupEpochs = options.warmupEpochs ?? 0
  const last = current.intermediate.at(-1)
  if (!last) return keep(`Trial ${current.trialNumber} has not reported an intermediate value yet.`)
  const { epoch } = last
  if (epoch <= warmupEpochs) return keep(`Epoch ${epoch} is within the ${warmupEpochs} warm-up epochs, when no trial is pruned.`)
  const completed = reportedAt(others, current, epoch, ['completed'])
  if (completed.length < startupTrials) {
    return keep(`Only ${completed.length} completed trials reported epoch ${epoch}; the median rule waits for ${startupTrials}.`)
  }
  const reported = current.intermediate.map((point) => point.value).filter((value) => !Number.isNaN(value))
  if (reported.length === 0) return { prune: true, reason: `Trial ${current.trialNumber} reported only NaN up to epoch ${epoch}.` }
  const best = direction === 'minimize' ? Math.min(...reported) : Math.max(...reported)
  const threshold = median(completed)
  const worse = direction === 'minimize' ? best > threshold : best < threshold
  const comparison = worse ? 'is worse than' : 'is no worse than'
  return {
    prune: worse,
    reason: `Best value so far ${format(best)} ${comparison} the median ${format(threshold)} of ${completed.length} completed trials at epoch ${epoch} (${direction}).`,
  }
}

/** k when epoch = minResource·η^k, else null. */
function rungOf(epoch: number, minResource: number, reductionFactor: number): number | null {
  for (let resource = minResource, rung = 0; resource <= epoch; resource *= reductionFactor, rung++) {
    if (resource === epoch) return rung
  }
  return null
}

/**
 * Optuna's SuccessiveHalvingPruner (min_early_stopping_rate 0): at a rung
 * epoch the trial competes with every trial, in any state, that reached that
 * epoch, and continues when it is within the top ⌊n/η⌋; while fewer than η
 * trials reached the rung, only the best one continues
 * (`_is_trial_promotable_to_next_rung`).
 */
export function ashaDecision(direction: Direction, current: TrialProgress, others: readonly TrialProgress[], options: AshaOptions = {}): PruneDecision {
  const minResource = options.minResource ?? 1
  const reductionFactor = options.reductionFactor ?? 3
  const last = current.intermediate.at(-1)
  if (!last) return keep(`Trial ${current.trialNumber} has not reported an intermediate value yet.`)
  const { epoch, value } = last
  const rung = rungOf(epoch, minResource, reductionFactor)
  if (rung === null) {
    const rungs = [0, 1, 2].map((k) => minResource * reductionFactor ** k).join(', ')
    return keep(`Epoch ${epoch} is not a rung epoch (rungs at epochs ${rungs}, …), so successive halving does not decide here.`)
  }
  if (Number.isNaN(value)) return { prune: true, reason: `Trial ${current.trialNumber} reported NaN at rung ${rung} (epoch ${epoch}).` }
  const competing = [...reportedAt(others, current, epoch, ['completed', 'pruned', 'running', 'failed']), value]
  const promoted = Math.max(Math.floor(competing.length / reductionFactor), 1)
  // Best first; `value` ties count in its favour, as Optuna's ≤ / ≥.
  const rank = 1 + competing.filter((other) => (direction === 'minimize' ? other < value : other > value)).length
  const continues = rank <= promoted
  return {
    prune: !continues,
    reason:
      `At rung ${rung} (epoch ${epoch}) value ${format(value)} ranks ${rank} of ${competing.length} trials (${direction}); ` +
      `the top ${promoted} continue (1/${reductionFactor}, at least one), so it ${continues ? 'continues' : 'is pruned'}.`,
  }
}
