// Refusing callers and not being disturbed: the company's blacklist with its settings
// (supervisors), and an employee's own "do not disturb" switch and blacklist (shown with the
// forwarding form).
import { t } from './i18n.js';
import { api, el, table, toast, attempt, fmtTime } from './app.js';

const enc = encodeURIComponent;

/** A list of refused numbers with an add form; `base` is the API path of the list. */
function listCard(id, entries, base, reload) {
  const form = el('form', { class: 'card', id: id + '-add', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
    const d = new FormData(e.target);
    await api('POST', base, { number: d.get('number'), prefix: d.get('prefix') === 'on', note: d.get('note') || '' });
    e.target.reset(); toast(t('saved')); await reload();
  }); } },
  el('h3', {}, t('block_add')),
  el('label', {}, t('block_number'), el('input', { name: 'number', required: true, placeholder: '+74951234567' })),
  el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'prefix' }), t('block_is_prefix')),
  el('label', {}, t('block_note'), el('input', { name: 'note', maxlength: 200 })),
  el('button', { type: 'submit' }, t('block_add')));
  const rows = entries.map((b) => [b.pattern, b.prefix ? t('block_prefix') : t('block_exact'), b.note, fmtTime(b.created_at),
    el('button', { class: 'danger', onclick: () => attempt(async () => { await api('DELETE', base + '/' + enc(b.pattern)); await reload(); }) }, t('delete'))]);
  return el('div', { id }, table([t('block_number'), t('block_kind'), t('block_note'), t('block_added'), ''], rows), form);
}

/** The company's blacklist page (supervisors). */
export async function blocklistPage() {
  const wrap = el('div', { id: 'blocklist' });
  async function reload() {
    const b = await api('GET', '/api/v1/blocklist');
    const s = b.settings;
    const settings = el('form', { class: 'card', id: 'block-settings', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      const d = new FormData(e.target);
      await api('PUT', '/api/v1/blocklist/settings', { anonymous: d.get('anonymous') === 'on', action: d.get('action') });
      toast(t('saved'));
    }); } },
    el('h3', {}, t('block_settings')),
    el('label', { class: 'check' }, el('input', { type: 'checkbox', name: 'anonymous', checked: s.anonymous ? true : null }), t('block_anonymous')),
    el('label', {}, t('block_action'), el('select', { name: 'action' }, ['busy', 'prompt'].map((a) =>
      el('option', { value: a, selected: a === s.action ? true : null }, t('block_action_' + a))))),
    el('button', { type: 'submit' }, t('save')));
    wrap.replaceChildren(el('p', { class: 'muted' }, t('block_hint')), listCard('company-blocklist', b.entries, '/api/v1/blocklist', reload), settings);
  }
  await reload();
  return wrap;
}

/** The employee's "do not disturb" switch and own blacklist. */
export async function ownBlockingCards() {
  const [dnd, own] = await Promise.all([api('GET', '/api/v1/me/dnd'), api('GET', '/api/v1/me/blocklist')]);
  const box = el('input', { type: 'checkbox', id: 'dnd', checked: dnd.on ? true : null, onchange: (e) => attempt(async () => {
    await api('PUT', '/api/v1/me/dnd', { on: e.target.checked }); toast(t('saved'));
  }) });
  const dndCard = el('div', { class: 'card', id: 'dnd-card' }, el('h3', {}, t('dnd')), el('label', { class: 'check' }, box, t('dnd_hint')));
  const listWrap = el('div');
  async function reload() {
    const l = await api('GET', '/api/v1/me/blocklist');
    listWrap.replaceChildren(el('h3', {}, t('own_blocklist')), listCard('own-blocklist', l.entries, '/api/v1/me/blocklist', reload));
  }
  listWrap.replaceChildren(el('h3', {}, t('own_blocklist')), listCard('own-blocklist', own.entries, '/api/v1/me/blocklist', reload));
  return el('div', {}, dndCard, listWrap);
}
