// tests/integration/dashboard_browser.js SHRIKE WORK ARTIFACTS: the dashboard in headless
// Chromium (see dashboard_browser.sh). It starts `shrike serve` itself (and restarts it on
// the same port), opens the printed URL, and checks each page as a user sees it; the
// charts' containers carry data-points (the points drawn). Screenshots go to ARTIFACTS.
const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const [shrike, work, artifacts] = process.argv.slice(2);
const failures = [];
const check = (ok, message) => { if (!ok) { failures.push(message); console.log(`FAIL: ${message}`); } };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function startServer(port) {
  return new Promise((resolve, reject) => {
    const proc = spawn(shrike, ['serve', '--runs', path.join(work, 'runs'), '--port', String(port)],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 15000);
    const onData = (chunk) => {
      output += chunk;
      const match = output.match(/^open +(\S+)/m);
      if (match) { clearTimeout(timer); resolve({ proc, url: match[1] }); }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`serve exited ${code}: ${output}`)));
  });
}

function stopServer(server) {
  return new Promise((resolve) => { server.proc.on('exit', resolve); server.proc.kill('SIGINT'); });
}

const points = (page, chart) => page.$eval(`#chart-${chart}`, (node) => Number(node.dataset.points));
async function waitFor(what, predicate, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await predicate()) return true;
    await sleep(250);
  }
  check(false, `timed out after ${timeoutMs / 1000} s waiting for ${what}`);
  return false;
}
const epochRecords = () => fs.readFileSync(path.join(work, 'runs/demo/live/metrics.jsonl'), 'utf8')
  .split('\n').filter((line) => line.includes('"type":"epoch"')).length;

(async () => {
  let server = await startServer(0);
  const base = server.url.split('/?')[0];
  const port = Number(new URL(base).port);
  const context = await chromium.launchPersistentContext(path.join(work, 'chromium-profile'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  let restarting = false;
  page.on('pageerror', (error) => check(false, `page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !restarting) check(false, `console error: ${message.text()}`);
  });
  let metricsRequests = 0;
  page.on('request', (request) => { if (request.url().includes('/metrics')) metricsRequests++; });

  // 1. The project page lists the runs; the token moved from the address into a cookie.
  await page.goto(server.url);
  await page.waitForSelector('section[data-project="demo"] tr[data-run="live"]', { timeout: 15000 });
  const runs = await page.$$eval('section[data-project="demo"] tbody tr', (rows) => rows.map((row) => row.dataset.run));
  check(JSON.stringify(runs) === JSON.stringify(['a', 'b', 'live']), `project page lists ${runs}`);
  check(!page.url().includes('token='), `the token stays in the address bar: ${page.url()}`);
  const stateOfA = await page.$eval('tr[data-run="a"] .badge', (node) => node.textContent);
  check(stateOfA === 'completed', `run a's state on the project page: ${stateOfA}`);
  const costOfLive = await page.$eval('tr[data-run="live"] td:nth-child(8)', (node) => node.textContent);
  check(/cr$/.test(costOfLive), `the settled live run's cost on the project page: ${costOfLive}`);
  await page.screenshot({ path: path.join(artifacts, 'projects.png'), fullPage: true });

  // 2. Compare: tick a and b, overlay their curves, the settings that differ.
  await page.check('tr[data-run="a"] input[type=checkbox]');
  await page.check('tr[data-run="b"] input[type=checkbox]');
  await page.click('section[data-project="demo"] button.primary');
  await page.waitForSelector('#settings-diff tr[data-key="lr0"]', { timeout: 15000 });
  check(await points(page, 'mAP50-95') === 4, `compare mAP50-95 chart: ${await points(page, 'mAP50-95')} points, expected 2 runs x 2`);
  check(await points(page, 'box') === 8, `compare box loss chart: ${await points(page, 'box')} points, expected 2 runs x (train, val) x 2`);
  const datasets = await page.$eval('#chart-mAP50-95 canvas', (canvas) => window.Chart.getChart(canvas).data.datasets.map((d) => d.label));
  check(JSON.stringify(datasets) === JSON.stringify(['a', 'b']), `compare datasets: ${datasets}`);
  const lr0 = await page.$$eval('#settings-diff tr[data-key="lr0"] td', (cells) => cells.map((c) => c.textContent));
  check(JSON.stringify(lr0) === JSON.stringify(['lr0', '0.01', '0.02']), `settings diff row: ${lr0}`);
  const diffRows = await page.$$eval('#settings-diff tbody tr', (rows) => rows.length);
  await page.uncheck('#diff-only');
  const allRows = await page.$$eval('#settings-diff tbody tr', (rows) => rows.length);
  check(diffRows === 1 && allRows > 40, `diff-only toggle: ${diffRows} rows, then ${allRows}`);
  await page.screenshot({ path: path.join(artifacts, 'compare.png'), fullPage: true });

  // 3. GPU charts appear for a run whose metrics.jsonl has system records (and only then).
  await page.goto(`${base}/#/run/demo/b`);
  await page.waitForSelector('#chart-gpu-util', { timeout: 15000 });
  await waitFor('the GPU charts of run b', async () => (await points(page, 'gpu-util')) === 3, 10000);
  check(await points(page, 'gpu-mem') === 3, `GPU memory chart: ${await points(page, 'gpu-mem')} points`);
  check(await page.isVisible('#chart-gpu-util'), 'the GPU utilisation chart is hidden');
  await page.goto(`${base}/#/run/demo/a`);
  await page.waitForFunction(() => document.querySelector('main h1')?.textContent === 'a' &&
    document.querySelector('#chart-gpu-util'), null, { timeout: 15000 });
  check(!(await page.isVisible('#chart-gpu-util')), 'run a has no system records but shows GPU charts');

  // 4. The live run: its chart gains points as epochs are written, through the event stream.
  metricsRequests = 0;
  await page.goto(`${base}/#/run/demo/live`);
  await page.waitForSelector('#chart-mAP50-95', { timeout: 15000 });
  await waitFor('a first epoch of the live run', async () => (await points(page, 'mAP50-95')) >= 1, 60000);
  const before = await points(page, 'mAP50-95');
  await waitFor('the live chart to gain a point', async () => (await points(page, 'mAP50-95')) > before, 60000);
  check(metricsRequests === 1, `the run page fetched /metrics ${metricsRequests} times: once, then it should stream`);
  const connection = await page.$eval('#connection', (node) => node.textContent);
  check(connection === 'live', `connection indicator: ${connection}`);
  const state = await page.$eval('#run-state .badge', (node) => node.textContent);
  check(state === 'running', `live run state: ${state}`);
  await page.screenshot({ path: path.join(artifacts, 'run.png'), fullPage: true });

  // 5. A server restart: the open page reconnects (same port, kept token) and resumes
  // after the last event id, neither missing nor repeating epochs; a reload works too.
  restarting = true;
  await stopServer(server);
  await waitFor('the page to notice the server went away',
    async () => (await page.$eval('#connection', (node) => node.textContent)) !== 'live', 15000);
  await sleep(1500);  // the trainer writes on meanwhile
  server = await startServer(port);
  await waitFor('the event stream to reconnect',
    async () => (await page.$eval('#connection', (node) => node.textContent)) === 'live', 20000);
  restarting = false;
  const afterRestart = await points(page, 'mAP50-95');
  await waitFor('a point after the restart', async () => (await points(page, 'mAP50-95')) > afterRestart, 60000);
  const drawn = await points(page, 'mAP50-95');
  const written = epochRecords();
  check(drawn <= written && drawn >= written - 1, `after the restart the chart has ${drawn} points, metrics.jsonl ${written} epochs`);
  await page.reload();
  await page.waitForSelector('#chart-mAP50-95', { timeout: 15000 });
  await waitFor('the reloaded page to draw the run', async () => (await points(page, 'mAP50-95')) >= drawn, 15000);
  await page.screenshot({ path: path.join(artifacts, 'run-after-restart.png'), fullPage: true });

  // 6. Credits: the live run was settled, so the account shows its charge.
  await page.goto(`${base}/#/credits`);
  await page.waitForSelector('section.account', { timeout: 15000 });
  const charged = await page.$$eval('#charges tbody tr td:first-child', (cells) => cells.map((c) => c.textContent));
  check(charged.includes('demo/live'), `charges per run: ${charged}`);
  await page.screenshot({ path: path.join(artifacts, 'credits.png'), fullPage: true });

  await context.close();
  await stopServer(server);
  console.log(failures.length ? `${failures.length} failure(s)` : 'browser checks passed');
  process.exit(failures.length ? 1 : 0);
})().catch((error) => { console.error(`FAIL: ${error.stack || error}`); process.exit(1); });
