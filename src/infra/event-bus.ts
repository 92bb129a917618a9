// Publish/subscribe behind one interface: in-process by default, Redis
// pub/sub when REDIS_URL is set (so an API process and a separate trainer
// process see each other's events). Payloads are JSON: both implementations
// deliver JSON.parse(JSON.stringify(payload)), shared by all subscribers of
// one message (treat it as read-only).
import { EventEmitter, on, setMaxListeners } from 'node:events'
import { Redis } from 'ioredis'
import type { Topic } from '../events/index.ts'

/** Topics come from the typed map in src/events, so a payload always has its topic's type. */
export interface EventBus {
  publish<T>(topic: Topic<T>, payload: NoInfer<T>): Promise<void>
  /**
   * Events on `topic` from the moment the returned promise resolves, until the
   * iterator is returned or `signal` aborts.
   */
  subscribe<T>(topic: Topic<T>, signal?: AbortSignal): Promise<AsyncIterableIterator<T>>
  close(): Promise<void>
}

function iterate<T>(emitter: EventEmitter, topic: string, signal: AbortSignal | undefined, onEnd: () => void): AsyncIterableIterator<T> {
  const inner = on(emitter, topic, signal ? { signal } : undefined) as AsyncIterableIterator<[T]>
  let ended = false
  const end = () => {
    if (!ended) {
      ended = true
      onEnd()
    }
  }
  signal?.addEventListener('abort', end, { once: true })
  return {
    async next() {
      try {
        const result = await inner.next()
        if (result.done) end()
        return result.done ? { done: true, value: undefined } : { done: false, value: result.value[0] }
      } catch (error) {
        end()
        if ((error as Error).name === 'AbortError') return { done: true, value: undefined }
        throw error
      }
    },
    async return() {
      end()
      await inner.return?.()
      return { done: true, value: undefined }
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

/** Ends with the caller's signal or when the bus closes, whichever comes first. */
function either(closed: AbortSignal, signal: AbortSignal | undefined): AbortSignal {
  return signal ? AbortSignal.any([closed, signal]) : closed
}

export function createMemoryEventBus(): EventBus {
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  const closed = new AbortController()
  // Every subscription without a signal of its own listens on this one.
  setMaxListeners(0, closed.signal)
  return {
    async publish(topic, payload) {
      emitter.emit(topic, JSON.parse(JSON.stringify(payload)))
    },
    async subscribe<T>(topic: string, signal?: AbortSignal) {
      return iterate<T>(emitter, topic, either(closed.signal, signal), () => {})
    },
    async close() {
      // Every open subscription ends (its iterator completes), so subscribers can finish cleanly.
      closed.abort()
      emitter.removeAllListeners()
    },
  }
}

const channelPrefix = 'training-service:'

export async function createRedisEventBus(url: string): Promise<EventBus> {
  const options = { lazyConnect: true, maxRetriesPerRequest: 3 }
  const publisher = new Redis(url, options)
  const subscriber = new Redis(url, options)
  await Promise.all([publisher.connect(), subscriber.connect()])
  const emitter = new EventEmitter()
  emitter.setMaxListeners(0)
  const listeners = new Map<string, number>()
  const subscriptions = new Map<string, Promise<void>>()
  const closed = new AbortController()
  // Every subscription without a signal of its own listens on this one.
  setMaxListeners(0, closed.signal)
  subscriber.on('message', (channel: string, message: string) => {
    emitter.emit(channel.slice(channelPrefix.length), JSON.parse(message))
  })
  return {
    async publish(topic, payload) {
      await publisher.publish(channelPrefix + topic, JSON.stringify(payload))
    },
    async subscribe<T>(topic: string, signal?: AbortSignal) {
      const count = listeners.get(topic) ?? 0
      listeners.set(topic, count + 1)
      const iterator = iterate<T>(emitter, topic, either(closed.signal, signal), () => {
        const left = (listeners.get(topic) ?? 1) - 1
        if (left > 0) {
          listeners.set(topic, left)
        } else {
          listeners.delete(topic)
          subscriptions.delete(topic)
          void subscriber.unsubscribe(channelPrefix + topic).catch(() => {})
        }
      })
      // Resolve only once Redis confirms, so nothing published after this call is missed.
      const pending = subscriptions.get(topic) ?? subscriber.subscribe(channelPrefix + topic).then(() => undefined)
      subscriptions.set(topic, pending)
      try {
        await pending
      } catch (error) {
        await iterator.return?.()
        throw error
      }
      return iterator
    },
    async close() {
      closed.abort()
      emitter.removeAllListeners()
      await Promise.allSettled([publisher.quit(), subscriber.quit()])
    },
  }
}

export function createEventBus(redisUrl: string | undefined): Promise<EventBus> {
  return redisUrl ? createRedisEventBus(redisUrl) : Promise.resolve(createMemoryEventBus())
}
