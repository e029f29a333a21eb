// dashboard/web/compare_view.js: runs of one project side by side. The picker lists the
// project's runs; the chosen ones (in the address, #/compare/P?runs=A,B) are overlaid on
// the per-epoch charts, one colour per run, then compared on their final metrics and
// their settings (config.yaml), with "differences only" on by default. It refreshes
// every 10 s while one of them is still training.
import { fill, api, projectPath, compareHash, runHash, el, fixed, credits, duration, stateBadge } from './api.js';
import { CurveSet, RUN_COLOURS } from './charts.js';

function picker(project, allRuns, chosen) {
  const boxes = allRuns.map((run) => el('label', {},
    el('input', { type: 'checkbox', value: run.name, checked: chosen.includes(run.name), 'data-run': run.name }),
    ' ', run.name));
  const apply = () => {
    const names = boxes.map((label) => label.querySelector('input')).filter((box) => box.checked).map((box) => box.value);
    window.location.hash = compareHash(project, names);
  };
  boxes.forEach((label) => label.querySelector('input').addEventListener('change', apply));
  return el('div', { class: 'card picker', id: 'picker' }, el('h2', {}, 'Runs'), boxes);
}

function metricsTable(runs) {
  const header = ['run', 'state', 'epochs', 'best epoch', 'best mAP50', 'best mAP50-95', 'final mAP50-95', 'train time',
    'cost'];
  return el('div', { class: 'card' }, el('h2', {}, 'Final metrics'),
    el('table', { id: 'final-metrics' },
      el('thead', {}, el('tr', {}, header.map((h, i) => el('th', { class: i >= 2 ? 'num' : null }, h)))),
      el('tbody', {}, runs.map((run, r) => el('tr', {},
        el('td', {}, el('span', { class: 'swatch', 'data-colour': RUN_COLOURS[r % RUN_COLOURS.length] }),
          el('a', { href: runHash(run.project, run.name) }, run.name)),
        el('td', {}, stateBadge(run.state, run.reason)),
        el('td', { class: 'num' }, run.epochs ? `${run.epochs_done}/${run.epochs}` : run.epochs_done),
        el('td', { class: 'num' }, run.best_epoch ?? '–'),
        el('td', { class: 'num' }, fixed(run.best_map50)),
        el('td', { class: 'num' }, fixed(run.best_map50_95)),
        el('td', { class: 'num' }, fixed(run.final_map50_95)),
        el('td', { class: 'num' }, duration(run.elapsed_s)),
        el('td', { class: 'num' }, credits(run.cost)))))));
}

function settingsTable(runs, differing, view) {
  const keys = (runs[0] && runs[0].settings.map(([key]) => key)) || [];
  const values = runs.map((run) => Object.fromEntries(run.settings));
  const differs = new Set(differing);
  const body = el('tbody');
  const toggle = el('input', { type: 'checkbox', id: 'diff-only', checked: view.diffOnly });
  const draw = () => fill(body, ...keys
    .filter((key) => !toggle.checked || differs.has(key))
    .map((key) => el('tr', { class: differs.has(key) ? 'differs' : null, 'data-key': key },
      el('td', {}, key), runs.map((run, r) => el('td', {}, values[r][key] ?? '–')))));
  toggle.addEventListener('change', () => { view.diffOnly = toggle.checked; draw(); });
  draw();
  return el('div', { class: 'card' },
    el('div', { class: 'card-head' }, el('h2', {}, 'Settings'),
      el('label', { class: 'actions' }, toggle, ` differences only (${differing.length})`)),
    el('div', { class: 'scroll' }, el('table', { id: 'settings-diff' },
      el('thead', {}, el('tr', {}, el('th', {}, 'setting'), runs.map((run) => el('th', {}, run.name)))), body)));
}

export async function compareView(main, project, query) {
  const chosen = (query.get('runs') || '').split(',').filter(Boolean);
  const projectInfo = await api(projectPath(project));
  const allRuns = projectInfo.runs.filter((run) => !run.queued);
  const header = el('div', {}, el('div', { class: 'breadcrumb' }, el('a', { href: '#/' }, 'Projects'), ' / ', project),
    el('h1', {}, `Compare runs of ${project}`));
  const content = el('div');
  fill(main, header, picker(project, allRuns, chosen), content);
  if (chosen.length === 0) {
    content.append(el('p', { class: 'muted' }, 'Pick runs above to overlay their curves.'));
    return () => {};
  }
  const url = `${projectPath(project)}/compare?runs=${chosen.map(encodeURIComponent).join(',')}`;
  let data = await api(url);
  const chartsHost = el('div');
  const tables = el('div');
  content.append(chartsHost, tables);
  const view = { diffOnly: true };  // kept across refreshes
  const curves = new CurveSet(chartsHost, data.runs.map((run) => ({ label: run.name })));
  const draw = () => {
    data.runs.forEach((run, r) => curves.setEpochs(r, run.epoch_records));
    fill(tables, metricsTable(data.runs), settingsTable(data.runs, data.differing_settings, view));
    tables.querySelectorAll('.swatch').forEach((swatch) => { swatch.style.background = swatch.dataset.colour; });
  };
  draw();
  const ticker = setInterval(async () => {
    if (data.runs.every((run) => run.finished)) return;
    try { data = await api(url); draw(); } catch (e) { /* next tick */ }
  }, 10000);
  return () => { clearInterval(ticker); curves.destroy(); };
}
