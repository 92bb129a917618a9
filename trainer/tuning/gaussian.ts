// Normal-distribution arithmetic for the Parzen estimators: log-space CDF
// masses (kernels far in a tail must not underflow to log 0, or l(x)/g(x)
// becomes ∞/∞) and truncated sampling from a seeded generator.

const LOG_HALF = Math.log(0.5)
export const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI)

/** log erfc(x) for x ≥ 0: Numerical Recipes' erfcc (fractional error < 1.2e-7 everywhere), kept in log form. */
function logErfc(x: number): number {
  const t = 1 / (1 + 0.5 * x)
  const poly =
    -1.26551223 +
    t *
      (1.00002368 +
        t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
  return Math.log(t) - x * x + poly
}

/** log Φ(z), the standard normal CDF. */
export function logNormalCdf(z: number): number {
  if (z < 0) return LOG_HALF + logErfc(-z / Math.SQRT2)
  return Math.log1p(-0.5 * Math.exp(logErfc(z / Math.SQRT2)))
}

/** log(Φ(b) − Φ(a)) for a ≤ b; mirrored into the lower tail, where Φ keeps its relative precision. */
export function logNormalMass(a: number, b: number): number {
  if (a > 0) return logNormalMass(-b, -a)
  const upper = logNormalCdf(b)
  return upper + Math.log1p(-Math.exp(logNormalCdf(a) - upper))
}

/** A standard normal draw (Box–Muller; 1 − u keeps the logarithm finite). */
export function standardNormal(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random())
}

/**
 * A normal(mu, sigma) draw truncated to [low, high], by rejection. The Parzen
 * kernels always have low ≤ mu ≤ high and sigma ≤ high − low, so at least a
 * third of the draws land inside; the clamp only guards against a degenerate caller.
 */
export function truncatedNormal(mu: number, sigma: number, low: number, high: number, random: () => number): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const x = mu + sigma * standardNormal(random)
    if (x >= low && x <= high) return x
  }
  return Math.min(high, Math.max(low, mu))
}
