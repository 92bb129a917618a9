// The event bus: the same behaviour in process and over a real Redis.
import { afterAll, describe, expect, it } from 'vitest'
import { createMemoryEventBus, createRedisEventBus, type EventBus } from '../../src/infra/event-bus.ts'
import { defineTopic } from '../../src/events/index.ts'

const buses: EventBus[] = []
afterAll(async () => {
  await Promise.all(buses.map((bus) => bus.close()))
})

describe.each([
  ['in-process', async () => createMemoryEventBus()],
  ['redis', () => createRedisEventBus('redis://127.0.0.1:6379')],
])('%s event bus', (_name, create) => {
  it('delivers JSON copies of published events, in order, to every subscriber of the topic only', async () => {
    const bus = await create()
    buses.push(bus)
    const name = `test.${Math.random()}`
    const topic = defineTopic<{ n: number; at: string | Date }>(name)
    const otherTopic = defineTopic<{ n: number }>(`${name}.other`)
    const first = await bus.subscribe(topic)
    const second = await bus.subscribe(topic)
    const other = await bus.subscribe(otherTopic)
    const at = new Date(0)
    await bus.publish(topic, { n: 1, at })
    await bus.publish(topic, { n: 2, at })
    expect((await first.next()).value).toEqual({ n: 1, at: '1970-01-01T00:00:00.000Z' })
    expect((await first.next()).value).toMatchObject({ n: 2 })
    expect((await second.next()).value).toMatchObject({ n: 1 })
    await first.return?.()
    await second.return?.()
    await bus.publish(otherTopic, { n: 3 })
    expect((await other.next()).value).toEqual({ n: 3 })
    await other.return?.()
  })

  it('ends an iterator when its signal aborts', async () => {
    const bus = await create()
    buses.push(bus)
    const controller = new AbortController()
    const events = await bus.subscribe(defineTopic(`test.${Math.random()}`), controller.signal)
    const next = events.next()
    controller.abort()
    expect(await next).toEqual({ done: true, value: undefined })
  })
})
