// The loop the scheduler, the tuning controller and the export runner share:
// a pass on every poll and on every wake-up, one pass at a time, and bus
// topics whose events wake it. Stopping the loop can wait for the pass in
// flight, as BullMQ's `close()` waits for the jobs its worker is running.
import { from, merge, timer, type Observable } from 'rxjs'
import { exhaustMap } from 'rxjs/operators'
import type { Logger } from 'pino'
import type { EventBus } from '../src/infra/event-bus.ts'
import type { Topic } from '../src/events/index.ts'

export interface PassOptions {
  pollMs: number
  wake$: Observable<void>
  pass: () => Promise<void>
  logger: Logger
  /** Names the loop in the log line of a failed pass. */
  what: string
}

export interface PassLoop {
  /** No more passes; resolves when the pass in flight, if any, has ended. Idempotent: every call returns the same promise. */
  stop(): Promise<void>
}

/** Runs `pass` now, every `pollMs`, and on `wake$`; a failed pass is logged and the next one runs as usual. */
export function startPasses(options: PassOptions): PassLoop {
  let inFlight: Promise<void> = Promise.resolve()
  const runPass = async () => {
    try {
      await options.pass()
    } catch (error) {
      options.logger.error({ err: error }, `${options.what} pass failed`)
    }
  }
  const subscription = merge(timer(0, options.pollMs), options.wake$)
    .pipe(
      // One pass at a time: wake-ups during a pass are covered by that pass or the next poll.
      exhaustMap(() => {
        inFlight = runPass()
        return from(inFlight)
      }),
    )
    .subscribe()
  let stopped: Promise<void> | undefined
  return {
    stop() {
      subscription.unsubscribe()
      stopped ??= inFlight
      return stopped
    },
  }
}

/** Calls `handle` with every event of `topic` until `signal` aborts. */
export async function listen<T>(bus: EventBus, topic: Topic<T>, signal: AbortSignal, logger: Logger, handle: (event: T) => void): Promise<void> {
  const events = await bus.subscribe<T>(topic, signal)
  void (async () => {
    for await (const event of events) handle(event)
  })().catch((error: unknown) => logger.warn({ err: error, topic }, 'subscription ended'))
}
