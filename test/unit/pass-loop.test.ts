// The pass loop the scheduler, the tuning controller and the export runner
// share (trainer/passes.ts): one pass at a time, and a stop that waits for the
// pass in flight, as BullMQ's close() waits for its worker's jobs.
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { Subject } from 'rxjs'
import { describe, expect, it } from 'vitest'
import { startPasses } from '../../trainer/passes.ts'

/** A pass that runs until `finish` is called, counting its starts. */
function gatedPass() {
  const state = { started: 0, ended: 0, finish: () => {} }
  const pass = () =>
    new Promise<void>((resolve) => {
      state.started++
      state.finish = () => {
        state.ended++
        resolve()
      }
    })
  return { state, pass }
}

/** A logger that keeps the messages it was given. */
function recordingLogger() {
  const lines: string[] = []
  const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line).msg) })
  return { lines, logger }
}

describe('startPasses', () => {
  it('runs one pass at a time: wake-ups during a pass start none', async () => {
    const wake$ = new Subject<void>()
    const { state, pass } = gatedPass()
    const loop = startPasses({ pollMs: 60_000, wake$, pass, logger: recordingLogger().logger, what: 'test' })
    wake$.next()
    wake$.next()
    expect(state.started).toBe(1)
    state.finish()
    await sleep(0)
    wake$.next()
    expect(state.started).toBe(2)
    state.finish()
    await loop.stop()
  })

  it('stop() resolves only after the pass in flight has ended, and no pass starts after it', async () => {
    const wake$ = new Subject<void>()
    const { state, pass } = gatedPass()
    const loop = startPasses({ pollMs: 5, wake$, pass, logger: recordingLogger().logger, what: 'test' })
    await sleep(2)
    expect(state.started).toBe(1)
    let stopped = false
    const stopping = loop.stop().then(() => (stopped = true))
    await sleep(20)
    expect(stopped).toBe(false)
    state.finish()
    await stopping
    expect(state.ended).toBe(1)
    wake$.next()
    await sleep(20)
    expect(state.started).toBe(1)
  })

  it('stop() is idempotent: a second call returns the same promise', async () => {
    const { state, pass } = gatedPass()
    const loop = startPasses({ pollMs: 60_000, wake$: new Subject<void>(), pass, logger: recordingLogger().logger, what: 'test' })
    await sleep(2)
    const first = loop.stop()
    expect(loop.stop()).toBe(first)
    state.finish()
    await first
  })

  it('logs a failed pass as "<what> pass failed" and runs the next one as usual', async () => {
    const { lines, logger } = recordingLogger()
    let calls = 0
    const loop = startPasses({
      pollMs: 5,
      wake$: new Subject<void>(),
      pass: async () => {
        calls++
        if (calls === 1) throw new Error('boom')
      },
      logger,
      what: 'tuning',
    })
    await sleep(30)
    await loop.stop()
    expect(lines[0]).toBe('tuning pass failed')
    expect(calls).toBeGreaterThan(1)
  })
})
