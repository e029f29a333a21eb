// dashboard/web/app.js: the router. The hash names the view (#/ projects, #/project/P,
// #/run/P/R, #/compare/P?runs=A,B, #/credits); each view draws into <main> and returns
// a function that stops what it started (streams, timers, charts) when the view changes.
import { errorBox, setConnection } from './api.js';
import { projectsView, creditsView } from './views.js';
import { runView } from './run_view.js';
import { compareView } from './compare_view.js';

const main = document.getElementById('main');
let cleanup = () => {};
let generation = 0;

function parseHash() {
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const [path, queryText] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(queryText || '') };
}

function markNav(name) {
  for (const link of document.querySelectorAll('header nav a')) link.classList.toggle('active', link.id === `nav-${name}`);
}

async function route() {
  const mine = ++generation;
  cleanup();
  cleanup = () => {};
  setConnection('', false);
  const { parts, query } = parseHash();
  let view;
  if (parts[0] === 'run' && parts.length === 3) view = () => runView(main, parts[1], parts[2]);
  else if (parts[0] === 'compare' && parts.length === 2) view = () => compareView(main, parts[1], query);
  else if (parts[0] === 'project' && parts.length === 2) view = () => projectsView(main, parts[1]);
  else if (parts[0] === 'credits') view = () => creditsView(main);
  else view = () => projectsView(main, null);
  markNav(parts[0] === 'credits' ? 'credits' : 'projects');
  try {
    const stop = await view();
    if (mine !== generation) stop();  // the user moved on while it loaded
    else cleanup = stop;
  } catch (error) {
    if (mine === generation) main.replaceChildren(errorBox(error));
  }
}

window.addEventListener('hashchange', route);
route();
