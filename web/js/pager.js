// The page buttons under the screener: Previous, numbered pages (a window around the open
// one) and Next. Rebuilt on every change; keyboard focus stays on the equivalent button.

/** The page numbers (0-based) to offer as buttons: at most `span`, centred on `current`. */
export function pageWindow(current, count, span = 7) {
  const n = Math.min(span, count);
  let start = Math.max(0, current - Math.floor(n / 2));
  start = Math.min(start, count - n);
  return Array.from({ length: n }, (_, i) => start + i);
}

export class Pager {
  #nav;
  #onPage;

  constructor(doc, onPage) {
    this.#nav = doc.getElementById('pager');
    this.#onPage = onPage;
    this.#nav.addEventListener('click', (ev) => {
      const button = ev.target.closest('button[data-page]');
      if (button && !button.disabled) this.#onPage(Number(button.dataset.page));
    });
  }

  render(current, count) {
    const doc = this.#nav.ownerDocument;
    const focused = this.#nav.contains(doc.activeElement) ? doc.activeElement.dataset.key : null;
    const button = (key, page, text, label, disabled) => {
      const b = doc.createElement('button');
      b.type = 'button';
      b.className = 'button page-button';
      b.dataset.key = key;
      b.dataset.page = String(page);
      b.textContent = text;
      if (label) b.setAttribute('aria-label', label);
      b.disabled = disabled;
      return b;
    };
    const parts = [button('prev', current - 1, 'Previous', 'Previous page', current === 0)];
    for (const p of pageWindow(current, count)) {
      const b = button(`p${p}`, p, String(p + 1), `Page ${p + 1}`, false);
      if (p === current) b.setAttribute('aria-current', 'page');
      parts.push(b);
    }
    parts.push(button('next', current + 1, 'Next', 'Next page', current >= count - 1));
    const status = doc.createElement('span');
    status.className = 'page-status';
    status.textContent = `Page ${current + 1} of ${count}`;
    parts.push(status);
    this.#nav.replaceChildren(...parts);
    if (focused) {
      let target = this.#nav.querySelector(`[data-key="${focused}"]`);
      // A disabled button cannot hold focus (Next on the last page): fall back to the open page.
      if (!target || target.disabled) target = this.#nav.querySelector('[aria-current="page"]');
      target?.focus();
    }
  }
}
