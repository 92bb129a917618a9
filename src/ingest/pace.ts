// Reading a dataset runs on the API's event loop (the upload analysis): a
// long read gives the loop a turn every few milliseconds, so requests (and
// /healthz) are answered while a 200 MB file is analyzed. Awaiting a stream's
// next chunk does not do that by itself: buffered chunks resolve as
// microtasks, one after the other, without letting I/O in.
import { setImmediate as nextTurn } from 'node:timers/promises'

const sliceMs = 8

/** Hands the event loop a turn once `sliceMs` of work have passed since the last one. */
export class Pacer {
  private last = performance.now()

  /** Resolves at once inside the current slice; after it, on the next turn of the event loop. */
  async pace(): Promise<void> {
    if (performance.now() - this.last < sliceMs) return
    await nextTurn()
    this.last = performance.now()
  }
}
