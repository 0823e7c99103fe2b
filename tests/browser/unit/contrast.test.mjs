// WCAG AA contrast of the dashboard's colour pairs, read from web/app.css for the light and
// the dark scheme (axe checks the rendered page too; this covers states a page run may not
// show, such as every banner tone and a price cell mid-flash).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const css = readFileSync(new URL('../../../web/app.css', import.meta.url), 'utf8');

function vars(block) {
  const out = {};
  for (const m of block.matchAll(/--([a-z0-9-]+):\s*([^;]+);/g)) out[m[1]] = m[2].trim();
  return out;
}
const light = vars(css.slice(css.indexOf(':root {'), css.indexOf('}', css.indexOf(':root {'))));
const darkStart = css.indexOf('@media (prefers-color-scheme: dark)');
const dark = { ...light, ...vars(css.slice(darkStart, css.indexOf('}\n}', darkStart))) };

function rgba(value) {
  const hex = /^#([0-9a-f]{6})$/i.exec(value);
  if (hex) return [0, 2, 4].map((i) => parseInt(hex[1].slice(i, i + 2), 16)).concat(1);
  const fn = /^rgba?\(([^)]+)\)$/.exec(value);
  if (fn) {
    const [r, g, b, a = '1'] = fn[1].split(',').map((s) => s.trim());
    return [Number(r), Number(g), Number(b), Number(a)];
  }
  throw new Error(`cannot read colour ${value}`);
}
/** `top` composited over the opaque `bottom`. */
const over = (top, bottom) => top.slice(0, 3).map((c, i) => c * top[3] + bottom[i] * (1 - top[3])).concat(1);
const luminance = ([r, g, b]) => {
  const lin = (c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
};
const ratio = (a, b) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};

for (const [scheme, v] of [['light', light], ['dark', dark]]) {
  test(`text contrast, ${scheme} scheme`, () => {
    const c = (name) => rgba(v[name]);
    const surface = c('surface');
    const pairs = [
      ['text on bg', c('text'), c('bg'), 4.5],
      ['text on surface', c('text'), surface, 4.5],
      ['muted on surface', c('muted'), surface, 4.5],
      ['muted on bg', c('muted'), c('bg'), 4.5],
      ['muted on row hover', c('muted'), c('row-hover'), 4.5],
      ['up on surface', c('up'), surface, 4.5],
      ['down on surface', c('down'), surface, 4.5],
      ['up on bg (feedback)', c('up'), c('bg'), 4.5],
      ['down on bg (feedback)', c('down'), c('bg'), 4.5],
      ['up during a flash', c('up'), over(c('flash-up'), surface), 4.5],
      ['down during a flash', c('down'), over(c('flash-down'), surface), 4.5],
      ['text during a flash', c('text'), over(c('flash-down'), surface), 4.5],
      ['current page button', surface, c('text'), 4.5],
      ['button text', c('button-text'), c('button-bg'), 4.5],
      ['focus ring on surface', c('focus'), surface, 3],
      ['focus ring on bg', c('focus'), c('bg'), 3],
      ['banner button', rgba('#16191d'), rgba('#ffffff'), 4.5],
      ['banner login button', rgba('#8a1a12'), rgba('#ffffff'), 4.5],
      // The candle chart's colours draw candles (graphics need 3:1, WCAG 1.4.11) and colour the
      // readout's move (text: 4.5:1). Up and down also differ in shape: hollow and filled.
      ['up candle colour on surface', c('candle-up'), surface, 4.5],
      ['down candle colour on surface', c('candle-down'), surface, 4.5],
      ['crosshair price tag', surface, c('text'), 4.5],
    ];
    for (const tone of ['auth', 'feed', 'live', 'pre', 'closed', 'offline', 'neutral']) {
      pairs.push([`banner ${tone}`, c(`tone-${tone}-text`), c(`tone-${tone}-bg`), 4.5]);
    }
    const failing = pairs.map(([name, fg, bg, min]) => [name, ratio(fg, bg), min]).filter(([, r, min]) => r < min);
    assert.deepEqual(failing.map(([n, r, min]) => `${n}: ${r.toFixed(2)} < ${min}`), []);
  });
}
