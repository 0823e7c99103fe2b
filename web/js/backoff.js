// Reconnect delays for the page's own connection to feedgate: exponential, capped and
// jittered so that many open dashboards do not all knock at once after a gateway restart.
// Pure (the random source is a parameter), unit-tested under Node.

export const BASE_MS = 1000;
export const CAP_MS = 15000;

/**
 * Delay before reconnect attempt `attempt` (1 for the first): the exponential step
 * `BASE_MS · 2^(attempt−1)`, capped at `CAP_MS`, then "equal jitter": a uniform pick in the
 * upper half of that step, so a delay is never zero and never above the cap.
 */
export function backoffDelay(attempt, random = Math.random, baseMs = BASE_MS, capMs = CAP_MS) {
  const n = Number.isInteger(attempt) && attempt > 0 ? attempt : 1;
  const step = Math.min(capMs, baseMs * 2 ** Math.min(n - 1, 30));
  const x = random();
  const r = Number.isFinite(x) ? Math.min(Math.max(x, 0), 1) : 0.5;
  return Math.round(step / 2 + (r * step) / 2);
}
