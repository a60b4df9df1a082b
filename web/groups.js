// Ring groups and queues: the list, and one form to create or change them (the extension
// and kind are fixed once created). Members are picked from the company's users, in order.
import { t } from './i18n.js';
import { api, el, table, toast, attempt } from './app.js';

const enc = encodeURIComponent;
const STRATEGIES = { ring: ['simultaneous', 'sequential', 'random', 'round-robin'], queue: ['ring-all', 'round-robin', 'longest-idle', 'fewest-calls'] };

/** The groups page. */
export async function groupsPage() {
  const [groups, users, uploaded, settings] = await Promise.all([api('GET', '/api/v1/groups?limit=500'), api('GET', '/api/v1/users?limit=500'),
    api('GET', '/api/v1/prompts?limit=500'), api('GET', '/api/v1/settings')]);
  const prompts = uploaded.items.map((p) => p.name).concat(settings.builtin_prompts || []);
  const editor = el('div', { id: 'group-editor' });
  const show = (g) => { editor.replaceChildren(groupForm(g, users.items, prompts, () => editor.replaceChildren(), () => reload())); editor.scrollIntoView(); };
  const listEl = el('div', { id: 'group-list' });
  const wrap = el('div', {}, listEl, el('p', {}, el('button', { id: 'new-group', onclick: () => show(null) }, t('group_new'))), editor);
  function render() {
    listEl.replaceChildren(table([t('ext'), t('name'), t('group_kind'), t('group_strategy'), t('group_members'), ''], groups.items.map((g) => [
      g.ext, g.name, t('kind_' + g.kind), t('strategy_' + g.strategy), g.members.join(', '),
      el('span', {}, el('button', { class: 'secondary', onclick: () => show(g) }, t('edit')), ' ',
        el('button', { class: 'danger', onclick: () => confirm(t('delete') + ' ' + g.ext + '?') && attempt(async () => {
          await api('DELETE', '/api/v1/groups/' + enc(g.ext)); await reload();
        }) }, t('delete')))])));
  }
  async function reload() { Object.assign(groups, await api('GET', '/api/v1/groups?limit=500')); render(); editor.replaceChildren(); }
  render();
  return wrap;
}

/** The form for a new group (g null) or an existing one; `close` drops it, `saved` reloads the list. */
function groupForm(g, users, prompts, close, saved) {
  // A prompt picker whose empty choice says what happens without one.
  const promptPick = (name, value, none) => el('label', {}, t('group_' + name), el('select', { name },
    el('option', { value: '' }, none), prompts.map((p) => el('option', { value: p, translate: 'no', selected: p === value ? true : null }, p))));
  const kind = g ? g.kind : 'ring';
  const num = (name, v, min, max) => el('label', {}, t('group_' + name), el('input', { type: 'number', name, min, max, value: String(v), required: true }));
  const strategy = el('select', { name: 'strategy' });
  const kindSel = el('select', { name: 'kind', disabled: g ? true : null }, ['ring', 'queue'].map((k) => el('option', { value: k, selected: k === kind ? true : null }, t('kind_' + k))));
  const queueOnly = el('div', {}, num('max_wait_seconds', g ? g.max_wait_seconds : 300, 5, 86400), num('max_length', g ? g.max_length : 20, 1, 10000),
    num('wrap_up_seconds', g ? g.wrap_up_seconds : 5, 0, 3600), num('announce_seconds', g ? g.announce_seconds : 30, 5, 3600),
    promptPick('music_prompt', g ? g.music_prompt : '', t('co_company_music')), promptPick('entry_prompt', g ? g.entry_prompt : '', t('co_none')),
    el('label', { class: 'inline' }, el('input', { type: 'checkbox', name: 'callback', checked: !g || g.callback ? true : null }), t('group_callback')));
  const ringOnly = el('div', {}, num('timeout_seconds', g ? g.timeout_seconds : 60, 3, 3600));
  function kindChanged() {
    const k = kindSel.value;
    strategy.replaceChildren(...STRATEGIES[k].map((s) => el('option', { value: s, selected: g && g.strategy === s ? true : null }, t('strategy_' + s))));
    queueOnly.hidden = k !== 'queue'; ringOnly.hidden = k !== 'ring';
  }
  kindSel.addEventListener('change', kindChanged);
  kindChanged();
  // Members in the order they were ticked (the order a sequential group rings them in).
  const order = g ? g.members.slice() : [];
  const shownOrder = el('p', { class: 'muted', id: 'group-order' });
  const showOrder = () => { shownOrder.textContent = t('group_order') + ': ' + (order.join(' → ') || '—'); };
  const members = el('div', { class: 'members' }, users.map((u) => el('label', { class: 'inline' },
    el('input', { type: 'checkbox', name: 'member', value: u.ext, checked: order.includes(u.ext) ? true : null, onchange: (e) => {
      const i = order.indexOf(u.ext);
      if (e.target.checked && i < 0) order.push(u.ext);
      if (!e.target.checked && i >= 0) order.splice(i, 1);
      showOrder();
    } }), u.ext + (u.name ? ' ' + u.name : ''))));
  showOrder();
  const form = el('form', { class: 'card', id: 'group-form', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
    const f = e.target;
    const body = { name: f.name.value, strategy: f.strategy.value, members: order.slice(), ring_seconds: Number(f.ring_seconds.value) };
    if (kindSel.value === 'ring') body.timeout_seconds = Number(f.timeout_seconds.value);
    else Object.assign(body, { max_wait_seconds: Number(f.max_wait_seconds.value), max_length: Number(f.max_length.value),
      wrap_up_seconds: Number(f.wrap_up_seconds.value), announce_seconds: Number(f.announce_seconds.value), callback: f.callback.checked,
      music_prompt: f.music_prompt.value, entry_prompt: f.entry_prompt.value });
    if (g) await api('PUT', '/api/v1/groups/' + enc(g.ext), body);
    else await api('POST', '/api/v1/groups', Object.assign({ ext: f.ext.value, kind: kindSel.value }, body));
    toast(t('saved'));
    await saved();
  }); } },
  el('h3', {}, g ? t('edit') + ': ' + g.ext : t('group_new')),
  el('label', {}, t('ext'), el('input', { name: 'ext', required: true, pattern: '[0-9]{2,6}', maxlength: 6, value: g ? g.ext : '', disabled: g ? true : null })),
  el('label', {}, t('name'), el('input', { name: 'name', maxlength: 100, value: g ? g.name : '' })),
  el('label', {}, t('group_kind'), kindSel), el('label', {}, t('group_strategy'), strategy),
  el('fieldset', {}, el('legend', {}, t('group_members')), members, shownOrder),
  num('ring_seconds', g ? g.ring_seconds : 15, 3, 600), ringOnly, queueOnly,
  el('button', { type: 'submit' }, t('save')), ' ', el('button', { type: 'button', class: 'secondary', onclick: () => close() }, t('cancel')));
  return form;
}
