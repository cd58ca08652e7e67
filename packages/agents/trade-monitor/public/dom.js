// DOM and formatting helpers. Text always goes in through textContent or text nodes: event data
// is never parsed as HTML.

/** Creates an element: props set attributes (class, text, title, dataset, on<event>), children are nodes or text. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'title') node.title = String(value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`missing #${id}`);
  return node;
}

export function setText(node, text, className) {
  node.textContent = text;
  if (className !== undefined) node.className = className;
}

const STABLE_QUOTES = new Set(['USD', 'USDT', 'USDC', 'BUSD', 'DAI', 'TUSD', 'FDUSD', 'EUR', 'GBP', 'JPY', 'CHF', 'AUD', 'CAD']);

/** Decimals for amounts of a currency: cents for fiat and stablecoins, more for coins. */
export function moneyDigits(currency) {
  return currency && STABLE_QUOTES.has(String(currency).toUpperCase()) ? 2 : 6;
}

/** Decimals that show a price's meaningful digits. */
export function priceDigits(price) {
  const a = Math.abs(Number(price));
  if (!Number.isFinite(a) || a === 0) return 2;
  if (a >= 1000) return 2;
  if (a >= 10) return 3;
  if (a >= 1) return 4;
  if (a >= 0.01) return 6;
  return 8;
}

const formatters = new Map();
function formatter(min, max) {
  const key = `${min}:${max}`;
  let f = formatters.get(key);
  if (f === undefined) {
    f = new Intl.NumberFormat('en-US', { minimumFractionDigits: min, maximumFractionDigits: max });
    formatters.set(key, f);
  }
  return f;
}

export function fmtNumber(value, digits = 2, minDigits = digits) {
  if (value === undefined || value === null || !Number.isFinite(Number(value))) return '—';
  return formatter(Math.min(minDigits, digits), digits).format(Number(value));
}

export function fmtPrice(value, digits) {
  if (value === undefined || value === null) return '—';
  return fmtNumber(value, digits ?? priceDigits(value));
}

export function fmtQty(value) {
  if (value === undefined || value === null) return '—';
  const a = Math.abs(Number(value));
  return fmtNumber(value, a >= 1000 ? 2 : a >= 1 ? 4 : 8, 0);
}

/** Signed amount with a sign and a class for its colour. */
export function fmtSigned(value, digits = 2, suffix = '') {
  if (value === undefined || value === null || !Number.isFinite(Number(value))) return { text: '—', cls: 'muted' };
  const n = Number(value);
  const rounded = Number(n.toFixed(digits));
  const text = `${rounded > 0 ? '+' : ''}${fmtNumber(n, digits)}${suffix}`;
  return { text, cls: rounded > 0 ? 'pos' : rounded < 0 ? 'neg' : '' };
}

function pad(n, width = 2) {
  return String(n).padStart(width, '0');
}

/** UTC date and time, e.g. 2018-01-12 08:35. */
export function fmtDateTime(ms, seconds = false) {
  if (!Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  const base = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  return seconds ? `${base}:${pad(d.getUTCSeconds())}` : base;
}

/** UTC time with milliseconds, e.g. 08:35:12.042. */
export function fmtTime(ms) {
  if (!Number.isFinite(ms)) return '—';
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** A short duration: 850ms, 4.2s, 3m 12s, 5h 03m, 2d 4h. */
export function fmtDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

export function toast(message, kind = 'info', ms = 6000) {
  const box = byId('toasts');
  const node = el('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', text: message });
  box.prepend(node);
  while (box.childElementCount > 4) box.lastElementChild.remove();
  setTimeout(() => node.remove(), ms);
}
