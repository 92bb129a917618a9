// The tuning controller: drives every active tuning this trainer holds. Each
// pass, per tuning: bring trials up to date with their jobs, feed each
// epoch's objective to the pruner, apply the stopping rules, suggest and
// queue new trials up to `parallelTrials`, and end the tuning when its last
// trial has. All state lives in the database (trials, their intermediate
// values), so another trainer takes a tuning over after a crash and goes on
// where it stopped; the samplers are deterministic given the trials.
import { Subject } from 'rxjs'
import type { Logger } from 'pino'
import type { Db, Job, Prisma, Trial, TuningJob } from '../../src/infra/db.ts'
import type { EventBus } from '../../src/infra/event-bus.ts'
import type { InstanceType } from '../../src/domain/instance-types.ts'
import type { Direction, ParameterSet, SearchSpace } from '../../src/domain/search-space.ts'
import type { TuningObjective, TuningStrategy } from '../../src/domain/tuning-config.ts'
import { activeTuningStatuses, tuningView, type IntermediateValue, type TrialStatus, type TuningStatus } from '../../src/domain/tuning-view.ts'
import { ErrorCodes } from '../../src/errors/index.ts'
import { publishTuningUpdated, topics, type JobMetricsEvent } from '../../src/events/index.ts'
import { processGone } from '../liveness.ts'
import { listen, runPasses } from '../passes.ts'
import { ashaDecision, medianDecision, type PruneDecision, type TrialProgress } from './pruners.ts'
import { createSampler, type Observation } from './samplers.ts'
import { createTrial, stopTrialJob, type TrialContext } from './trials.ts'

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

type TuningRow = TuningJob & { owner: { name: string }; trials: Trial[] }
type TrialJob = Pick<Job, 'id' | 'status' | 'metrics' | 'step' | 'totalEpochs' | 'startedAt' | 'completedAt' | 'errorMessage' | 'deletedAt'>

const activeTrialStatuses: TrialStatus[] = ['pending', 'running']

/** What the controller keeps in memory per tuning: live metric subscriptions and the objective values they brought. */
interface Held {
  watchers: Map<string, AbortController>
  reports: Map<string, IntermediateValue[]>
  warmStart: Observation[] | null
  published: string
}

const better = (direction: Direction, a: number, b: number) => (direction === 'maximize' ? a > b : a < b)

function bestOf(direction: Direction, values: number[]): number | null {
  return values.reduce<number | null>((best, value) => (best === null || better(direction, value, best) ? value : best), null)
}

/** Adds points to a trial's intermediate values, one per epoch, in epoch order. */
function mergeIntermediate(current: IntermediateValue[], points: IntermediateValue[]): IntermediateValue[] {
  const byEpoch = new Map(current.map((point) => [point.epoch, point]))
  for (const point of points) byEpoch.set(point.epoch, point)
  return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch)
}

export function createTuningController(options: TuningControllerOptions) {
  const { db, bus, logger, workerId } = options
  const ctx: TrialContext = { db, bus, instanceTypes: options.instanceTypes }
  const pollMs = (options.pollSeconds ?? 1) * 1000
  const staleMs = (options.staleSeconds ?? 15) * 1000
  const held = new Map<string, Held>()
  const wake$ = new Subject<void>()
  const closed = new AbortController()
  let subscription: { unsubscribe(): void } | undefined

  function heldOf(id: string): Held {
    let state = held.get(id)
    if (!state) {
      state = { watchers: new Map(), reports: new Map(), warmStart: null, published: '' }
      held.set(id, state)
    }
    return state
  }

  function release(id: string) {
    const state = held.get(id)
    if (!state) return
    for (const watcher of state.watchers.values()) watcher.abort()
    held.delete(id)
  }

  /** Takes tunings nobody holds, or whose holder died or went silent. */
  async function claim() {
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

  async function pass() {
    await claim()
    const tunings = await db.tuningJob.findMany({
      where: { workerId, status: { in: activeTuningStatuses } },
      include: { owner: { select: { name: true } }, trials: { orderBy: { number: 'asc' } } },
    })
    const live = new Set(tunings.map((tuning) => tuning.id))
    for (const id of held.keys()) if (!live.has(id)) release(id)
    for (const tuning of tunings) {
      if (closed.signal.aborted) return
      try {
        await advance(tuning)
      } catch (error) {
        logger.error({ err: error, tuningId: tuning.id }, 'tuning pass failed')
      }
    }
  }

  /** Metric events of a trial's job, kept until the next pass reads them. */
  function watch(state: Held, trial: Trial, metric: string) {
    if (!trial.jobId || state.watchers.has(trial.id)) return
    const watcher = new AbortController()
    state.watchers.set(trial.id, watcher)
    const signal = AbortSignal.any([watcher.signal, closed.signal])
    void (async () => {
      const events = await bus.subscribe<JobMetricsEvent>(topics.jobMetrics(trial.jobId as string), signal)
      for await (const event of events) {
        const points = event.points.filter((point) => point.name === metric && point.epoch !== null && Number.isInteger(point.epoch))
        if (points.length === 0) continue
        const reports = state.reports.get(trial.id) ?? []
        reports.push(...points.map((point) => ({ epoch: point.epoch as number, step: point.step, value: point.value })))
        state.reports.set(trial.id, reports)
        wake$.next()
      }
    })().catch((error: unknown) => logger.warn({ err: error, trialId: trial.id }, 'trial metrics subscription ended'))
  }

  function unwatch(state: Held, trialId: string) {
    state.watchers.get(trialId)?.abort()
    state.watchers.delete(trialId)
    state.reports.delete(trialId)
  }

  /** The objective after every epoch of a job, from its stored metric points (complete once the job has ended). */
  async function storedIntermediate(jobId: string, metric: string): Promise<IntermediateValue[]> {
    const points = await db.metricPoint.findMany({ where: { jobId, name: metric }, select: { step: true, epoch: true, value: true }, orderBy: { step: 'asc' } })
    return points.filter((p) => p.epoch !== null && Number.isInteger(p.epoch)).map((p) => ({ epoch: p.epoch as number, step: p.step, value: p.value }))
  }

  async function updateTrial(trial: Trial, data: Prisma.TrialUpdateInput): Promise<Trial> {
    const updated = await db.trial.update({ where: { id: trial.id }, data })
    Object.assign(trial, updated)
    return updated
  }

  /** Brings a trial up to date with its job: started, ended (with metrics and the objective), or gone. */
  async function syncTrial(trial: Trial, job: TrialJob | undefined, objective: TuningObjective) {
    const ended = trial.completedAt !== null
    if (ended) return
    if (!job || job.deletedAt) {
      await updateTrial(trial, {
        status: trial.status === 'pruned' ? 'pruned' : 'cancelled',
        statusReason: trial.statusReason ?? 'its job was deleted',
        completedAt: new Date(),
      })
      return
    }
    if (job.status === 'pending' || job.status === 'running' || job.status === 'stopping') {
      const status = trial.status === 'pending' && job.status !== 'pending' ? 'running' : trial.status
      if (status !== trial.status || (job.startedAt && !trial.startedAt)) await updateTrial(trial, { status, startedAt: job.startedAt })
      return
    }
    const intermediate = mergeIntermediate((trial.intermediate as IntermediateValue[] | null) ?? [], await storedIntermediate(job.id, objective.metric))
    // A job that finished before a stop reached it counts as what it is: completed or failed.
    const status: TrialStatus =
      job.status === 'completed'
        ? 'completed'
        : job.status === 'failed'
          ? 'failed'
          : trial.status === 'pruned' || trial.status === 'cancelled'
            ? trial.status
            : 'cancelled'
    const reason =
      status === 'completed'
        ? null
        : status === 'failed'
          ? `its job failed: ${job.errorMessage ?? 'no reason recorded'}`
          : status === 'cancelled' && trial.status !== 'cancelled'
            ? 'its job was stopped'
            : trial.statusReason
    await updateTrial(trial, {
      status,
      statusReason: reason,
      metrics: (job.metrics ?? undefined) as Prisma.InputJsonValue | undefined,
      intermediate: intermediate as unknown as Prisma.InputJsonValue,
      objectiveValue: bestOf(
        objective.direction,
        intermediate.map((point) => point.value),
      ),
      prunedAtStep: status === 'pruned' ? job.step : null,
      prunedAtEpoch: status === 'pruned' ? trial.prunedAtEpoch : null,
      startedAt: job.startedAt,
      completedAt: job.completedAt ?? new Date(),
    })
  }

  const progressOf = (trial: Trial): TrialProgress => ({
    trialNumber: trial.number,
    state:
      trial.status === 'completed'
        ? 'completed'
        : trial.status === 'pruned'
          ? 'pruned'
          : trial.status === 'running' || trial.status === 'pending'
            ? 'running'
            : 'failed',
    intermediate: (trial.intermediate as IntermediateValue[] | null) ?? [],
  })

  function pruneDecision(strategy: TuningStrategy, direction: Direction, trial: Trial, trials: Trial[]): PruneDecision | null {
    const rule = strategy.earlyStopping
    if (!rule) return null
    const others = trials.filter((other) => other.id !== trial.id).map(progressOf)
    return rule.type === 'median'
      ? medianDecision(direction, progressOf(trial), others, { startupTrials: rule.startupTrials, warmupEpochs: rule.warmupEpochs })
      : ashaDecision(direction, progressOf(trial), others, { minResource: rule.minResource, reductionFactor: rule.reductionFactor })
  }

  /** New objective values of running trials: stored, then judged by the pruner epoch by epoch. */
  async function applyReports(tuning: TuningRow, state: Held, jobs: Map<string, TrialJob>) {
    const strategy = tuning.strategy as unknown as TuningStrategy
    const objective = tuning.objective as unknown as TuningObjective
    for (const trial of tuning.trials) {
      const reports = state.reports.get(trial.id)
      if (!reports || reports.length === 0 || trial.completedAt) continue
      state.reports.set(trial.id, [])
      const job = trial.jobId ? jobs.get(trial.jobId) : undefined
      let intermediate = (trial.intermediate as IntermediateValue[] | null) ?? []
      for (const point of reports.sort((a, b) => a.epoch - b.epoch)) {
        intermediate = mergeIntermediate(intermediate, [point])
        trial.intermediate = intermediate as unknown as Prisma.JsonValue
        // The last epoch ends the trial anyway: pruning it would only throw its result away.
        if (trial.status !== 'running' || !job || point.epoch >= job.totalEpochs) continue
        const decision = pruneDecision(strategy, objective.direction, trial, tuning.trials)
        if (!decision?.prune) continue
        await updateTrial(trial, { status: 'pruned', statusReason: decision.reason, prunedAtEpoch: point.epoch })
        await stopTrialJob(ctx, job.id, `Pruned by tuning ${tuning.id} (${strategy.earlyStopping?.type}) after epoch ${point.epoch}: ${decision.reason}`)
        logger.info({ tuningId: tuning.id, trialId: trial.id, epoch: point.epoch }, 'trial pruned')
      }
      await updateTrial(trial, {
        intermediate: intermediate as unknown as Prisma.InputJsonValue,
        objectiveValue: bestOf(
          objective.direction,
          intermediate.map((point) => point.value),
        ),
      })
    }
  }

  /** Completed trials of earlier tunings, as observations in this tuning's space (values outside it are left out). */
  async function warmStartOf(tuning: TuningRow): Promise<Observation[]> {
    const ids = (tuning.warmStartFrom as string[] | null) ?? []
    if (ids.length === 0) return []
    const space = tuning.parameters as SearchSpace
    const trials = await db.trial.findMany({
      where: { tuningId: { in: ids }, tuning: { ownerId: tuning.ownerId }, status: 'completed', objectiveValue: { not: null } },
    })
    const inside = (parameters: ParameterSet) =>
      Object.entries(space).every(([name, spec]) => {
        const value = parameters[name]
        if (spec.type === 'categorical') return spec.values.some((choice) => choice === value)
        return typeof value === 'number' && value >= spec.min && value <= spec.max
      })
    return trials
      .map((trial) => ({
        parameters: Object.fromEntries(Object.keys(space).map((name) => [name, (trial.parameters as ParameterSet)[name]])),
        value: trial.objectiveValue,
      }))
      .filter((trial) => inside(trial.parameters))
      .map((trial) => ({ ...trial, state: 'completed' as const }))
  }

  function observationsOf(trials: Trial[]): Observation[] {
    return trials.flatMap((trial): Observation[] => {
      const parameters = trial.parameters as ParameterSet
      if (trial.status === 'completed' && trial.objectiveValue !== null) return [{ parameters, state: 'completed', value: trial.objectiveValue }]
      const last = ((trial.intermediate as IntermediateValue[] | null) ?? []).at(-1)
      if (trial.status === 'pruned') return [{ parameters, state: 'pruned', value: last?.value ?? null, epoch: last?.epoch }]
      if (trial.status === 'pending' || trial.status === 'running') return [{ parameters, state: 'running', value: null }]
      return []
    })
  }

  /** Ends the tuning; its still active trials are stopped and end cancelled. */
  async function finish(tuning: TuningRow, outcome: { status: 'completed' | 'failed' | 'cancelled'; endReason?: string | null; error?: string }) {
    for (const trial of tuning.trials) {
      if (!activeTrialStatuses.includes(trial.status as TrialStatus)) continue
      const reason = `the tuning ended ${outcome.status}${outcome.endReason ? ` (${outcome.endReason})` : ''}`
      if (trial.jobId) await stopTrialJob(ctx, trial.jobId, `Stopped: ${reason}`)
      // The tuning will not look at this trial again: it ends now, not when its job has stopped.
      await updateTrial(trial, { status: 'cancelled', statusReason: reason, completedAt: new Date() })
    }
    const data: Prisma.TuningJobUpdateManyMutationInput = {
      status: outcome.status,
      completedAt: new Date(),
      ...(outcome.endReason !== undefined ? { endReason: outcome.endReason } : {}),
      ...(outcome.error ? { errorCode: ErrorCodes.tuningFailed, errorMessage: outcome.error } : {}),
    }
    const changed = await db.tuningJob.updateMany({ where: { id: tuning.id, workerId, status: { in: ['running', 'stopping'] } }, data })
    if (changed.count === 1) Object.assign(tuning, data)
    logger.info({ tuningId: tuning.id, status: outcome.status, reason: outcome.endReason ?? outcome.error }, 'tuning ended')
  }

  /** A reason to end the tuning now, or null to go on. */
  function stoppingRule(tuning: TuningRow, strategy: TuningStrategy, objective: TuningObjective) {
    const trials = tuning.trials
    const failed = trials.filter((trial) => trial.status === 'failed')
    const completed = trials.filter((trial) => trial.status === 'completed' && trial.objectiveValue !== null)
    if (objective.target !== null) {
      const reached = completed.find((trial) => !better(objective.direction, objective.target as number, trial.objectiveValue as number))
      if (reached)
        return {
          status: 'completed' as const,
          endReason: `objective.target ${objective.target} reached by trial ${reached.number} (${objective.metric} ${reached.objectiveValue})`,
        }
    }
    const lastError = failed.at(-1)?.statusReason ?? 'no reason recorded'
    if (strategy.maxFailedTrials !== null && failed.length >= strategy.maxFailedTrials) {
      return {
        status: 'failed' as const,
        endReason: null,
        error: `${failed.length} trials failed (strategy.maxFailedTrials is ${strategy.maxFailedTrials}); the last: ${lastError}`,
      }
    }
    const open = trials.filter((trial) => activeTrialStatuses.includes(trial.status as TrialStatus) || (trial.jobId !== null && trial.completedAt === null))
    if (trials.length < strategy.maxTrials || open.length > 0) return null
    if (completed.length > 0) return { status: 'completed' as const, endReason: null }
    return {
      status: 'failed' as const,
      endReason: null,
      error: `No trial completed: ${failed.length} of ${trials.length} failed, ${trials.length - failed.length} were pruned or cancelled; the last failure: ${lastError}`,
    }
  }

  /** Trials that may be open at once: parallelTrials, and no more than the instance type can run. */
  function openLimit(tuning: TuningRow, strategy: TuningStrategy): number {
    const base = tuning.baseConfig as unknown as { resources: { instanceType: string; instanceCount: number } }
    const type = options.instanceTypes.find((candidate) => candidate.name === base.resources.instanceType)
    const fits = type ? Math.floor(type.capacity / Math.max(1, base.resources.instanceCount)) : 1
    return Math.max(1, Math.min(strategy.parallelTrials, fits))
  }

  async function suggestTrials(tuning: TuningRow, state: Held, strategy: TuningStrategy, objective: TuningObjective) {
    const sampler = createSampler(strategy.type, tuning.parameters as SearchSpace, {
      seed: strategy.seed,
      direction: objective.direction,
      startupTrials: strategy.startupTrials,
      gridPoints: strategy.gridPoints,
    })
    state.warmStart ??= await warmStartOf(tuning)
    const limit = openLimit(tuning, strategy)
    const isOpen = (trial: Trial) => trial.completedAt === null && trial.jobId !== null
    const room = () => tuning.trials.length < strategy.maxTrials && tuning.trials.filter(isOpen).length < limit
    // A trial that fails at once (no job could be made) may trip a stopping rule: the next pass applies it.
    while (room() && !stoppingRule(tuning, strategy, objective) && !closed.signal.aborted) {
      const number = tuning.trials.length + 1
      const parameters = sampler.suggest(number - 1, [...state.warmStart, ...observationsOf(tuning.trials)])
      const trial = await createTrial(ctx, tuning, number, parameters)
      tuning.trials.push(trial)
      logger.info({ tuningId: tuning.id, trialId: trial.id, number, parameters, status: trial.status }, 'trial suggested')
    }
  }

  async function advance(tuning: TuningRow) {
    const state = heldOf(tuning.id)
    const strategy = tuning.strategy as unknown as TuningStrategy
    const objective = tuning.objective as unknown as TuningObjective
    // Heartbeat without touching updatedAt, which says when the tuning last changed.
    const beat = await db.tuningJob.updateMany({ where: { id: tuning.id, workerId }, data: { heartbeatAt: new Date(), updatedAt: tuning.updatedAt } })
    if (beat.count !== 1) return release(tuning.id)
    if (tuning.status === 'pending') {
      const started = await db.tuningJob.updateMany({ where: { id: tuning.id, status: 'pending' }, data: { status: 'running', startedAt: new Date() } })
      if (started.count === 1) Object.assign(tuning, { status: 'running', startedAt: new Date() })
    }

    const jobIds = tuning.trials.flatMap((trial) => (trial.jobId ? [trial.jobId] : []))
    const jobs = new Map(
      (
        await db.job.findMany({
          where: { id: { in: jobIds } },
          select: {
            id: true,
            status: true,
            metrics: true,
            step: true,
            totalEpochs: true,
            startedAt: true,
            completedAt: true,
            errorMessage: true,
            deletedAt: true,
          },
        })
      ).map((job) => [job.id, job]),
    )
    for (const trial of tuning.trials) {
      if (trial.completedAt === null && trial.jobId) {
        if (!state.watchers.has(trial.id)) {
          watch(state, trial, objective.metric)
          // Values reported before this trainer held the tuning (or while it restarted).
          const stored = await storedIntermediate(trial.jobId, objective.metric)
          const known = new Set(((trial.intermediate as IntermediateValue[] | null) ?? []).map((point) => point.epoch))
          const missed = stored.filter((point) => !known.has(point.epoch))
          if (missed.length > 0) state.reports.set(trial.id, [...missed, ...(state.reports.get(trial.id) ?? [])])
        }
      }
    }
    for (const trial of tuning.trials) await syncTrial(trial, trial.jobId ? jobs.get(trial.jobId) : undefined, objective)
    await applyReports(tuning, state, jobs)
    for (const trial of tuning.trials) if (trial.completedAt !== null) unwatch(state, trial.id)

    if (tuning.status === 'stopping') {
      const open = tuning.trials.filter((trial) => trial.completedAt === null && trial.jobId !== null)
      for (const trial of open) {
        if (trial.status !== 'cancelled') {
          await stopTrialJob(ctx, trial.jobId as string, `Stopped: the user stopped tuning ${tuning.id}`)
          await updateTrial(trial, { status: 'cancelled', statusReason: 'the user stopped the tuning' })
        }
      }
      if (open.length === 0) await finish(tuning, { status: 'cancelled' })
    } else {
      const rule = stoppingRule(tuning, strategy, objective)
      if (rule) await finish(tuning, rule)
      else await suggestTrials(tuning, state, strategy, objective)
    }

    await updateBest(tuning, objective)
    await publishIfChanged(tuning, state)
    if (!activeTuningStatuses.includes(tuning.status as TuningStatus)) release(tuning.id)
  }

  async function updateBest(tuning: TuningRow, objective: TuningObjective) {
    let best: Trial | null = null
    for (const trial of tuning.trials) {
      if (trial.status !== 'completed' || trial.objectiveValue === null) continue
      if (!best || better(objective.direction, trial.objectiveValue, best.objectiveValue as number)) best = trial
    }
    if ((best?.id ?? null) === tuning.bestTrialId) return
    await db.tuningJob.update({ where: { id: tuning.id }, data: { bestTrialId: best?.id ?? null } })
    tuning.bestTrialId = best?.id ?? null
  }

  /**
   * One tuningUpdated event per visible change (the heartbeat alone is not
   * one). The pass keeps `tuning` and its trials as written, so only the
   * time of the last write is read back, and only when something changed.
   */
  async function publishIfChanged(tuning: TuningRow, state: Held) {
    const { updatedAt: _updatedAt, ...content } = tuningView(tuning, tuning.trials, tuning.owner.name)
    const key = JSON.stringify(content)
    if (key === state.published) return
    const written = await db.tuningJob.findUnique({ where: { id: tuning.id }, select: { updatedAt: true } })
    if (!written) return
    state.published = key
    await publishTuningUpdated(bus, tuning.ownerId, tuningView({ ...tuning, updatedAt: written.updatedAt }, tuning.trials, tuning.owner.name))
  }

  return {
    async start() {
      await listen<unknown>(bus, topics.tuningWake, closed.signal, logger, () => wake$.next())
      subscription = runPasses({ pollMs, wake$, pass, logger, what: 'tuning' })
    },

    /** Lets go of every tuning so that the next trainer takes them over at once. */
    async stop() {
      closed.abort()
      subscription?.unsubscribe()
      for (const id of [...held.keys()]) release(id)
      await db.tuningJob
        .updateMany({ where: { workerId, status: { in: activeTuningStatuses } }, data: { workerId: null } })
        .catch((error: unknown) => logger.warn({ err: error }, 'could not release tunings'))
    },
  }
}

export type TuningController = ReturnType<typeof createTuningController>
