// The tuning controller: drives every active tuning this trainer holds. Each
// pass claims the tunings nobody drives, then advances each one: its trials
// brought up to date with their jobs and judged by the pruner
// (trial-sync.ts), the stopping rules (stopping-rules.ts), new trials up to
// the open limit (suggestion.ts), and the end of the tuning once its last
// trial has ended. All state lives in the database (trials, their
// intermediate values), so another trainer takes a tuning over after a crash
// and goes on where it stopped; the samplers are deterministic given the trials.
import { Subject } from 'rxjs'
import type { Logger } from 'pino'
import type { Db } from '../../src/infra/db.ts'
import type { EventBus } from '../../src/infra/event-bus.ts'
import type { InstanceType } from '../../src/domain/instance-types.ts'
import type { Direction } from '../../src/domain/search-space.ts'
import { activeTuningStatuses, tuningView } from '../../src/domain/tuning-view.ts'
import { publishTuningUpdated, topics } from '../../src/events/index.ts'
import { processGone } from '../liveness.ts'
import { listen, startPasses, type PassLoop } from '../passes.ts'
import { objectiveOf, strategyOf, type TuningPassContext, type TuningRow } from './pass.ts'
import type { Observation } from './samplers.ts'
import { bestTrialOf, endedTuningData, isActiveTrial, isOpenTrial, stoppingRule, type TuningOutcome } from './stopping-rules.ts'
import { suggestTrials, warmStartOf } from './suggestion.ts'
import { TrialReports } from './trial-reports.ts'
import { syncTrials, updateTrial } from './trial-sync.ts'
import { stopTrialJob } from './trials.ts'

export interface TuningControllerOptions {
  db: Db
  bus: EventBus
  logger: Logger
  workerId: string
  instanceTypes: readonly InstanceType[]
  /** Seconds between passes when nothing wakes the controller. */
  pollSeconds?: number
  /** A tuning whose holder has not written for this long is taken over. */
  staleSeconds?: number
}

/** What the controller keeps in memory per tuning it holds; the database has the rest. */
interface HeldTuning {
  reports: TrialReports
  /** Read once, when the tuning first suggests. */
  warmStart: Observation[] | null
  /** The last tuningUpdated event's content, less its time. */
  published: string
}

/** Takes tunings nobody holds, or whose holder died or went silent. */
async function claimTunings(ctx: TuningPassContext, staleMs: number) {
  const { db, workerId, logger } = ctx
  const candidates = await db.tuningJob.findMany({
    where: { status: { in: activeTuningStatuses }, OR: [{ workerId: null }, { NOT: { workerId } }] },
    select: { id: true, workerId: true, heartbeatAt: true },
  })
  const now = Date.now()
  for (const candidate of candidates) {
    const free = candidate.workerId === null || !candidate.heartbeatAt || now - candidate.heartbeatAt.getTime() > staleMs || processGone(candidate.workerId)
    if (!free) continue
    const changed = await db.tuningJob.updateMany({ where: { id: candidate.id, workerId: candidate.workerId }, data: { workerId, heartbeatAt: new Date() } })
    if (changed.count !== 1) continue
    if (candidate.workerId) logger.warn({ tuningId: candidate.id, previous: candidate.workerId }, 'tuning taken over from a trainer that stopped')
    else logger.info({ tuningId: candidate.id }, 'tuning claimed')
  }
}

/** Ends the tuning; its still active trials are stopped and end cancelled. */
async function finish(ctx: TuningPassContext, tuning: TuningRow, outcome: TuningOutcome) {
  for (const trial of tuning.trials) {
    if (!isActiveTrial(trial)) continue
    const reason = `the tuning ended ${outcome.status}${outcome.endReason ? ` (${outcome.endReason})` : ''}`
    if (trial.jobId) await stopTrialJob(ctx.trials, trial.jobId, `Stopped: ${reason}`)
    // The tuning will not look at this trial again: it ends now, not when its job has stopped.
    await updateTrial(ctx.db, trial, { status: 'cancelled', statusReason: reason, completedAt: new Date() })
  }
  const data = endedTuningData(outcome)
  const changed = await ctx.db.tuningJob.updateMany({ where: { id: tuning.id, workerId: ctx.workerId, status: { in: ['running', 'stopping'] } }, data })
  if (changed.count === 1) Object.assign(tuning, data)
  ctx.logger.info({ tuningId: tuning.id, status: outcome.status, reason: outcome.endReason ?? outcome.error }, 'tuning ended')
}

/** The user stopped the tuning: its open trials are stopped, and it ends cancelled once none is open. */
async function stopRequested(ctx: TuningPassContext, tuning: TuningRow) {
  const open = tuning.trials.filter(isOpenTrial)
  for (const trial of open) {
    if (trial.status === 'cancelled') continue
    await stopTrialJob(ctx.trials, trial.jobId, `Stopped: the user stopped tuning ${tuning.id}`)
    await updateTrial(ctx.db, trial, { status: 'cancelled', statusReason: 'the user stopped the tuning' })
  }
  if (open.length === 0) await finish(ctx, tuning, { status: 'cancelled' })
}

async function updateBest(db: Db, tuning: TuningRow, direction: Direction) {
  const best = bestTrialOf(tuning.trials, direction)?.id ?? null
  if (best === tuning.bestTrialId) return
  await db.tuningJob.update({ where: { id: tuning.id }, data: { bestTrialId: best } })
  tuning.bestTrialId = best
}

/**
 * One tuningUpdated event per visible change (the heartbeat alone is not
 * one). The pass keeps `tuning` and its trials as written, so only the
 * time of the last write is read back, and only when something changed.
 */
async function publishIfChanged(ctx: TuningPassContext, tuning: TuningRow, held: HeldTuning) {
  const { updatedAt: _updatedAt, ...content } = tuningView(tuning, tuning.trials, tuning.owner.name)
  const key = JSON.stringify(content)
  if (key === held.published) return
  const written = await ctx.db.tuningJob.findUnique({ where: { id: tuning.id }, select: { updatedAt: true } })
  if (!written) return
  held.published = key
  await publishTuningUpdated(ctx.bus, tuning.ownerId, tuningView({ ...tuning, updatedAt: written.updatedAt }, tuning.trials, tuning.owner.name))
}

/** One pass over one tuning. Resolves false when this trainer no longer holds it (lost, or ended). */
async function advance(ctx: TuningPassContext, tuning: TuningRow, held: HeldTuning): Promise<boolean> {
  const { db, workerId } = ctx
  // Heartbeat without touching updatedAt, which says when the tuning last changed.
  const beat = await db.tuningJob.updateMany({ where: { id: tuning.id, workerId }, data: { heartbeatAt: new Date(), updatedAt: tuning.updatedAt } })
  if (beat.count !== 1) return false
  if (tuning.status === 'pending') {
    const started = await db.tuningJob.updateMany({ where: { id: tuning.id, status: 'pending' }, data: { status: 'running', startedAt: new Date() } })
    if (started.count === 1) Object.assign(tuning, { status: 'running', startedAt: new Date() })
  }
  await syncTrials(ctx, tuning, held.reports)
  const strategy = strategyOf(tuning)
  const objective = objectiveOf(tuning)
  if (tuning.status === 'stopping') {
    await stopRequested(ctx, tuning)
  } else {
    const rule = stoppingRule(tuning.trials, strategy, objective)
    if (rule) await finish(ctx, tuning, rule)
    else {
      held.warmStart ??= await warmStartOf(db, tuning)
      await suggestTrials(ctx, tuning, held.warmStart)
    }
  }
  await updateBest(db, tuning, objective.direction)
  await publishIfChanged(ctx, tuning, held)
  return activeTuningStatuses.some((status) => status === tuning.status)
}

export function createTuningController(options: TuningControllerOptions) {
  const { db, bus, logger, workerId } = options
  const pollMs = (options.pollSeconds ?? 1) * 1000
  const staleMs = (options.staleSeconds ?? 15) * 1000
  const closed = new AbortController()
  const ctx: TuningPassContext = { db, bus, logger, workerId, trials: { db, bus, instanceTypes: options.instanceTypes }, closed: closed.signal }
  const held = new Map<string, HeldTuning>()
  const wake$ = new Subject<void>()
  let passes: PassLoop | undefined
  let stopping: Promise<void> | undefined

  function heldOf(id: string): HeldTuning {
    let state = held.get(id)
    if (!state) {
      state = { reports: new TrialReports({ bus, logger, signal: closed.signal, onReport: () => wake$.next() }), warmStart: null, published: '' }
      held.set(id, state)
    }
    return state
  }

  function release(id: string) {
    held.get(id)?.reports.close()
    held.delete(id)
  }

  async function pass() {
    await claimTunings(ctx, staleMs)
    const tunings = await db.tuningJob.findMany({
      where: { workerId, status: { in: activeTuningStatuses } },
      include: { owner: { select: { name: true } }, trials: { orderBy: { number: 'asc' } } },
    })
    const live = new Set(tunings.map((tuning) => tuning.id))
    for (const id of held.keys()) if (!live.has(id)) release(id)
    for (const tuning of tunings) {
      if (closed.signal.aborted) return
      try {
        if (!(await advance(ctx, tuning, heldOf(tuning.id)))) release(tuning.id)
      } catch (error) {
        logger.error({ err: error, tuningId: tuning.id }, 'tuning pass failed')
      }
    }
  }

  return {
    async start() {
      await listen<unknown>(bus, topics.tuningWake, closed.signal, logger, () => wake$.next())
      if (!closed.signal.aborted) passes = startPasses({ pollMs, wake$, pass, logger, what: 'tuning' })
    },

    /**
     * Lets go of every tuning so that the next trainer takes them over at
     * once, after the pass in flight has stopped writing to them. Idempotent.
     */
    stop(): Promise<void> {
      stopping ??= (async () => {
        closed.abort()
        await passes?.stop()
        for (const id of [...held.keys()]) release(id)
        await db.tuningJob
          .updateMany({ where: { workerId, status: { in: activeTuningStatuses } }, data: { workerId: null } })
          .catch((error: unknown) => logger.warn({ err: error }, 'could not release tunings'))
      })()
      return stopping
    },
  }
}

export type TuningController = ReturnType<typeof createTuningController>
