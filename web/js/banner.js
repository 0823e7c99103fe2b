// Renders a banner model (banner-model.js) into the sticky status banner. Writes to the DOM only
// what changed. Screen readers hear a change of status once, through a separate polite live
// region that carries the model's `announce` text: the visible banner, whose countdowns tick
// every second, is not itself live.

import { formatCountdown } from './format.js';

export class Banner {
  #root;
  #title;
  #message;
  #countdown;
  #login;
  #retry;
  #details;
  #announce;
  #lastDetails = '';

  constructor(doc, onRetry) {
    this.#root = doc.getElementById('banner');
    this.#title = doc.getElementById('banner-title');
    this.#message = doc.getElementById('banner-message');
    this.#countdown = doc.getElementById('banner-countdown');
    this.#login = doc.getElementById('banner-login');
    this.#retry = doc.getElementById('banner-retry');
    this.#details = doc.getElementById('details-list');
    this.#announce = doc.getElementById('banner-announce');
    this.#retry.addEventListener('click', onRetry);
  }

  render(model) {
    const root = this.#root;
    if (root.dataset.status !== model.status) root.dataset.status = model.status;
    if (root.dataset.tone !== model.tone) root.dataset.tone = model.tone;
    const phase = model.phase ?? '';
    if ((root.dataset.phase ?? '') !== phase) root.dataset.phase = phase;

    setText(this.#title, model.title);
    setText(this.#message, model.message);
    const spoken = [model.announce ?? model.title, model.message].filter(Boolean).join(' ');
    setText(this.#announce, spoken);

    if (model.countdown) {
      setText(this.#countdown, `${model.countdown.label} ${formatCountdown(model.countdown.seconds)}`);
      this.#countdown.hidden = false;
    } else {
      this.#countdown.hidden = true;
    }

    if (model.login) {
      if (this.#login.getAttribute('href') !== model.login) this.#login.setAttribute('href', model.login);
      this.#login.hidden = false;
    } else {
      this.#login.hidden = true;
    }
    this.#retry.hidden = !model.retry;

    const key = JSON.stringify(model.details);
    if (key !== this.#lastDetails) {
      this.#lastDetails = key;
      const doc = this.#details.ownerDocument;
      const frag = doc.createDocumentFragment();
      for (const [label, value] of model.details) {
        const wrap = doc.createElement('div');
        const dt = doc.createElement('dt');
        const dd = doc.createElement('dd');
        dt.textContent = label;
        dd.textContent = value;
        wrap.append(dt, dd);
        frag.append(wrap);
      }
      this.#details.replaceChildren(frag);
    }
  }
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
