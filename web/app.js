// The cabinet's shell: session, API calls (with the CSRF token), navigation by role, the
// login form, and small DOM helpers shared by the pages. Text is always set as text, never
// as HTML, so nothing a caller or a user typed can run in the page.
import { t, setLang, currentLang, errorText } from './i18n.js';
import { pages } from './pages.js';
import { startPhone, stopPhone, hasPhone } from './phone.js';
import { refreshMissedBadge } from './missed.js';

export const state = { me: null };

/** Calls the API; throws an Error with the server's message on failure. */
export async function api(method, path, body, opts = {}) {
  const headers = {};
  if (state.me && state.me.csrf && method !== 'GET') headers['X-CSRF-Token'] = state.me.csrf;
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) { payload = body; headers['Content-Type'] = opts.type || 'application/octet-stream'; }
  else if (body !== undefined) { payload = JSON.stringify(body); headers['Content-Type'] = 'application/json'; }
  const r = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (r.status === 401 && !opts.quiet) { state.me = null; render(); throw new Error(t('login')); }
  if (!r.ok) {
    let msg = r.statusText; let j = {};
    try { j = await r.json(); msg = errorText(j, msg); if (j.reason === 'suspended') msg = t('suspended'); } catch (_) { /* not JSON */ }
    const e = new Error(msg); e.status = r.status; e.body = j; throw e;
  }
  if (r.status === 204) return null;
  const ct = r.headers.get('content-type') || '';
  return ct.includes('json') ? r.json() : r.text();
}

/** Builds an element: el('td', {class: 'x', onclick: f}, 'text', child...). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'value') e.value = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/** A table row whose cells carry their column's title (a phone shows each row as a card). */
export function labelledRow(cols, cells) {
  return el('tr', {}, cells.map((c, i) => el('td', { 'data-label': typeof cols[i] === 'string' && cols[i] ? cols[i] : null }, c)));
}

/** A table from column titles and rows of cells. */
export function table(cols, rows) {
  return el('div', { class: 'scroll', tabindex: '0' }, el('table', {}, el('thead', {}, el('tr', {}, cols.map((c) => el('th', {}, c)))),
    el('tbody', {}, rows.length ? rows.map((r) => labelledRow(cols, r)) : el('tr', {}, el('td', { colspan: cols.length, class: 'muted' }, t('nothing'))))));
}

/** Shows a short message. */
export function toast(msg, bad = false) {
  const b = document.getElementById('toast');
  b.textContent = msg; b.className = bad ? 'bad' : ''; b.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { b.hidden = true; }, 4000);
}

/** Runs an action and reports its error to the user. */
export async function attempt(f) {
  try { return await f(); } catch (e) { toast(e.message, true); return undefined; }
}

/** A time in the tenant's time zone. */
export function fmtTime(ms) {
  if (!ms) return '';
  const tz = state.me && state.me.tenant ? state.me.tenant.timezone : undefined;
  try { return new Intl.DateTimeFormat(currentLang() === 'ru' ? 'ru-RU' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium', timeZone: tz }).format(new Date(ms)); }
  catch (_) { return new Date(ms).toISOString(); }
}

/** Today's date (YYYY-MM-DD) in the tenant's zone, shifted by `days`. */
export function isoDay(days = 0) {
  const tz = state.me && state.me.tenant ? state.me.tenant.timezone : undefined;
  const d = new Date(Date.now() + days * 86400000);
  try { return new Intl.DateTimeFormat('en-CA', { timeZone: tz }).format(d); } catch (_) { return d.toISOString().slice(0, 10); }
}

/** Which pages each role sees, in menu order. */
const MENU = {
  operator: ['tenants', 'tariffs', 'trunks', 'tokens', 'audit', 'account'],
  supervisor: ['dashboard', 'phone', 'calls', 'missed_calls', 'colleagues', 'recordings', 'stats', 'users', 'groups', 'contacts', 'blocklist', 'numbers', 'plugins', 'prompts', 'queues', 'queue_reports', 'wallboard', 'tokens', 'webhooks', 'organization', 'balance', 'audit', 'forwarding', 'account'],
  user: ['dashboard', 'phone', 'calls', 'missed_calls', 'colleagues', 'stats', 'contacts', 'forwarding', 'account'],
};

let cleanup = null;
/** Counts renders: a page that finishes loading after the user went elsewhere is dropped. */
let renderSeq = 0;

/** Draws the page of the address (or the login form). */
export async function render() {
  const seq = ++renderSeq;
  if (cleanup) { cleanup(); cleanup = null; }
  const view = document.getElementById('view');
  const nav = document.getElementById('nav');
  document.getElementById('logout').textContent = t('logout');
  document.getElementById('lang').value = currentLang();
  if (!state.me) {
    nav.replaceChildren(); document.getElementById('who').textContent = '';
    document.getElementById('logout').hidden = true;
    view.replaceChildren(loginForm());
    return;
  }
  const role = state.me.role;
  const allowed = MENU[role].filter((p) => p !== 'phone' || hasPhone());
  // The phone rings on every page once signed in.
  startPhone();
  let page = (location.hash.replace(/^#\/?/, '').split('/')[0]) || allowed[0];
  const pageKey = page === 'tokens' && role === 'operator' ? 'operator_tokens' : page;
  nav.replaceChildren(...allowed.map((p) => el('a', { href: '#/' + p, class: p === page ? 'active' : null }, t(p))));
  if (page !== 'missed_calls' && role !== 'operator') refreshMissedBadge();
  document.getElementById('who').textContent = state.me.name + (state.me.tenant ? ' @ ' + state.me.tenant.name : '') + ' (' + t(role) + ')';
  document.getElementById('logout').hidden = false;
  if (!allowed.includes(page) || !pages[pageKey]) {
    view.replaceChildren(el('h2', {}, t('forbidden')), el('p', { class: 'muted', id: 'forbidden' }, t('forbidden')));
    return;
  }
  view.replaceChildren(el('p', { class: 'muted' }, '…'));
  let leave = null;
  try {
    const content = await pages[pageKey]({ params: location.hash.split('/').slice(2).map(decodeURIComponent), onLeave: (f) => { leave = f; } });
    if (seq !== renderSeq) { if (leave) leave(); return; }
    cleanup = leave;
    view.replaceChildren(el('h2', {}, t(page)), content);
  } catch (e) {
    if (seq !== renderSeq) return;
    view.replaceChildren(el('h2', {}, t(page)), el('p', { class: 'bad' }, e.message));
  }
}

function loginForm() {
  const login = el('input', { name: 'login', autocomplete: 'username', required: true, placeholder: '101@acme' });
  const password = el('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const msg = el('p', { class: 'bad', id: 'login-error' });
  const form = el('form', { class: 'card login', onsubmit: async (ev) => {
    ev.preventDefault(); msg.textContent = '';
    try { state.me = await api('POST', '/api/v1/login', { login: login.value, password: password.value }, { quiet: true }); render(); }
    catch (e) {
      const b = e.body || {};
      if (e.status === 429) msg.textContent = t('throttled').replace('{s}', b.retry_after ?? '');
      else if (e.status === 401) msg.textContent = t('wrong_login') + (b.remaining !== undefined ? ' ' + t('attempts_left').replace('{n}', b.remaining) : '');
      else msg.textContent = e.message;
    }
  } },
  el('h2', {}, t('login')), el('p', { class: 'muted' }, t('login_hint')),
  el('label', {}, t('login_field'), login), el('label', {}, t('password'), password), el('button', { type: 'submit' }, t('login')), msg);
  return form;
}

async function boot() {
  document.getElementById('lang').addEventListener('change', (e) => { setLang(e.target.value); render(); });
  document.getElementById('logout').addEventListener('click', async () => { await attempt(() => api('POST', '/api/v1/logout')); stopPhone(); state.me = null; location.hash = ''; render(); });
  document.getElementById('menu-toggle').addEventListener('click', () => document.body.classList.toggle('menu-open'));
  // A page with unsaved changes (the scenario editor) sets state.leaveGuard: leaving asks first.
  let shown = location.hash;
  window.addEventListener('hashchange', () => {
    if (state.leaveGuard && state.leaveGuard() && !confirm(t('unsaved_confirm'))) { history.replaceState(null, '', shown || '#'); return; }
    state.leaveGuard = null; shown = location.hash;
    document.body.classList.remove('menu-open'); render();
  });
  window.addEventListener('beforeunload', (e) => { if (state.leaveGuard && state.leaveGuard()) e.preventDefault(); });
  setLang(currentLang());
  try { state.me = await api('GET', '/api/v1/me', undefined, { quiet: true }); } catch (_) { state.me = null; }
  render();
}

boot();
