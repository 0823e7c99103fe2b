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
