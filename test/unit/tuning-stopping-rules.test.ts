// The tuning's stopping rules, open limit and best trial as pure decisions
// over trial rows (trainer/tuning/stopping-rules.ts): no database, no trainer.
import { describe, expect, it } from 'vitest'
import type { InstanceType } from '../../src/domain/instance-types.ts'
import type { TuningObjective } from '../../src/domain/tuning-config.ts'
import { bestTrialOf, endedTuningData, hasRoom, openLimit, stoppingRule, type RuleTrial } from '../../trainer/tuning/stopping-rules.ts'

type Row = RuleTrial & { id: string }

const ended = new Date('2026-01-01T00:00:00.000Z')

/** Trial `number` in a state: open ones have a job they have not ended with; ended ones have completedAt. */
function trial(number: number, status: string, fields: Partial<Row> = {}): Row {
  const open = status === 'pending' || status === 'running'
  return {
    id: `trial-${number}`,
    number,
    status,
    objectiveValue: null,
    statusReason: null,
    jobId: status === 'failed' && !fields.jobId ? null : `job-${number}`,
    completedAt: open ? null : ended,
    ...fields,
  }
}

const completed = (number: number, objectiveValue: number) => trial(number, 'completed', { objectiveValue })
const failed = (number: number, statusReason: string) => trial(number, 'failed', { statusReason })

const maximizeAccuracy: TuningObjective = { metric: 'valAccuracy', direction: 'maximize', target: null }
const strategy = { maxTrials: 4, maxFailedTrials: null }

const cpuSmall: InstanceType = {
  name: 'cpu.small',
  description: 'test',
  vcpus: 2,
  memoryGb: 4,
  gpus: 0,
  accelerator: null,
  pricePerHour: 0.1,
  capacity: 3,
  speedFactor: 1,
}

describe('stoppingRule', () => {
  it('ends completed as soon as a completed trial reaches objective.target', () => {
    const objective = { ...maximizeAccuracy, target: 0.9 }
    const trials = [completed(1, 0.7), trial(2, 'running'), completed(3, 0.92)]
    expect(stoppingRule(trials, strategy, objective)).toEqual({
      status: 'completed',
      endReason: 'objective.target 0.9 reached by trial 3 (valAccuracy 0.92)',
    })
  })

  it('counts a value equal to the target as reached, and a minimized target from below', () => {
    expect(stoppingRule([completed(1, 0.9)], strategy, { ...maximizeAccuracy, target: 0.9 })?.status).toBe('completed')
    const loss: TuningObjective = { metric: 'valLoss', direction: 'minimize', target: 0.2 }
    expect(stoppingRule([completed(1, 0.25), trial(2, 'running')], strategy, loss)).toBeNull()
    expect(stoppingRule([completed(1, 0.25), completed(2, 0.19)], strategy, loss)?.endReason).toBe('objective.target 0.2 reached by trial 2 (valLoss 0.19)')
  })

  it('does not let a running or pruned trial reach the target', () => {
    const objective = { ...maximizeAccuracy, target: 0.9 }
    const trials = [trial(1, 'running', { objectiveValue: 0.95 }), trial(2, 'pruned', { objectiveValue: 0.99 })]
    expect(stoppingRule(trials, strategy, objective)).toBeNull()
  })

  it('fails with E1106 after maxFailedTrials failures naming the last reason', () => {
    const trials = [failed(1, 'its job failed: out of memory'), trial(2, 'running'), failed(3, 'dataset dataset-x no longer exists')]
    const outcome = stoppingRule(trials, { maxTrials: 10, maxFailedTrials: 2 }, maximizeAccuracy)
    expect(outcome).toEqual({
      status: 'failed',
      endReason: null,
      error: '2 trials failed (strategy.maxFailedTrials is 2); the last: dataset dataset-x no longer exists',
    })
    expect(endedTuningData(outcome!, ended)).toEqual({
      status: 'failed',
      completedAt: ended,
      endReason: null,
      errorCode: 'E1106',
      errorMessage: outcome?.error,
    })
  })

  it('goes on below maxFailedTrials, and a reached target wins over failures', () => {
    expect(stoppingRule([failed(1, 'x'), trial(2, 'running')], { maxTrials: 10, maxFailedTrials: 2 }, maximizeAccuracy)).toBeNull()
    const trials = [failed(1, 'x'), failed(2, 'y'), completed(3, 0.95)]
    expect(stoppingRule(trials, { maxTrials: 10, maxFailedTrials: 2 }, { ...maximizeAccuracy, target: 0.9 })?.status).toBe('completed')
  })

  it('waits while a trial is still open', () => {
    const all = [completed(1, 0.7), completed(2, 0.8), completed(3, 0.6)]
    expect(stoppingRule([...all, trial(4, 'running')], strategy, maximizeAccuracy)).toBeNull()
    expect(stoppingRule([...all, trial(4, 'pending')], strategy, maximizeAccuracy)).toBeNull()
    // Pruned or cancelled, but its job has not stopped yet.
    expect(stoppingRule([...all, trial(4, 'pruned', { completedAt: null })], strategy, maximizeAccuracy)).toBeNull()
  })

  it('waits while fewer than maxTrials trials were made', () => {
    expect(stoppingRule([completed(1, 0.7), completed(2, 0.8)], strategy, maximizeAccuracy)).toBeNull()
    expect(stoppingRule([], strategy, maximizeAccuracy)).toBeNull()
  })

  it('ends completed without a reason after the last trial when one completed', () => {
    const trials = [completed(1, 0.7), failed(2, 'x'), trial(3, 'pruned'), trial(4, 'cancelled')]
    const outcome = stoppingRule(trials, strategy, maximizeAccuracy)
    expect(outcome).toEqual({ status: 'completed', endReason: null })
    expect(endedTuningData(outcome!, ended)).toEqual({ status: 'completed', completedAt: ended, endReason: null })
  })

  it('fails when no trial completed', () => {
    const trials = [failed(1, 'its job failed: NaN loss'), trial(2, 'pruned'), failed(3, 'its job failed: out of memory'), trial(4, 'cancelled')]
    expect(stoppingRule(trials, strategy, maximizeAccuracy)).toEqual({
      status: 'failed',
      endReason: null,
      error: 'No trial completed: 2 of 4 failed, 2 were pruned or cancelled; the last failure: its job failed: out of memory',
    })
  })

  it('says so when no trial completed and none failed with a reason', () => {
    const trials = [trial(1, 'pruned'), trial(2, 'cancelled')]
    expect(stoppingRule(trials, { maxTrials: 2, maxFailedTrials: null }, maximizeAccuracy)).toMatchObject({
      status: 'failed',
      error: 'No trial completed: 0 of 2 failed, 2 were pruned or cancelled; the last failure: no reason recorded',
    })
  })
})

describe('openLimit', () => {
  it("never opens more trials than parallelTrials or the instance type's capacity", () => {
    const resources = { instanceType: 'cpu.small', instanceCount: 1 }
    expect(openLimit(resources, { parallelTrials: 2 }, [cpuSmall])).toBe(2)
    expect(openLimit(resources, { parallelTrials: 8 }, [cpuSmall])).toBe(3)
    // Two instances per trial: three fit one trial at a time.
    expect(openLimit({ instanceType: 'cpu.small', instanceCount: 2 }, { parallelTrials: 8 }, [cpuSmall])).toBe(1)
  })

  it('keeps at least one trial open, also for an instance type this deployment lacks', () => {
    expect(openLimit({ instanceType: 'gpu.huge', instanceCount: 1 }, { parallelTrials: 4 }, [cpuSmall])).toBe(1)
    expect(openLimit({ instanceType: 'cpu.small', instanceCount: 4 }, { parallelTrials: 4 }, [cpuSmall])).toBe(1)
  })

  it('makes a trial only while fewer than the limit are open and fewer than maxTrials exist', () => {
    const open = [trial(1, 'running'), trial(2, 'pending'), completed(3, 0.5)]
    expect(hasRoom(open, { maxTrials: 10 }, 3)).toBe(true)
    expect(hasRoom(open, { maxTrials: 10 }, 2)).toBe(false)
    expect(hasRoom(open, { maxTrials: 3 }, 3)).toBe(false)
    // A trial that failed before it had a job holds no room.
    expect(hasRoom([failed(1, 'x'), trial(2, 'running')], { maxTrials: 10 }, 2)).toBe(true)
  })
})

describe('bestTrialOf', () => {
  it('picks the completed trial with the best objective, the first of equals', () => {
    const trials = [completed(1, 0.8), trial(2, 'running', { objectiveValue: 0.99 }), completed(3, 0.9), completed(4, 0.9)]
    expect(bestTrialOf(trials, 'maximize')?.id).toBe('trial-3')
    expect(bestTrialOf(trials, 'minimize')?.id).toBe('trial-1')
  })

  it('has none before a trial completed with a value', () => {
    expect(bestTrialOf([trial(1, 'running'), trial(2, 'pruned', { objectiveValue: 0.5 }), trial(3, 'completed')], 'maximize')).toBeNull()
  })
})
