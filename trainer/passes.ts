// The loop the scheduler, the tuning controller and the export runner share:
// a pass on every poll and on every wake-up, one pass at a time, and bus
// topics whose events wake it.
import { EMPTY, from, merge, timer, type Observable, type Subscription } from 'rxjs'
import { catchError, exhaustMap } from 'rxjs/operators'
import type { Logger } from 'pino'
import type { EventBus } from '../src/infra/event-bus.ts'
import type { Topic } from '../src/events/index.ts'

/** Runs `pass` now, every `pollMs`, and on `wake$`; a failed pass is logged and the next one runs as usual. */
export function runPasses(options: { pollMs: number; wake$: Observable<void>; pass: () => Promise<void>; logger: Logger; what: string }): Subscription {
  return merge(timer(0, options.pollMs), options.wake$)
    .pipe(
      // One pass at a time: wake-ups during a pass are covered by that pass or the next poll.
      exhaustMap(() =>
        from(options.pass()).pipe(
          catchError((error: unknown) => {
            options.logger.error({ err: error }, `${options.what} pass failed`)
            return EMPTY
          }),
        ),
      ),
    )
    .subscribe()
}

/** Calls `handle` with every event of `topic` until `signal` aborts. */
export async function listen<T>(bus: EventBus, topic: Topic<T>, signal: AbortSignal, logger: Logger, handle: (event: T) => void): Promise<void> {
  const events = await bus.subscribe<T>(topic, signal)
  void (async () => {
    for await (const event of events) handle(event)
  })().catch((error: unknown) => logger.warn({ err: error, topic }, 'subscription ended'))
}
