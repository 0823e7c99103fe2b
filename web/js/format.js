// Formatting for people: prices, changes, volumes, ages, countdowns and exchange times.
// Pure functions (no DOM), unit-tested under Node.

const MINUS = '\u2212';
const DASH = '\u2014';

const price2 = new Intl.NumberFormat('en-IN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const grouped = new Intl.NumberFormat('en-IN', { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat('en-IN', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** `1,23,456.70`; a dash when there is no value. */
export function formatPrice(v) {
  return isNum(v) ? price2.format(v) : DASH;
}

/** Signed absolute change: `+3.10`, `−2.05`, `0.00`. */
export function formatChange(v) {
  if (!isNum(v)) return DASH;
  const s = price2.format(Math.abs(v));
  if (v > 0) return `+${s}`;
  if (v < 0) return `${MINUS}${s}`;
  return s;
}

/** Signed percentage: `+0.38%`. */
export function formatPercent(v) {
  return isNum(v) ? `${formatChange(v)}%` : DASH;
}

/** Volume the Indian way: `12,345`, `12.35 L` (lakh), `1.23 Cr` (crore). */
export function formatVolume(v) {
  if (!isNum(v) || v < 0) return DASH;
  if (v >= 1e7) return `${compact.format(v / 1e7)} Cr`;
  if (v >= 1e5) return `${compact.format(v / 1e5)} L`;
  return grouped.format(v);
}

/** -1, 0 or 1: which way a value moved (used for arrows and colours). */
export function direction(v) {
  if (!isNum(v) || v === 0) return 0;
  return v > 0 ? 1 : -1;
}

const pad2 = (n) => String(n).padStart(2, '0');

/** A countdown: `4:05`, `5:14:59`, `2 d 03 h`. Negative values count as zero. */
export function formatCountdown(seconds) {
  const total = isNum(seconds) ? Math.max(0, Math.floor(seconds)) : 0;
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d > 0) return `${d} d ${pad2(h)} h`;
  if (h > 0) return `${h}:${pad2(m)}:${pad2(s)}`;
  return `${m}:${pad2(s)}`;
}

/** An age: `0.8 s`, `12 s`, `4 min`, `2 h 05 min`, `3 d`. */
export function formatAge(seconds) {
  if (!isNum(seconds) || seconds < 0) return DASH;
  if (seconds < 10) return `${(Math.round(seconds * 10) / 10).toFixed(1)} s`;
  if (seconds < 60) return `${Math.floor(seconds)} s`;
  const min = Math.floor(seconds / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${pad2(min % 60)} min`;
  return `${Math.floor(h / 24)} d`;
}

/** Hours as a person says them: `45 min`, `2.5 h`. */
export function formatHours(hours) {
  if (!isNum(hours) || hours < 0) return DASH;
  if (hours < 1) return `${Math.round(hours * 60)} min`;
  return `${Math.round(hours * 10) / 10} h`;
}

const TIME_OF_DAY = /T(\d{2}:\d{2}:\d{2})/;
const istTime = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Asia/Kolkata', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

/**
 * The exchange time of day (`10:15:02`) of a feedgate timestamp. feedgate writes IST with its
 * offset (`2026-11-23T10:15:02+05:30`), so the wall-clock part is read as is; any other
 * offset is converted to IST.
 */
export function timeOfDay(ts) {
  if (typeof ts !== 'string') return DASH;
  if (ts.endsWith('+05:30')) {
    const m = TIME_OF_DAY.exec(ts);
    if (m) return m[1];
  }
  const when = Date.parse(ts);
  return Number.isNaN(when) ? DASH : istTime.format(when);
}

const istDayMonth = new Intl.DateTimeFormat('en-GB', { timeZone: 'Asia/Kolkata', day: 'numeric', month: 'short' });
const istDay = (ms) => new Date(ms + 330 * 60_000).toISOString().slice(0, 10);

/** `timeOfDay`, preceded by the IST date (`20 Nov, 15:29:59`) when that is not today's. */
export function stampOf(ts, nowMs = Date.now()) {
  const time = timeOfDay(ts);
  const when = typeof ts === 'string' ? Date.parse(ts) : Number.NaN;
  if (Number.isNaN(when) || istDay(when) === istDay(nowMs)) return time;
  return `${istDayMonth.format(when)}, ${time}`;
}
