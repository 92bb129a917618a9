import { describe, expect, it } from 'vitest'
import { simulateQueue, trainingWork } from '../../src/domain/queue-estimate.ts'

const minute = 60_000

describe('simulateQueue', () => {
  const capacity = (type: string) => ({ small: 2, large: 1, gpu: 0 })[type] ?? 0

  it('starts queued jobs at once while slots are free, then as earlier jobs end', () => {
    const estimates = simulateQueue(
      0,
      [],
      [
        { id: 'a', instanceType: 'small', instanceCount: 1, durationMs: 10 * minute },
        { id: 'b', instanceType: 'small', instanceCount: 1, durationMs: 5 * minute },
        { id: 'c', instanceType: 'small', instanceCount: 1, durationMs: 1 * minute },
      ],
      capacity,
      10,
    )
    expect(estimates.get('a')).toEqual({ startsAt: 0, endsAt: 10 * minute })
    expect(estimates.get('b')).toEqual({ startsAt: 0, endsAt: 5 * minute })
    expect(estimates.get('c')).toEqual({ startsAt: 5 * minute, endsAt: 6 * minute })
  })

  it('counts running jobs and the trainer-wide concurrency limit', () => {
    const estimates = simulateQueue(
      0,
      [{ instanceType: 'large', instanceCount: 1, endsAt: 3 * minute }],
      [
        { id: 'large', instanceType: 'large', instanceCount: 1, durationMs: minute },
        { id: 'small', instanceType: 'small', instanceCount: 1, durationMs: minute },
      ],
      capacity,
      1,
    )
    expect(estimates.get('large')).toEqual({ startsAt: 3 * minute, endsAt: 4 * minute })
    // One job at a time in the whole trainer: the small job waits for the large one.
    expect(estimates.get('small')).toEqual({ startsAt: 4 * minute, endsAt: 5 * minute })
  })

  it('waits for as many free slots as instances a job needs', () => {
    const estimates = simulateQueue(
      0,
      [{ instanceType: 'small', instanceCount: 1, endsAt: 2 * minute }],
      [{ id: 'pair', instanceType: 'small', instanceCount: 2, durationMs: minute }],
      capacity,
      10,
    )
    expect(estimates.get('pair')).toEqual({ startsAt: 2 * minute, endsAt: 3 * minute })
  })

  it('gives no estimate for a type without capacity', () => {
    expect(simulateQueue(0, [], [{ id: 'x', instanceType: 'gpu', instanceCount: 1, durationMs: minute }], capacity, 1).has('x')).toBe(false)
  })
})

describe('trainingWork', () => {
  it('counts training rows per epoch plus a third of the evaluation passes', () => {
    expect(trainingWork({ train: 80, validation: 10, test: 10 }, 3)).toBeCloseTo(240 + 40 / 3)
  })
})
