// dashboard/web/run_view.js: one run, live. It draws the run from /metrics (every epoch,
// system and event record so far, and the byte offset they end at), then follows
// /events, a Server-Sent Event stream from that offset: each new metrics.jsonl record
// updates the charts and the header, status events the state. The browser's
// EventSource reconnects by itself (server restart, network) and sends the last event
// id, the byte offset, so nothing is missed or drawn twice.
import {
  fill, api, runPath, compareHash, el, fixed, credits, duration, bytes, when, stateBadge, progressBar, setConnection, errorBox,
} from './api.js';
import { CurveSet, SystemCharts } from './charts.js';

// What the records say so far (mirrors pipeline/train/run_summary.cpp's RunWatcher).
class RunRecords {
  constructor() { this.clear(); }
  clear() { this.epochs = []; this.progress = null; this.planned = 0; this.bestEpoch = null; this.systemRecords = []; }

  apply(record) {
    if (record.type === 'epoch') {
      this.epochs = this.epochs.filter((e) => e.epoch < record.epoch);
      this.epochs.push(record);
      if (record.epochs) this.planned = record.epochs;
      if (record.best_epoch) this.bestEpoch = record.best_epoch;
      if (this.progress && this.progress.epoch <= record.epoch) this.progress = null;
      return 'epochs';
    }
    if (record.type === 'train') { this.progress = record; return 'progress'; }
    if (record.type === 'system') { this.systemRecords.push(record); return 'system'; }
    if (record.type === 'event' && (record.event === 'start' || record.event === 'resume')) {
      const from = record.event === 'start' ? 0 : record.epoch || 0;
      this.epochs = this.epochs.filter((e) => e.epoch <= from);
      this.progress = null;
      return 'epochs';
    }
    return 'event';
  }

  best() { return this.epochs.find((e) => e.epoch === this.bestEpoch) || null; }
}

function statItem(label, value, id) {
  return el('div', { class: 'stat' }, el('span', { class: 'label' }, label), el('span', { class: 'value', id }, value));
}

function renderStats(node, detail, records, status) {
  const done = records.epochs.length ? records.epochs[records.epochs.length - 1].epoch : 0;
  const planned = records.planned || detail.epochs || 0;
  const best = records.best();
  const last = records.epochs[records.epochs.length - 1];
  const progress = records.progress;
  fill(node,
    statItem('state', stateBadge(status.state, status.reason), 'run-state'),
    statItem('epoch', progressBar(done, planned), 'run-epoch'),
    progress && progress.batches
      ? statItem('in epoch', `${progress.epoch}: batch ${progress.batch}/${progress.batches}`, 'run-batch') : null,
    statItem('best mAP50-95', best ? `${fixed(best['mAP50-95'])} (epoch ${best.epoch})` : '–', 'run-best'),
    statItem('best mAP50', best ? fixed(best.mAP50) : '–'),
    statItem('last mAP50-95', last ? fixed(last['mAP50-95']) : '–'),
    statItem('train time', duration(detail.elapsed_s)),
    detail.eta_s && status.state === 'running' ? statItem('ETA', duration(detail.eta_s)) : null,
    progress && progress.images_per_second ? statItem('images/s', progress.images_per_second.toFixed(1)) : null,
    statItem('cost', credits(detail.cost)),
    detail.job ? statItem('Slurm job', `${detail.job.job_id} (${detail.job.state})`) : null,
  );
}

function filesCard(project, run, detail) {
  const rows = detail.files.map((file) => el('tr', {},
    el('td', {}, el('a', { href: `${runPath(project, run)}/files/${file.path.split('/').map(encodeURIComponent).join('/')}` },
      file.path)),
    el('td', { class: 'num' }, bytes(file.size)),
    el('td', { class: 'small muted' }, when(file.modified))));
  const provenance = detail.provenance || {};
  return el('div', { class: 'card', id: 'files' },
    el('h2', {}, 'Weights and files'),
    el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'file'), el('th', { class: 'num' }, 'size'),
      el('th', {}, 'modified'))), el('tbody', {}, rows)),
    el('p', { class: 'small muted' },
      provenance.shrike_version ? `shrike ${provenance.shrike_version} (git ${provenance.git_commit}) on ` +
        `${provenance.host}, ${(provenance.devices || []).join(', ')}, world size ${provenance.world_size}` : ''));
}

function settingsCard(settings) {
  const body = el('tbody');
  const draw = (filter) => fill(body, ...settings
    .filter(([key, value]) => !filter || key.includes(filter) || String(value).includes(filter))
    .map(([key, value]) => el('tr', {}, el('td', {}, key), el('td', {}, value))));
  draw('');
  const input = el('input', { class: 'settings-filter', placeholder: 'filter settings', oninput: (e) => draw(e.target.value) });
  return el('div', { class: 'card', id: 'settings' }, el('h2', {}, 'Settings (config.yaml)'), input,
    el('div', { class: 'scroll' }, el('table', {}, body)));
}

export async function runView(main, project, run) {
  const detail = await api(runPath(project, run));
  const snapshot = await api(`${runPath(project, run)}/metrics`);
  const records = new RunRecords();
  let status = { state: detail.state, reason: detail.reason };

  const stats = el('div', { class: 'stats' });
  const chartsHost = el('div');
  const consoleBox = el('pre', { class: 'console', id: 'console' }, '');
  const filesHost = el('div');
  fill(main,
    el('div', { class: 'breadcrumb' }, el('a', { href: '#/' }, 'Projects'), ' / ',
      el('a', { href: `#/project/${encodeURIComponent(project)}` }, project), ' / ', run),
    el('div', { class: 'card-head' }, el('h1', {}, run),
      el('span', { class: 'actions' }, el('a', { class: 'button', href: compareHash(project, [run]) }, 'Compare…'))),
    stats, chartsHost,
    el('div', { class: 'columns' },
      el('div', { class: 'card' }, el('h2', {}, 'Console (train.log)'), consoleBox), filesHost),
    settingsCard(detail.settings));
  filesHost.append(filesCard(project, run, detail));

  const curves = new CurveSet(chartsHost, [{ label: run }]);
  const system = new SystemCharts(chartsHost);
  const redrawEpochs = () => curves.setEpochs(0, records.epochs);
  const redrawStats = () => renderStats(stats, detail, records, status);

  for (const record of snapshot.records) {
    if (records.apply(record) === 'system') system.add(record, false);
  }
  redrawEpochs();
  system.redraw();
  redrawStats();

  let logTimer = null;
  const refreshLog = async () => {
    try {
      const log = await api(`${runPath(project, run)}/log?lines=80`);
      const atBottom = consoleBox.scrollTop + consoleBox.clientHeight >= consoleBox.scrollHeight - 4;
      consoleBox.textContent = log.lines.join('\n');
      if (atBottom) consoleBox.scrollTop = consoleBox.scrollHeight;
    } catch (e) { /* the next tick tries again */ }
  };
  const refreshLogSoon = () => { clearTimeout(logTimer); logTimer = setTimeout(refreshLog, 500); };
  refreshLog();
  const refreshDetail = async () => {
    try {
      Object.assign(detail, await api(runPath(project, run)));
      fill(filesHost, filesCard(project, run, detail));
      redrawStats();
    } catch (e) { /* keep what is shown */ }
  };
  const ticker = setInterval(() => { if (status.state === 'running') { refreshLog(); refreshDetail(); } }, 10000);

  const source = new EventSource(`${runPath(project, run)}/events?from=${snapshot.offset}`);
  source.addEventListener('open', () => setConnection('live', true));
  source.addEventListener('error', () => setConnection('reconnecting…', false));
  source.addEventListener('reset', () => { records.clear(); system.clear(); redrawEpochs(); redrawStats(); });
  source.addEventListener('record', (event) => {
    const record = JSON.parse(event.data);
    const changed = records.apply(record);
    if (changed === 'epochs') { redrawEpochs(); refreshLogSoon(); }
    if (changed === 'system') system.add(record);
    if (changed === 'event') { refreshLogSoon(); refreshDetail(); }
    redrawStats();
  });
  source.addEventListener('status', (event) => {
    const next = JSON.parse(event.data);
    const changed = next.state !== status.state;
    status = { state: next.state, reason: next.reason || '' };
    redrawStats();
    if (changed) { refreshDetail(); refreshLogSoon(); }
  });

  return () => {
    source.close();
    clearInterval(ticker);
    clearTimeout(logTimer);
    curves.destroy();
    system.destroy();
    setConnection('', false);
  };
}

export { errorBox };
