// Who is on the phone: the company's people with what each is doing (offline, free, do not
// disturb, ringing, talking), refreshed every few seconds, with a button to call a free one.
import { t } from './i18n.js';
import { api, el, table, attempt, toast, fmtTime } from './app.js';

/** The page. */
export async function colleaguesPage({ onLeave }) {
  const out = el('div', { id: 'presence' });
  const stamp = el('p', { class: 'muted', id: 'presence-at' });
  async function load() {
    const r = await api('GET', '/api/v1/presence');
    stamp.textContent = r.updated_at ? t('presence_at') + ' ' + fmtTime(r.updated_at) : '';
    out.replaceChildren(table([t('ext'), t('name'), t('state'), ''], r.users.map((u) => [
      el('span', { translate: 'no' }, u.ext), el('span', { translate: 'no' }, u.name),
      el('span', { class: 'presence presence-' + u.state, 'data-ext': u.ext, 'data-state': u.state }, t('presence_' + u.state)),
      u.state === 'idle' ? el('button', { class: 'secondary', onclick: () => attempt(async () => { await api('POST', '/api/v1/calls', { number: u.ext }); toast(t('call_ringing')); }) }, t('call_now')) : ''])));
  }
  await load();
  const timer = setInterval(() => { load().catch(() => {}); }, 3000);
  onLeave(() => clearInterval(timer));
  return el('div', {}, stamp, out);
}
