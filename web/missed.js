// Missed and not called back: numbers whose calls nobody answered and whom nobody of the
// company has reached since (the list clears itself), with a call-back button, and the count
// as a badge on the menu. A supervisor sees the company's list (or only their own), an
// employee the calls that rang them.
import { t } from './i18n.js';
import { api, el, table, toast, attempt, fmtTime, state } from './app.js';

/** Shows `n` on the menu's link to this page (nothing when 0). */
function setBadge(n) {
  const a = document.querySelector('#nav a[href="#/missed_calls"]');
  if (!a) return;
  let b = a.querySelector('.badge');
  if (!n) { if (b) b.remove(); return; }
  if (!b) { b = el('span', { class: 'badge', id: 'missed-badge' }); a.append(' ', b); }
  b.textContent = String(n);
}

/** Refreshes the menu's badge (the company's count for a supervisor, else the own). */
export async function refreshMissedBadge() {
  try { setBadge((await api('GET', '/api/v1/missed', undefined, { quiet: true })).items.length); } catch (_) { /* the menu stays as it is */ }
}

/** The page. */
export async function missedPage() {
  const supervisor = state.me.role === 'supervisor';
  let mine = false;
  const wrap = el('div', { id: 'missed' });
  const out = el('div');
  const toggle = supervisor ? el('label', { class: 'check' }, el('input', { type: 'checkbox', id: 'missed-mine', onchange: (e) => { mine = e.target.checked; attempt(load); } }), t('missed_mine')) : null;
  async function load() {
    const r = await api('GET', '/api/v1/missed' + (mine ? '?mine=true' : ''));
    if (!mine) setBadge(r.items.length);
    out.replaceChildren(table([t('number'), t('name'), t('missed_attempts'), t('missed_last'), ''], r.items.map((m) => [
      el('span', { translate: 'no' }, m.number), el('span', { translate: 'no' }, m.name), String(m.attempts), fmtTime(m.last_at),
      el('span', {}, el('button', { class: 'secondary call-back', onclick: () => attempt(async () => {
        await api('POST', '/api/v1/calls', { number: m.number }); toast(t('call_ringing'));
      }) }, t('phone_call_back')), ' ', el('a', { href: '#/calls/' + encodeURIComponent(m.last_call_id) }, t('missed_last_call')))])));
  }
  await load();
  wrap.append(...[el('p', { class: 'muted' }, t('missed_hint')), toggle, out].filter(Boolean));
  return wrap;
}
