// dashboard/web/api.js: talking to the server (fetch with the token cookie) and small
// helpers every view uses: building DOM nodes (text only, never innerHTML, so names
// from run folders cannot inject markup) and formatting numbers, credits and times.

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function api(path) {
  const response = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) throw new ApiError(response.status, (body && body.error) || response.statusText);
  return body;
}

const enc = encodeURIComponent;
export const projectPath = (project) => `/api/projects/${enc(project)}`;
export const runPath = (project, run) => `/api/projects/${enc(project)}/runs/${enc(run)}`;
export const runHash = (project, run) => `#/run/${enc(project)}/${enc(run)}`;
export const compareHash = (project, runs) => `#/compare/${enc(project)}?runs=${runs.map(enc).join(',')}`;

// el('td', {class: 'num', title: 'x'}, 'text', childNode ...)
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'checked' || key === 'disabled' || key === 'value') node[key] = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Replaces node's children with `children` (nested arrays flattened, null/false left out).
export function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function fixed(value, digits = 4) {
  return value === null || value === undefined || Number.isNaN(value) ? '–' : Number(value).toFixed(digits);
}

export function credits(value) {
  if (value === null || value === undefined) return '–';
  const v = Number(value);
  if (v !== 0 && Math.abs(v) < 0.01) return `${Number(v.toPrecision(2))} cr`;  // tiny CPU-test charges
  return `${v.toFixed(2)} cr`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

export function bytes(size) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = size, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

export function when(unixSeconds) {
  if (!unixSeconds) return '–';
  return new Date(unixSeconds * 1000).toLocaleString();
}

export function stateBadge(state, reason) {
  return el('span', {},
    el('span', { class: `badge ${state}`, 'data-state': state }, state),
    reason ? el('span', { class: 'reason', title: reason }, reason) : null);
}

export function progressBar(done, total) {
  const fraction = total > 0 ? Math.min(1, done / total) : 0;
  const bar = el('span', { class: 'progress' }, el('span', {}));
  bar.firstChild.style.width = `${(100 * fraction).toFixed(1)}%`;
  return el('span', {}, bar, total > 0 ? `${done}/${total}` : `${done}`);
}

// The connection indicator in the header ("live", "reconnecting").
export function setConnection(text, live) {
  const node = document.getElementById('connection');
  if (!node) return;
  node.textContent = text;
  node.className = `connection ${text ? (live ? 'live' : 'down') : ''}`;
}

export function errorBox(error) {
  return el('p', { class: 'error' }, error instanceof Error ? error.message : String(error));
}
