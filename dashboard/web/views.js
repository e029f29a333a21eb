// dashboard/web/views.js: the projects page (every project under the runs folder with
// its runs: state and reason, epoch progress, best mAP50-95, cost; refreshed every 5 s,
// runs can be ticked for comparison) and the credits page (balance, holds, charges per
// run and recent history of each of the user's accounts, from the ledger).
import {
  fill, api, projectPath, runHash, compareHash, el, fixed, credits, duration, stateBadge, progressBar, errorBox,
} from './api.js';

function sourcesLine(overview) {
  const ledger = { none: 'no ledger yet', file: 'ledger (read only)', helper: 'ledger through shrike-ledger' };
  return el('p', { class: 'small muted', id: 'sources' },
    `runs: ${overview.runs_root}${overview.runs_root_exists ? '' : ' (does not exist yet)'} · ` +
    `${ledger[overview.ledger.access] || overview.ledger.access} · ` +
    `${overview.registry.present ? 'job registry' : 'no job registry'} · user ${overview.user}`,
    overview.ledger.note ? el('span', { class: 'reason' }, overview.ledger.note) : null,
    overview.registry.note ? el('span', { class: 'reason' }, overview.registry.note) : null);
}

function runRow(project, run, selected, onToggle) {
  const epochText = run.progress && run.state === 'running'
    ? el('span', { class: 'reason' }, `epoch ${run.progress.epoch}, batch ${run.progress.batch}/${run.progress.batches}`)
    : null;
  return el('tr', { 'data-run': run.name },
    el('td', {}, run.queued ? null : el('input', {
      type: 'checkbox', checked: selected.has(run.name), title: 'select for comparison',
      onchange: (e) => onToggle(run.name, e.target.checked),
    })),
    el('td', {}, run.queued ? run.name : el('a', { href: runHash(project, run.name), class: 'run-link' }, run.name)),
    el('td', {}, stateBadge(run.state, run.reason)),
    el('td', {}, progressBar(run.epochs_done, run.epochs), epochText),
    el('td', { class: 'num' }, fixed(run.best_map50_95)),
    el('td', { class: 'num' }, fixed(run.final_map50_95)),
    el('td', { class: 'num' }, duration(run.elapsed_s)),
    el('td', { class: 'num' }, credits(run.cost)),
    el('td', { class: 'small' }, run.job ? `${run.job.job_id} ${run.job.state}` : ''));
}

function projectCard(project, selectedByProject, redraw) {
  const selected = selectedByProject.get(project.name) || new Set();
  selectedByProject.set(project.name, selected);
  const compareButton = el('button', {
    class: 'primary', disabled: selected.size === 0,
    onclick: () => { window.location.hash = compareHash(project.name, [...selected]); },
  }, selected.size ? `Compare ${selected.size} selected` : 'Compare selected');
  const onToggle = (name, on) => { if (on) selected.add(name); else selected.delete(name); redraw(); };
  const header = ['', 'run', 'state', 'epoch', 'best mAP50-95', 'final mAP50-95', 'train time', 'cost', 'Slurm job'];
  return el('section', { class: 'card project', 'data-project': project.name },
    el('div', { class: 'card-head' },
      el('h2', {}, el('a', { href: `#/project/${encodeURIComponent(project.name)}` }, project.name)),
      el('span', { class: 'muted' }, `${project.runs.length} run${project.runs.length === 1 ? '' : 's'}`),
      el('span', { class: 'actions' }, compareButton,
        el('a', { class: 'button', href: compareHash(project.name, project.runs.filter((r) => !r.queued).map((r) => r.name)) },
          'Compare all'))),
    el('table', { class: 'runs' },
      el('thead', {}, el('tr', {}, header.map((h, i) => el('th', { class: i >= 4 && i <= 7 ? 'num' : null }, h)))),
      el('tbody', {}, project.runs.map((run) => runRow(project.name, run, selected, onToggle)))));
}

// Projects (all, or one when `only` is given).
export async function projectsView(main, only) {
  const selectedByProject = new Map();
  let overview = null;
  let failure = null;
  const draw = () => {
    if (!overview) { fill(main, errorBox(failure)); return; }
    const projects = only ? overview.projects.filter((p) => p.name === only) : overview.projects;
    fill(main,
      el('h1', {}, only ? `Project ${only}` : 'Projects'),
      sourcesLine(overview),
      failure ? errorBox(failure) : null,
      projects.length ? projects.map((p) => projectCard(p, selectedByProject, draw))
        : el('p', { class: 'muted' }, only ? `No runs in project ${only}.`
          : 'No runs yet. Runs appear here as `shrike train project=NAME` writes them under the runs folder.'));
  };
  const load = async () => {
    try {
      overview = await api('/api/overview');
      failure = null;
    } catch (error) { failure = error; }
    draw();
  };
  await load();
  const ticker = setInterval(load, 5000);
  return () => clearInterval(ticker);
}

function table(id, header, rows, numeric) {
  return el('table', { id },
    el('thead', {}, el('tr', {}, header.map((h, i) => el('th', { class: numeric.includes(i) ? 'num' : null }, h)))),
    el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: header.length, class: 'muted' }, 'none'))));
}

function accountCard(account) {
  const stat = (label, value) => el('div', { class: 'stat' }, el('span', { class: 'label' }, label),
    el('span', { class: 'value' }, value));
  const runCell = (project, run) => (project ? el('a', { href: runHash(project, run) }, `${project}/${run}`) : run);
  return el('section', { class: 'card account', 'data-account': account.account },
    el('h2', {}, `Account ${account.account}`),
    account.exists ? null : el('p', { class: 'muted' }, 'This account has no ledger entries yet.'),
    el('div', { class: 'stats' }, stat('balance', credits(account.balance)), stat('available', credits(account.available)),
      stat('held by running jobs', credits(account.held)), stat('credited', credits(account.credited)),
      stat('spent', credits(account.spent))),
    el('h3', {}, 'Open holds'),
    table('holds', ['job', 'run', 'instance', 'GPUs', 'held', 'remaining', 'since'], account.holds.map((h) => el('tr', {},
      el('td', {}, h.job_id || h.job_key), el('td', {}, runCell(h.project, h.run)), el('td', {}, h.instance),
      el('td', { class: 'num' }, h.gpus), el('td', { class: 'num' }, credits(h.held)),
      el('td', { class: 'num' }, credits(h.remaining)), el('td', { class: 'small' }, h.created_at))), [3, 4, 5]),
    el('h3', {}, 'Charges per run'),
    table('charges', ['run', 'Slurm jobs', 'GPU-hours', 'charges', 'amount'], account.charges_per_run.map((c) => el('tr', {},
      el('td', {}, runCell(c.project, c.run)), el('td', {}, c.job_ids), el('td', { class: 'num' }, c.gpu_hours.toFixed(3)),
      el('td', { class: 'num' }, c.charges), el('td', { class: 'num' }, credits(c.amount)))), [2, 3, 4]),
    el('h3', {}, 'Recent history'),
    el('div', { class: 'scroll' }, table('history', ['time', 'kind', 'memo', 'job', 'wallet change'],
      account.history.map((h) => el('tr', {}, el('td', { class: 'small' }, h.time), el('td', {}, h.kind),
        el('td', { class: 'small' }, h.memo), el('td', {}, h.job_id), el('td', { class: 'num' }, credits(h.wallet_change)))),
      [4])));
}

export async function creditsView(main) {
  const data = await api('/api/credits');
  const intro = data.ledger.access === 'none'
    ? el('p', { class: 'muted', id: 'no-ledger' }, `No ledger yet at ${data.ledger.path}: nothing has been charged.`)
    : el('p', { class: 'small muted' }, `ledger ${data.ledger.path} (${data.ledger.access === 'file' ? 'read only'
      : 'through shrike-ledger'}) · user ${data.user}`);
  fill(main, el('h1', {}, 'Credits'), intro, data.notes.map((note) => el('p', { class: 'error' }, note)),
    data.ledger.access === 'none' ? null : data.accounts.map(accountCard));
  return () => {};
}
