// Live views: "subscribe, send the current state, relay until final", the
// one way the API follows something as it changes (jobUpdated, myJobs,
// tuningUpdated, exportUpdated, the monitoring feed and its SSE stream).
// Every source topic is subscribed before the current state is read, so no
// change between the read and the first event is lost; events that arrive
// meanwhile wait until the current state has gone out. Returning the
// iterator (or aborting the signal) releases the bus at once, not at the
// next event.
import type { EventBus } from '../infra/event-bus.ts'
import type { Topic } from '../events/index.ts'

/** One topic of a view and what each of its events contributes (nothing, or one item). */
export interface LiveSource<E> {
  open(bus: EventBus, signal: AbortSignal, deliver: (item: E) => void): Promise<() => Promise<void>>
}

/** A topic whose events become items of the view by `relay` (undefined: skip the event). */
export function source<T, E>(topic: Topic<T>, relay: (payload: T) => E | undefined): LiveSource<E> {
  return {
    async open(bus, signal, deliver) {
      const events = await bus.subscribe(topic, signal)
      if (signal.aborted) void events.return?.()
      // Each topic's events are handed on as they arrive (nothing awaited in between), so they keep their order.
      return async () => {
        for await (const event of events) {
          const item = relay(event)
          if (item !== undefined) deliver(item)
        }
      }
    },
  }
}

export interface LiveView<E> {
  sources: LiveSource<E>[]
  /**
   * The current state, read once every source is subscribed. `always`: it
   * is the first item; `if-final`: it is sent (and the view ends) only when
   * it is already final, e.g. a job that has ended.
   */
  current?: { load: () => Promise<E>; send: 'always' | 'if-final' }
  /** The view ends after this item (and whatever other topics had already delivered). */
  isFinal: (item: E) => boolean
  signal?: AbortSignal
}

/** An async iterator over a queue that producers fill synchronously, so items keep the order they arrived in. */
function createQueue<T>(onClose: () => void) {
  const items: T[] = []
  let waiting: ((result: IteratorResult<T>) => void) | undefined
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    onClose()
    waiting?.({ done: true, value: undefined })
    waiting = undefined
  }
  const iterator: AsyncIterableIterator<T> = {
    next() {
      const item = items.shift()
      if (item !== undefined) return Promise.resolve({ done: false, value: item })
      if (closed) return Promise.resolve({ done: true, value: undefined })
      return new Promise((resolve) => {
        waiting = resolve
      })
    },
    async return() {
      items.length = 0
      close()
      return { done: true, value: undefined }
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
  const push = (item: T) => {
    if (closed) return
    if (waiting) {
      waiting({ done: false, value: item })
      waiting = undefined
    } else {
      items.push(item)
    }
  }
  /** Ends after the items already queued. */
  return { iterator, push, end: close, isClosed: () => closed }
}

export function createLiveViews(bus: EventBus) {
  let watching = 0

  /** Opens a live view; rejects (releasing the bus) when a subscription or the current state's read fails. */
  async function watch<E>(view: LiveView<E>): Promise<AsyncIterableIterator<E>> {
    const controller = new AbortController()
    const signal = view.signal ? AbortSignal.any([controller.signal, view.signal]) : controller.signal
    let counted = false
    const queue = createQueue<E>(() => {
      controller.abort()
      if (counted) watching--
    })
    signal.addEventListener('abort', () => queue.end(), { once: true })

    // Until the current state is out, items wait here: the current state comes first.
    let early: E[] | undefined = []
    let ending = false
    // Items published before the final one may still sit in other topics' buffers (their loops run in
    // microtasks interleaved with this one): ending after a turn of the event loop lets them through.
    const endSoon = () => {
      if (ending) return
      ending = true
      setImmediate(() => queue.end())
    }
    const deliver = (item: E) => {
      if (early) {
        early.push(item)
        return
      }
      queue.push(item)
      if (view.isFinal(item)) endSoon()
    }

    try {
      const loops = await Promise.all(view.sources.map((source) => source.open(bus, signal, deliver)))
      if (!queue.isClosed()) {
        watching++
        counted = true
      }
      // A loop ends when the bus closes (the server is stopping): so does the view.
      for (const loop of loops)
        void loop()
          .finally(() => queue.end())
          .catch(() => {})
      const current = view.current ? await view.current.load() : undefined
      const buffered = early
      early = undefined
      if (current !== undefined && view.isFinal(current)) {
        // Already final (a job that has ended): the last word; what arrived before the read is older than it.
        deliver(current)
      } else {
        if (current !== undefined && view.current?.send === 'always') deliver(current)
        for (const item of buffered) deliver(item)
      }
    } catch (error) {
      await queue.iterator.return?.()
      throw error
    }
    return queue.iterator
  }

  return {
    watch,
    /** Live views open right now (each holds bus subscriptions); for operations and tests. */
    watching: () => watching,
  }
}

export type LiveViews = ReturnType<typeof createLiveViews>

/** The items each item of `view` carries, one at a time, as one view: `return` releases `view` at once. */
export function flatMapView<T, U>(view: AsyncIterableIterator<T>, pick: (item: T) => readonly U[]): AsyncIterableIterator<U> {
  const pending: U[] = []
  return {
    async next() {
      while (pending.length === 0) {
        const next = await view.next()
        if (next.done) return { done: true, value: undefined }
        pending.push(...pick(next.value))
      }
      return { done: false, value: pending.shift() as U }
    },
    async return() {
      pending.length = 0
      await view.return?.()
      return { done: true, value: undefined }
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}
