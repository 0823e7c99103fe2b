// Reading the dashboard's state from the page, the way a person would see it: the banner's
// status and details, and the screener's rows. The data-* attributes read here are the page's
// documented test hooks (`#banner[data-status][data-phase]`, `tr[data-symbol][data-token]`).

export const PHASES = ['PRE_OPEN', 'AUCTION_FREEZE', 'LIVE', 'POST_CLOSE', 'CLOSED'];

/** `{ status, phase, tone, title, message, countdown, details: { label: value } }` */
export function banner(page) {
  return page.evaluate(() => {
    const root = document.getElementById('banner');
    const details = {};
    for (const div of document.querySelectorAll('#details-list > div')) {
      details[div.querySelector('dt').textContent] = div.querySelector('dd').textContent;
    }
    const countdown = document.getElementById('banner-countdown');
    return {
      status: root.dataset.status,
      phase: root.dataset.phase ?? '',
      tone: root.dataset.tone,
      title: document.getElementById('banner-title').textContent,
      message: document.getElementById('banner-message').textContent,
      countdown: countdown.hidden ? null : countdown.textContent,
      details,
    };
  });
}

/** The visible rows: `[{ symbol, token, ltp, change, time, stale, spark }]` (`spark`: the sparkline has a line). */
export function rows(page) {
  return page.evaluate(() => [...document.querySelectorAll('#quotes-body tr[data-symbol]')].map((tr) => ({
    symbol: tr.dataset.symbol,
    token: tr.dataset.token ? Number(tr.dataset.token) : null,
    ltp: tr.querySelector('.ltp').textContent,
    change: tr.querySelector('.ch').textContent,
    time: tr.querySelector('.time').textContent,
    stale: tr.classList.contains('stale'),
    spark: (tr.querySelector('.spark-line')?.getAttribute('points') ?? '') !== '',
  })));
}

/**
 * Starts recording every banner state (status, title, "Broker feed" detail) the page shows,
 * so a test can tell that a short-lived state was displayed even if it is gone by the time
 * the test looks. Read it back with `bannerLog`.
 */
export async function recordBanner(page) {
  await page.evaluate(() => {
    const log = [];
    window.__bannerLog = log;
    const snap = () => {
      const root = document.getElementById('banner');
      let feed = '';
      for (const div of document.querySelectorAll('#details-list > div')) {
        if (div.querySelector('dt').textContent === 'Broker feed') feed = div.querySelector('dd').textContent;
      }
      const entry = `${root.dataset.status}|${document.getElementById('banner-title').textContent}|${feed}`;
      if (log[log.length - 1] !== entry) log.push(entry);
    };
    snap();
    new MutationObserver(snap).observe(document.getElementById('banner'), { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

export const bannerLog = (page) => page.evaluate(() => window.__bannerLog ?? []);

/** What screen readers were last told about the status (the polite live region). */
export const announced = (page) => page.locator('#banner-announce').textContent();

/**
 * The candle chart dialog as a person sees it: `{ open, state, symbol, interval, date, count,
 * closedAt, title, session, readout, status, empty, valueNow, valueMax, valueText, drawn }`
 * (`drawn`: some candle body is on the plot). `state`, `interval`, `date`, `count` and
 * `closedAt` are the dialog's documented test hooks (`#chart[data-*]`).
 */
export function chart(page) {
  return page.evaluate(() => {
    const d = document.getElementById('chart');
    const text = (id) => document.getElementById(id).textContent.replace(/\s+/g, ' ').trim();
    const plot = document.getElementById('chart-plot');
    const empty = document.getElementById('chart-empty');
    return {
      open: d.open,
      state: d.dataset.state,
      symbol: d.dataset.symbol ?? null,
      interval: d.dataset.interval ?? null,
      date: d.dataset.date ?? null,
      count: Number(d.dataset.count ?? 0),
      closedAt: d.dataset.closedAt ?? null,
      title: text('chart-title'),
      session: text('chart-session'),
      readout: [...document.getElementById('chart-readout').children].map((c) => c.textContent).join(' | '),
      status: text('chart-status'),
      empty: empty.hidden ? null : empty.textContent,
      valueNow: Number(plot.getAttribute('aria-valuenow')),
      valueMax: Number(plot.getAttribute('aria-valuemax')),
      valueText: plot.getAttribute('aria-valuetext'),
      drawn: ['.chart-up', '.chart-down'].some((s) => (d.querySelector(s)?.getAttribute('d') ?? '') !== ''),
    };
  });
}

/**
 * Starts recording every state the chart dialog shows, as `state` or `state: message` (the
 * text over the plot when it has no candles to draw); read back with `chartStates`.
 */
export async function recordChartStates(page) {
  await page.evaluate(() => {
    const d = document.getElementById('chart');
    const empty = document.getElementById('chart-empty');
    const log = [];
    window.__chartStates = log;
    const snap = () => {
      const entry = empty.hidden || !empty.textContent ? d.dataset.state : `${d.dataset.state}: ${empty.textContent}`;
      if (log[log.length - 1] !== entry) log.push(entry);
    };
    snap();
    const observer = new MutationObserver(snap);
    observer.observe(d, { attributes: true, attributeFilter: ['data-state'] });
    observer.observe(empty, { attributes: true, childList: true, characterData: true, subtree: true });
  });
}

export const chartStates = (page) => page.evaluate(() => window.__chartStates ?? []);

/**
 * axe-core's WCAG 2.1 AA violations on the page, as readable lines. Evaluated through the
 * DevTools protocol: the page's CSP (rightly) refuses injected <script>s.
 */
export async function axeViolations(page, axeSource) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('\n    ')}`);
}
