// dashboard/web/charts.js: the curves, drawn with Chart.js (window.Chart, from Debian's
// libjs-chart.js). One CurveSet draws the per-epoch charts of one run (train solid, val
// dashed, each series its own colour) or of several runs overlaid (one colour per run),
// from metrics.jsonl "epoch" records, and the GPU charts from "system" records. Each
// chart's container carries data-points (the points drawn), which the browser tests read.
import { el } from './api.js';

export const RUN_COLOURS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4d7c0f', '#be185d'];
const SERIES_COLOURS = ['#2563eb', '#ea580c', '#16a34a'];

const lr = (i) => (r) => (Array.isArray(r.lr) ? r.lr[i] : null);
const key = (k) => (r) => r[k];

// The per-epoch charts: the reference trainer's results plot, plus learning rates.
export const EPOCH_CHARTS = [
  { id: 'box', title: 'box loss', series: [['train', key('box_loss')], ['val', key('val_box_loss'), true]] },
  { id: 'cls', title: 'cls loss', series: [['train', key('cls_loss')], ['val', key('val_cls_loss'), true]] },
  { id: 'dfl', title: 'dfl loss', series: [['train', key('dfl_loss')], ['val', key('val_dfl_loss'), true]] },
  { id: 'precision', title: 'precision (B)', series: [['precision', key('precision')]] },
  { id: 'recall', title: 'recall (B)', series: [['recall', key('recall')]] },
  { id: 'mAP50', title: 'mAP50 (B)', series: [['mAP50', key('mAP50')]] },
  { id: 'mAP50-95', title: 'mAP50-95 (B)', series: [['mAP50-95', key('mAP50-95')]] },
  { id: 'lr', title: 'learning rate', series: [['pg0', lr(0)], ['pg1', lr(1), true], ['pg2', lr(2), true]] },
];

// Axis numbers short enough to read: 0.25, 1.5e-5, 1200.
function tickText(value) {
  const v = Number(value);
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

function makeChart(container, title, id, xLabel) {
  const canvas = el('canvas');
  const box = el('div', { class: 'chart-box' }, canvas);
  const card = el('div', { class: 'chart-card', id: `chart-${id}`, 'data-points': '0' }, el('h3', {}, title), box);
  container.append(card);
  const chart = new window.Chart(canvas, {
    type: 'line',
    data: { datasets: [] },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', intersect: false },
      scales: {
        x: { type: 'linear', title: { display: true, text: xLabel }, ticks: { precision: xLabel === 'epoch' ? 0 : undefined } },
        y: { beginAtZero: false, ticks: { callback: tickText } },
      },
      plugins: { legend: { labels: { usePointStyle: true, pointStyle: 'line', boxWidth: 22, font: { size: 11 } } } },
      elements: { point: { radius: 2 }, line: { borderWidth: 2, tension: 0 } },
    },
  });
  return { card, chart };
}

function updateChart(entry) {
  entry.chart.update('none');
  const points = entry.chart.data.datasets.reduce((sum, d) => sum + d.data.length, 0);
  entry.card.dataset.points = String(points);
}

export class CurveSet {
  // runs: [{label}] (one entry: a single run, series coloured by series)
  constructor(container, runs) {
    this.runs = runs;
    this.grid = el('div', { class: 'charts' });
    container.append(this.grid);
    this.charts = EPOCH_CHARTS.map((def) => {
      const entry = makeChart(this.grid, def.title, def.id, 'epoch');
      entry.def = def;
      runs.forEach((run, r) => def.series.forEach(([name, , dashed], s) => {
        const colour = runs.length === 1 ? SERIES_COLOURS[s % SERIES_COLOURS.length] : RUN_COLOURS[r % RUN_COLOURS.length];
        entry.chart.data.datasets.push({
          label: runs.length === 1 ? name : (def.series.length > 1 ? `${run.label} ${name}` : run.label),
          data: [], borderColor: colour, backgroundColor: colour, borderDash: dashed ? [5, 4] : [],
          spanGaps: true,
        });
      }));
      return entry;
    });
  }

  // Replaces run r's curves with `records` (epoch records, in epoch order).
  setEpochs(r, records) {
    for (const entry of this.charts) {
      entry.def.series.forEach(([, value], s) => {
        const dataset = entry.chart.data.datasets[r * entry.def.series.length + s];
        dataset.data = records.map((rec) => ({ x: rec.epoch, y: value(rec) ?? null })).filter((p) => p.y !== null);
      });
      updateChart(entry);
    }
  }

  destroy() { this.charts.forEach((entry) => entry.chart.destroy()); }
}

// GPU utilisation and memory from "system" records (keys with "util" / "mem"), against
// minutes since the run's first record. Hidden until a system record arrives.
export class SystemCharts {
  constructor(container) {
    this.grid = el('div', { class: 'charts' });
    this.grid.hidden = true;
    container.append(this.grid);
    this.util = makeChart(this.grid, 'GPU utilisation (%)', 'gpu-util', 'minutes');
    this.mem = makeChart(this.grid, 'GPU memory (GB)', 'gpu-mem', 'minutes');
    this.start = null;
  }

  setStart(wallTime) { if (this.start === null || wallTime < this.start) this.start = wallTime; }

  add(record, redraw = true) {
    if (this.start === null) this.start = record.wall_time;
    const x = (record.wall_time - this.start) / 60;
    for (const [name, value] of Object.entries(record)) {
      if (typeof value !== 'number' || name === 'wall_time') continue;
      const target = /util/i.test(name) ? this.util : /mem/i.test(name) ? this.mem : null;
      if (!target) continue;
      let dataset = target.chart.data.datasets.find((d) => d.label === name);
      if (!dataset) {
        const colour = SERIES_COLOURS[target.chart.data.datasets.length % SERIES_COLOURS.length];
        dataset = { label: name, data: [], borderColor: colour, backgroundColor: colour, pointRadius: 0 };
        target.chart.data.datasets.push(dataset);
      }
      dataset.data.push({ x, y: value });
      this.grid.hidden = false;
    }
    if (redraw) this.redraw();
  }

  clear() {
    for (const target of [this.util, this.mem]) target.chart.data.datasets = [];
    this.start = null;
    this.redraw();
  }

  redraw() { updateChart(this.util); updateChart(this.mem); }

  destroy() { this.util.chart.destroy(); this.mem.chart.destroy(); }
}
