// The cabinet's pages. Each takes {params, onLeave} and returns the element to show; all
// data comes from the same REST API that integrations use.
import { t, currentLang, errorText, tOr, fillParts } from './i18n.js';
import { api, el, table, labelledRow, toast, attempt, fmtTime, isoDay, render, state } from './app.js';
import { scenarioEditor } from './editor.js';
import { groupsPage } from './groups.js';
import { blocklistPage, ownBlockingCards } from './blocking.js';
import { missedPage } from './missed.js';
import { colleaguesPage } from './colleagues.js';
import { queueReportsPage, wallboardPage } from './reports.js';
import { balancePage, tariffsPage, lowBalanceBanner } from './billing.js';
import { tenantNumbersCard } from './operator.js';
import { phonePage } from './phone.js';

const enc = encodeURIComponent;
/** CSV as a spreadsheet in the cabinet's language opens it (Excel in Russian splits on `;`). */
const csvDelimiter = () => 'delimiter=' + (currentLang() === 'ru' ? 'semicolon' : 'comma');
const field = (label, input) => el('label', {}, label, input);
const input = (attrs) => el('input', attrs);
const select = (name, options, value) => el('select', { name }, options.map(([v, l]) => el('option', { value: v, selected: v === value ? true : null }, l)));

/** Keyset-paged list: draws rows and a "more" button while the API says there is a next page. */
function pagedList(load, cols, row) {
  const body = el('tbody');
  const more = el('button', { class: 'secondary', hidden: true }, t('more'));
  let next = null;
  async function page() {
    const r = await api('GET', load(next));
    if (!next) body.replaceChildren();
    for (const it of r.items) body.append(labelledRow(cols, row(it)));
    if (!body.children.length) body.append(el('tr', {}, el('td', { colspan: cols.length, class: 'muted' }, t('nothing'))));
    next = r.next; more.hidden = !next;
  }
  more.addEventListener('click', () => attempt(page));
  const reload = () => { next = null; return attempt(page); };
  return { el: el('div', {}, el('div', { class: 'scroll', tabindex: '0' }, el('table', {}, el('thead', {}, el('tr', {}, cols.map((c) => el('th', {}, c)))), body)), more), reload };
}

function callFilters(onSearch, withCsv) {
  const f = el('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); onSearch(query()); } },
    field(t('from'), input({ name: 'from', type: 'date', value: isoDay(-30) })),
    field(t('to'), input({ name: 'to', type: 'date', value: isoDay(0) })),
    field(t('number'), input({ name: 'number', size: 12 })),
    state.me.role === 'supervisor' ? field(t('ext'), input({ name: 'ext', size: 6 })) : null,
    field(t('direction'), select('direction', [['', t('any')], ['inbound', t('inbound')], ['outbound', t('outbound')], ['internal', t('internal')]])),
    field(t('disposition'), select('disposition', [['', t('any')], ['answered', t('answered')], ['missed', t('missed')], ['busy', t('busy')], ['failed', t('failed')], ['interrupted', t('interrupted')]])),
    el('button', { type: 'submit' }, t('search')),
    withCsv ? el('a', { class: 'button secondary', id: 'csv', href: '#', onclick: (e) => { e.currentTarget.href = '/api/v1/calls.csv?' + query() + '&' + csvDelimiter(); } }, t('csv')) : null);
  function query() {
    const p = new URLSearchParams();
    for (const i of f.querySelectorAll('input,select')) if (i.value) p.set(i.name, i.value);
    return p.toString();
  }
  return { el: f, query };
}

function callRow(c, withRecording) {
  return [fmtTime(c.started_at), t(c.direction), el('span', { translate: 'no' }, [c.caller_number, c.caller_name ? ' (' + c.caller_name + ')' : ''].join('')), c.callee,
    c.disposition ? t(c.disposition) : '…', String(c.talk_seconds),
    withRecording ? recordingCell(c.id) : el('a', { href: '#/calls/' + enc(c.id) }, t('details'))];
}

function recordingCell(id) {
  return el('span', { class: 'rec' }, el('audio', { controls: true, preload: 'none', src: '/api/v1/recordings/' + enc(id) + '/audio' }),
    el('a', { href: '/api/v1/recordings/' + enc(id) + '/wav', download: '' }, t('download')));
}

export const pages = {
  async dashboard({ onLeave }) {
    const figures = el('div', { class: 'figures' });
    const calls = el('div');
    const queues = el('div');
    const draw = (s) => {
      figures.replaceChildren(...[['total', s.today.total], ['answered', s.today.answered], ['missed', s.today.missed], ['live_calls', s.calls.length]]
        .map(([k, v]) => el('div', { class: 'figure', id: 'fig-' + k }, el('b', {}, String(v)), el('span', {}, t(k)))));
      calls.replaceChildren(el('h3', {}, t('live_calls')), s.calls.length
        ? table([t('caller'), t('callee'), t('direction'), t('state'), 's'], s.calls.map((c) => [c.caller + (c.caller_name ? ' (' + c.caller_name + ')' : ''), c.callee, t(c.direction), c.answered ? t('answered') : '…', String(c.seconds)]))
        : el('p', { class: 'muted' }, t('no_calls')));
      queues.replaceChildren(...s.queues.map(queueCard));
    };
    const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const ws = new WebSocket(proto + location.host + '/api/v1/live');
    ws.onmessage = (m) => { const s = JSON.parse(m.data); if (!s.error) draw(s); };
    onLeave(() => ws.close());
    const banner = await lowBalanceBanner().catch(() => null);
    return el('div', { id: 'dashboard' }, banner || '', figures, calls, queues);
  },

  async calls({ params }) {
    if (params[0]) return callDetails(params[0]);
    let q = '';
    const list = pagedList((next) => '/api/v1/calls?' + q + (next ? '&after=' + enc(next) : ''),
      [t('started'), t('direction'), t('caller'), t('callee'), t('disposition'), t('talk'), ''], (c) => callRow(c, false));
    const f = callFilters((query) => { q = query; list.reload(); }, true);
    q = f.query(); list.reload();
    return el('div', {}, f.el, list.el);
  },

  async recordings() {
    let q = '';
    const list = pagedList((next) => '/api/v1/recordings?' + q + (next ? '&after=' + enc(next) : ''),
      [t('started'), t('direction'), t('caller'), t('callee'), t('disposition'), t('talk'), t('listen')], (c) => callRow(c, true));
    const f = callFilters((query) => { q = query; list.reload(); }, false);
    q = f.query(); list.reload();
    return el('div', {}, f.el, list.el);
  },

  async stats() {
    const out = el('div');
    const from = input({ name: 'from', type: 'date', value: isoDay(-30) });
    const to = input({ name: 'to', type: 'date', value: isoDay(0) });
    async function load() {
      const r = await api('GET', '/api/v1/stats?from=' + enc(from.value) + '&to=' + enc(to.value));
      const rows = r.users;
      out.replaceChildren(
        el('div', { id: 'stats-table' }, table([t('ext'), t('name'), t('received'), t('answered'), t('missed'), t('stat_busy'), t('answered_elsewhere'), t('made'), t('avg_talk')],
          rows.map((u) => [u.ext, u.name, String(u.received), String(u.answered), String(u.missed), String(u.busy), String(u.answered_elsewhere), String(u.made), u.avg_inbound_talk_seconds.toFixed(1)]))),
        chart(rows));
    }
    const form = el('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); attempt(load); } }, field(t('from'), from), field(t('to'), to), el('button', { type: 'submit' }, t('show')));
    await load();
    return el('div', {}, form, out);
  },

  async users() {
    const list = pagedList((next) => '/api/v1/users?limit=100' + (next ? '&after=' + enc(next) : ''), [t('ext'), t('name'), t('role'), t('web_login'), t('forwarding'), t('dnd'), ''], (u) => [
      u.ext, u.name, t(u.role), u.has_web_login ? '✓' : '', fwdText(u.forwarding), u.dnd ? '✓' : '',
      el('span', {}, el('button', { class: 'secondary dnd-toggle', onclick: () => attempt(async () => { await api('PUT', '/api/v1/users/' + enc(u.ext) + '/dnd', { on: !u.dnd }); list.reload(); }) }, u.dnd ? t('dnd_turn_off') : t('dnd_turn_on')),
        el('button', { class: 'secondary', onclick: () => confirm(t('new_sip_password_confirm')) && attempt(async () => { const d = await api('POST', '/api/v1/users/' + enc(u.ext) + '/sip-password'); alert(t('sip_account') + ': ' + d.username + '@' + d.domain + '\n' + t('password') + ': ' + d.password + '\n' + t('shown_once')); }) }, t('new_sip_password')),
        el('button', { class: 'secondary edit-user', onclick: () => { editor.replaceChildren(userForm(u, () => { editor.replaceChildren(); list.reload(); })); editor.scrollIntoView(); } }, t('edit')),
        el('button', { class: 'secondary', onclick: () => { editor.replaceChildren(el('h3', {}, t('forwarding') + ': ' + u.ext), forwardingForm(u.forwarding, async (body) => { await api('PUT', '/api/v1/users/' + enc(u.ext) + '/forwarding', body); list.reload(); })); editor.scrollIntoView(); } }, t('forwarding')),
        el('button', { class: 'danger', onclick: () => confirm(t('delete') + ' ' + u.ext + '?') && attempt(async () => { await api('DELETE', '/api/v1/users/' + enc(u.ext)); list.reload(); }) }, t('delete')))]);
    const editor = el('div', { id: 'user-forwarding' });
    const form = el('form', { class: 'card', id: 'new-user', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      const d = Object.fromEntries(new FormData(e.target));
      const u = await api('POST', '/api/v1/users', d); e.target.reset(); list.reload();
      alert(t('sip_account') + ': ' + u.sip.username + '@' + u.sip.domain + '\n' + t('password') + ': ' + u.sip.password + '\n' + t('shown_once'));
    }); } },
    el('h3', {}, t('create')), field(t('ext'), input({ name: 'ext', required: true, size: 6 })), field(t('name'), input({ name: 'name' })),
    field(t('role'), select('role', [['user', t('user')], ['supervisor', t('supervisor')]])),
    field(t('sip_password'), input({ name: 'sip_password' })), field(t('web_password'), input({ name: 'web_password', type: 'password', autocomplete: 'new-password' })),
    el('button', { type: 'submit' }, t('create')));
    list.reload();
    return el('div', {}, list.el, editor, form);
  },

  async numbers({ params }) {
    if (params[0]) return scenarioEditor(params[0]);
    const list = pagedList((next) => '/api/v1/numbers' + (next ? '?after=' + enc(next) : ''), [t('number'), t('trunk'), t('scenario'), ''], (n) => [
      n.number, n.trunk, n.has_scenario ? '✓' : t('default_setup'), el('a', { class: 'button', href: '#/numbers/' + enc(n.number) }, t('edit'))]);
    list.reload();
    return list.el;
  },

  async plugins() {
    const r = await api('GET', '/api/v1/plugins?limit=500');
    const integ = el('div', { id: 'integration' });
    async function showIntegration(name, change) {
      const st = change === undefined ? await api('GET', '/api/v1/plugins/' + enc(name) + '/integration')
        : await api('PUT', '/api/v1/plugins/' + enc(name) + '/integration', { enabled: change });
      const log = st.deliveries || (await api('GET', '/api/v1/plugins/' + enc(name) + '/integration')).deliveries;
      const cfg = await api('GET', '/api/v1/plugins/' + enc(name) + '/settings');
      // A connector that reports a portal connection at its address (GET status) gets a panel.
      const admin = '/api/v1/plugins/' + enc(name) + '/integration/admin';
      let conn = null;
      if (st.enabled) {
        try { conn = await api('GET', admin + '/status', undefined, { quiet: true }); } catch (_) { conn = null; }
      }
      integ.replaceChildren(settingsForm(name, cfg), conn && typeof conn === 'object' && 'connected' in conn ? portalPanel(name, admin, conn, () => showIntegration(name)) : '',
        el('div', { class: 'card' }, el('h3', {}, t('integration') + ': ' + name),
        el('p', { class: 'muted' }, t('integration_hint')),
        el('p', {}, t('status') + ': ', st.enabled ? el('span', { class: 'tag' }, t('hook_on')) : el('span', { class: 'tag bad' }, t('paused')), ' ',
          el('button', { onclick: () => attempt(() => showIntegration(name, !st.enabled)) }, st.enabled ? t('hook_pause') : t('enable'))),
        st.hook_path ? el('p', {}, t('hook_address') + ': ', el('code', { id: 'hook-address' }, location.origin + st.hook_path)) : null,
        st.last_error ? el('p', { class: 'bad' }, t('last_error') + ' (' + st.attempts + '): ' + st.last_error) : null,
        table([t('when'), t('event'), 'ID', t('attempt'), t('outcome'), t('last_error')], log.map((d) => [
          fmtTime(d.at), d.event, d.event_id, String(d.attempt), t('outcome_' + d.outcome), d.error]))));
    }
    const upload = input({ type: 'file', accept: '.wasm', id: 'plugin-file', 'aria-label': t('upload_plugin') });
    const shipped = (await api('GET', '/api/v1/plugin-catalog')).items;
    const catalog = el('div', { class: 'card', id: 'plugin-catalog' }, el('h3', {}, t('plugin_catalog')),
      table([t('plugin'), ''], shipped.map((c) => [c.name, el('button', { onclick: () => attempt(async () => {
        const res = await api('POST', '/api/v1/plugin-catalog/' + enc(c.name));
        toast(res.name + ' ' + res.version + (res.missing_grants.length ? ': ' + t('capabilities') + ' ' + res.missing_grants.join(', ') : ''));
        render();
      }) }, c.installed ? t('update') : t('install'))])));
    const wrap = el('div', {}, table([t('plugin'), t('version'), t('source'), t('enabled'), t('capabilities'), ''], r.items.map((p) => [
      el('span', {}, el('b', { translate: 'no' }, p.name), el('br'), el('small', { class: 'muted', translate: 'no' }, p.description)), p.version, t('plugin_source_' + p.source), p.enabled ? '✓' : '✗',
      p.capabilities.map((c) => el('span', { class: p.missing_grants.includes(c) ? 'tag bad' : 'tag' }, c)),
      p.source === 'installed' ? el('span', {},
        p.missing_grants.length ? el('button', { onclick: () => attempt(async () => {
          const http = p.capabilities.filter((c) => c.startsWith('http:')).map((c) => c.slice(5));
          await api('PUT', '/api/v1/plugins/' + enc(p.name) + '/grants', { http, directory: p.capabilities.includes('directory'), kv: p.capabilities.includes('kv'), contacts: p.capabilities.includes('contacts') });
          render();
        }) }, t('grant')) : null,
        el('button', { class: 'secondary', onclick: () => attempt(async () => { await api('PUT', '/api/v1/plugins/' + enc(p.name) + '/enabled', { enabled: !p.enabled }); render(); }) }, p.enabled ? t('disable') : t('enable')),
        el('button', { class: 'secondary integration', onclick: () => attempt(() => showIntegration(p.name)) }, t('integration')),
        el('button', { class: 'danger', onclick: () => attempt(async () => { await api('DELETE', '/api/v1/plugins/' + enc(p.name)); render(); }) }, t('delete'))) : '']),
    ), integ, catalog, el('form', { class: 'card', id: 'plugin-upload', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      if (!upload.files[0]) return;
      const res = await api('POST', '/api/v1/plugins', upload.files[0], { type: 'application/wasm' });
      toast(res.name + ' ' + res.version + (res.missing_grants.length ? ': ' + t('capabilities') + ' ' + res.missing_grants.join(', ') : ''));
      render();
    }); } }, el('h3', {}, t('upload_plugin')), upload, el('button', { type: 'submit' }, t('upload'))));
    return wrap;
  },

  async prompts() {
    const list = pagedList((next) => '/api/v1/prompts' + (next ? '?after=' + enc(next) : ''), [t('name'), t('file'), t('duration'), t('listen'), ''], (p) => [
      p.name, p.original_name, (p.duration_ms / 1000).toFixed(1) + ' s', el('audio', { controls: true, preload: 'none', src: '/api/v1/prompts/' + enc(p.name) + '/audio' }),
      el('button', { class: 'secondary rename', onclick: () => { const n = prompt(t('new_name'), p.name); if (n && n !== p.name) attempt(async () => { await api('PUT', '/api/v1/prompts/' + enc(p.name), { name: n }); toast(t('saved')); list.reload(); }); } }, t('rename')),
      el('button', { class: 'danger', onclick: () => confirm(t('delete') + ' ' + p.name + '?') && attempt(async () => { await api('DELETE', '/api/v1/prompts/' + enc(p.name)); list.reload(); }) }, t('delete'))]);
    const name = input({ name: 'name', required: true, pattern: '[A-Za-z0-9_-]{1,64}', id: 'prompt-name' });
    const file = input({ type: 'file', accept: 'audio/*,.wav,.mp3,.ogg,.opus,.flac', required: true, id: 'prompt-file' });
    const bar = el('progress', { max: 100, value: 0, hidden: true });
    const msg = el('p', { id: 'upload-msg' });
    const form = el('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); uploadWithProgress(name.value, file.files[0], bar, msg, () => { form.reset(); list.reload(); }); } },
      el('h3', {}, t('upload')), field(t('name'), name), field(t('file'), file), el('button', { type: 'submit' }, t('upload')), bar, msg);
    list.reload();
    return el('div', {}, list.el, form);
  },

  async organization() {
    const [c, uploaded] = await Promise.all([api('GET', '/api/v1/settings'), api('GET', '/api/v1/prompts?limit=500')]);
    // A prompt picker: none (greeting only), the uploaded ones, the built-in ones.
    const prompts = (name, value, allowNone) => el('select', { name }, (allowNone ? [el('option', { value: '' }, t('co_none'))] : []).concat(
      el('optgroup', { label: t('co_uploaded') }, uploaded.items.map((p) => el('option', { value: p.name, translate: 'no', selected: p.name === value ? true : null }, p.name))),
      el('optgroup', { label: t('co_builtin') }, c.builtin_prompts.map((p) => el('option', { value: p, translate: 'no', selected: p === value ? true : null }, p)))));
    let zones = [];
    try { zones = Intl.supportedValuesOf('timeZone'); } catch (_) { zones = []; }
    if (!zones.includes(c.timezone)) zones = [c.timezone].concat(zones);
    const dirs = ['inbound', 'outbound', 'internal'].map((d) => el('label', { class: 'inline' },
      input({ type: 'checkbox', name: 'rec', value: d, checked: c.recording.includes(d) ? true : null }), t(d)));
    const form = el('form', { class: 'card', id: 'company-form', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      const f = e.target;
      await api('PUT', '/api/v1/settings', { timezone: f.timezone.value, language: f.language.value, greeting: f.greeting.value, music: f.music.value,
        working_hours: f.working_hours.value, after_hours: f.after_hours.value,
        recording: [...f.querySelectorAll('input[name=rec]:checked')].map((x) => x.value), retention_days: Number(f.retention_days.value) });
      toast(t('saved'));
    }); } }, el('h3', {}, c.name || t('organization')),
    el('p', {}, t('co_sip_domain') + ': ', el('code', {}, c.domain), ' · ' + t('balance') + ': ' + (c.balance_cents / 100).toFixed(2)),
    field(t('co_timezone'), select('timezone', zones.map((z) => [z, z]), c.timezone)),
    field(t('co_language'), select('language', [['ru', t('lang_ru')], ['en', t('lang_en')]], c.language)),
    field(t('co_greeting'), prompts('greeting', c.greeting, true)),
    field(t('co_music'), prompts('music', c.music, false)),
    field(t('co_hours'), input({ name: 'working_hours', value: c.working_hours, maxlength: 200, placeholder: 'mon-fri 09:00-18:00; sat 10:00-14:00' })),
    el('p', { class: 'muted' }, t('co_hours_hint')),
    field(t('co_after_hours'), prompts('after_hours', c.after_hours, false)),
    el('div', {}, el('p', {}, t('co_recording')), ...dirs),
    field(t('co_retention'), input({ name: 'retention_days', type: 'number', min: 1, max: 3650, value: String(c.retention_days), required: true })),
    el('button', { type: 'submit' }, t('save')));
    return form;
  },

  async contacts() {
    const editable = state.me.role === 'supervisor';
    let q = '';
    const cols = [t('number'), t('name'), t('company'), t('note'), t('source'), ''];
    const call = (c) => el('button', { class: 'secondary call', title: t('call_hint'), onclick: () => attempt(async () => {
      await api('POST', '/api/v1/calls', { number: c.number }); toast(t('call_ringing'));
    }) }, t('call_now'));
    const list = pagedList((next) => '/api/v1/contacts?q=' + enc(q) + (next ? '&after=' + enc(next) : ''), cols, (c) => [
      c.number, c.name, c.company, c.note, sourceText(c.source)].concat(!editable ? [call(c)] : [el('span', {}, call(c), ' ',
      el('button', { class: 'secondary', onclick: () => fill(c) }, t('edit')), ' ',
      el('button', { class: 'danger', onclick: () => attempt(async () => { await api('DELETE', '/api/v1/contacts/' + enc(c.number)); list.reload(); }) }, t('delete')))]));
    const search = el('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); q = e.target.q.value; list.reload(); } },
      field(t('search'), input({ name: 'q', id: 'contact-search', size: 20 })), el('button', { type: 'submit' }, t('search')),
      el('a', { class: 'button secondary', href: '/api/v1/contacts.csv', download: 'contacts.csv', onclick: (e) => { e.currentTarget.href = '/api/v1/contacts.csv?' + csvDelimiter(); } }, t('csv')));
    list.reload();
    if (!editable) return el('div', {}, search, list.el);
    const form = el('form', { class: 'card', id: 'contact-form', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      const d = Object.fromEntries(new FormData(e.target));
      await api('PUT', '/api/v1/contacts/' + enc(d.number), d); toast(t('saved')); form.reset(); list.reload();
    }); } }, el('h3', {}, t('add_contact')),
    field(t('number'), input({ name: 'number', required: true, placeholder: '+7 495 123-45-67' })), field(t('name'), input({ name: 'name', required: true, maxlength: 100 })),
    field(t('company'), input({ name: 'company', maxlength: 500 })), field(t('note'), input({ name: 'note', maxlength: 500 })), el('button', { type: 'submit' }, t('save')));
    function fill(c) { for (const k of ['number', 'name', 'company', 'note']) form.elements[k].value = c[k]; form.scrollIntoView(); }
    const file = input({ type: 'file', accept: '.csv,text/csv', required: true, id: 'contact-file' });
    const msg = el('p', { id: 'import-msg' });
    const imp = el('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); msg.textContent = ''; msg.className = '';
      attempt(async () => {
        try {
          const r = await api('POST', '/api/v1/contacts/import', file.files[0], { type: 'text/csv' });
          msg.textContent = t('imported').replace('{a}', r.added).replace('{r}', r.replaced); imp.reset(); list.reload();
        } catch (err) { msg.textContent = t('import_failed') + ': ' + err.message; msg.className = 'bad'; }
      }); } },
    el('h3', {}, t('import_csv')), el('p', { class: 'muted' }, t('import_hint')), field(t('file'), file), el('button', { type: 'submit' }, t('upload')), msg);
    return el('div', {}, search, list.el, form, imp);
  },

  async webhooks() {
    const box = el('div', { id: 'webhook-list' });
    const log = el('div', { id: 'webhook-log' });
    const shown = el('pre', { id: 'webhook-secret' });
    const kinds = el('fieldset', { class: 'checks' });
    async function reload() {
      const r = await api('GET', '/api/v1/webhooks');
      if (!kinds.childNodes.length) {
        kinds.append(el('legend', {}, t('events_hint')), ...r.events.map((k) => el('label', {}, el('input', { type: 'checkbox', name: 'events', value: k }), ' ', k)));
      }
      box.replaceChildren(r.items.length ? table(['#', t('url'), t('events'), t('status'), t('attempts'), t('last_error'), ''], r.items.map((h) => [
        String(h.id), h.url + (h.description ? ' (' + h.description + ')' : ''), h.events.length ? el('span', { translate: 'no' }, h.events.join(', ')) : t('all_events'),
        h.enabled ? el('span', { class: 'tag' }, t('hook_on')) : el('span', { class: 'tag bad' }, t('paused')), String(h.attempts), h.last_error,
        el('span', {},
          el('button', { class: 'secondary', onclick: () => attempt(() => showLog(h)) }, t('deliveries')), ' ',
          el('button', { class: 'secondary', onclick: () => attempt(async () => { await api('PATCH', '/api/v1/webhooks/' + h.id, { enabled: !h.enabled }); await reload(); }) }, h.enabled ? t('hook_pause') : t('resume')), ' ',
          el('button', { class: 'danger', onclick: () => attempt(async () => { await api('DELETE', '/api/v1/webhooks/' + h.id); log.replaceChildren(); await reload(); }) }, t('delete')))])) : el('p', { class: 'muted' }, t('nothing')));
    }
    async function showLog(h) {
      const r = await api('GET', '/api/v1/webhooks/' + h.id + '/deliveries?limit=100');
      log.replaceChildren(el('h3', {}, t('deliveries') + ': ' + h.url), r.items.length ? table([t('when'), t('event'), 'ID', t('attempt'), t('status'), t('outcome'), t('last_error')], r.items.map((d) => [
        fmtTime(d.at), d.event, d.event_id, String(d.attempt), d.status ? String(d.status) : '—', t('outcome_' + d.outcome), d.error])) : el('p', { class: 'muted' }, t('nothing')));
    }
    const form = el('form', { class: 'card', id: 'webhook-form', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      const f = new FormData(e.target);
      const r = await api('POST', '/api/v1/webhooks', { url: f.get('url'), description: f.get('description') || '', events: f.getAll('events') });
      shown.textContent = t('secret_once') + '\n' + r.secret; form.reset(); await reload();
    }); } }, el('h3', {}, t('add_webhook')), el('p', { class: 'muted' }, t('webhook_hint')),
    field(t('url'), input({ name: 'url', type: 'url', required: true, size: 50, placeholder: 'https://crm.example.com/pbx' })),
    field(t('description'), input({ name: 'description', maxlength: 200 })), kinds, el('button', { type: 'submit' }, t('create')), shown);
    await reload();
    return el('div', {}, box, log, form);
  },

  groups: () => groupsPage(),
  phone: (ctx) => phonePage(ctx),
  balance: () => balancePage(),
  tariffs: () => tariffsPage(),

  async audit() {
    // Who changed what: the operator sees every company's changes, a supervisor their own.
    const op = state.me.role === 'operator';
    const outcome = (e) => e.via === 'cli' ? (e.status === 0 ? t('audit_done') : t('audit_failed'))
      : (e.status < 400 ? t('audit_done') : t('audit_refused') + ' (' + e.status + ')');
    const list = pagedList((next) => '/api/v1/audit?limit=100' + (next ? '&after=' + enc(next) : ''),
      [t('when'), t('audit_who'), t('audit_via'), t('audit_from'), t('audit_action'), t('audit_object'), t('outcome')].concat(op ? [t('audit_company')] : []),
      (e) => [fmtTime(e.at), e.actor, t('via_' + e.via), e.address, el('span', { translate: 'no' }, e.action), el('span', { translate: 'no' }, e.object), outcome(e)].concat(op ? [e.tenant_id === null ? '—' : String(e.tenant_id)] : []));
    list.reload();
    return el('div', { id: 'audit' }, el('p', { class: 'muted' }, t('audit_hint')), list.el);
  },

  async queues({ onLeave }) {
    // Live: the queues as the engine reports them, redrawn on every change; a pause asked
    // for shows as pending until the engine has applied it.
    const groups = await api('GET', '/api/v1/groups?limit=500');
    const qs = groups.items.filter((g) => g.kind === 'queue');
    const wrap = el('div', { id: 'queue-monitor' });
    let last = await Promise.all(qs.map((g) => api('GET', '/api/v1/queues/' + enc(g.ext) + '/status')));
    const draw = () => wrap.replaceChildren(...(last.length ? last.map((q) => queueCard(q, draw)) : [el('p', { class: 'muted' }, t('nothing'))]));
    draw();
    const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const ws = new WebSocket(proto + location.host + '/api/v1/live');
    ws.onmessage = (m) => { const s = JSON.parse(m.data); if (!s.error && s.queues) { last = s.queues; draw(); } };
    onLeave(() => ws.close());
    return wrap;
  },

  async forwarding() {
    const [f, blocking] = await Promise.all([api('GET', '/api/v1/me/forwarding'), ownBlockingCards()]);
    return el('div', {}, blocking, el('h3', {}, t('forwarding')), forwardingForm(f, (body) => api('PUT', '/api/v1/me/forwarding', body)));
  },

  blocklist: () => blocklistPage(),

  missed_calls: () => missedPage(),

  colleagues: (ctx) => colleaguesPage(ctx),

  queue_reports: () => queueReportsPage(),

  wallboard: (ctx) => wallboardPage(ctx),

  async tokens() {
    const list = pagedList((next) => '/api/v1/tokens' + (next ? '?after=' + enc(next) : ''), ['#', t('role'), t('label'), t('started'), ''], (k) => [
      String(k.id), t(k.role), k.label, fmtTime(k.created_at), el('button', { class: 'danger', onclick: () => attempt(async () => { await api('DELETE', '/api/v1/tokens/' + k.id); list.reload(); }) }, t('revoke'))]);
    const shown = el('pre', { id: 'new-token' });
    const form = el('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      const d = Object.fromEntries(new FormData(e.target));
      const r = await api('POST', '/api/v1/tokens', d); shown.textContent = t('token_once') + '\n' + r.token; list.reload();
    }); } }, el('h3', {}, t('create')), field(t('role'), select('role', [['supervisor', t('supervisor')], ['user', t('user')]])),
    field(t('ext'), input({ name: 'ext', size: 6 })), field(t('label'), input({ name: 'label' })), el('button', { type: 'submit' }, t('create')), shown);
    list.reload();
    return el('div', {}, list.el, form);
  },

  async operator_tokens() {
    const list = pagedList((next) => '/api/v1/operator/tokens' + (next ? '?after=' + enc(next) : ''), ['#', t('label'), t('started'), ''], (k) => [
      String(k.id), k.label, fmtTime(k.created_at), el('button', { class: 'danger', onclick: () => attempt(async () => { await api('DELETE', '/api/v1/operator/tokens/' + k.id); list.reload(); }) }, t('revoke'))]);
    const shown = el('pre');
    const form = el('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      const r = await api('POST', '/api/v1/operator/tokens', { role: 'operator', label: e.target.label.value }); shown.textContent = t('token_once') + '\n' + r.token; list.reload();
    }); } }, field(t('label'), input({ name: 'label' })), el('button', { type: 'submit' }, t('create')), shown);
    list.reload();
    return el('div', {}, list.el, form);
  },

  async tenants() {
    const list = pagedList((next) => '/api/v1/tenants' + (next ? '?after=' + enc(next) : ''), [t('slug'), t('name'), t('domain'), t('status'), t('balance'), ''], (x) => [
      x.slug, x.name, x.domain, x.status === 'suspended' ? el('span', { class: 'tag bad' }, t('tenant_suspended')) : el('span', { class: 'tag' }, t('tenant_active')), (x.balance_cents / 100).toFixed(2),
      el('span', {},
        el('button', { class: x.status === 'suspended' ? '' : 'danger', onclick: () => attempt(async () => { await api('POST', '/api/v1/tenants/' + enc(x.slug) + (x.status === 'suspended' ? '/resume' : '/suspend')); list.reload(); }) }, x.status === 'suspended' ? t('resume') : t('suspend')),
        el('button', { class: 'secondary', onclick: () => { const a = prompt(t('top_up_amount')); const note = a && prompt(t('top_up_note'), ''); if (a && note !== null) attempt(async () => { await api('POST', '/api/v1/tenants/' + enc(x.slug) + '/topup', { amount: a, note }); toast(t('saved')); list.reload(); }); } }, t('top_up')),
        el('button', { class: 'secondary', onclick: () => { const a = prompt(t('set_balance'), (x.balance_cents / 100).toFixed(2)); if (a !== null) attempt(async () => { await api('PUT', '/api/v1/tenants/' + enc(x.slug) + '/balance', { amount: a }); list.reload(); }); } }, t('set_balance')),
        el('button', { class: 'secondary tenant-numbers', onclick: () => attempt(async () => { numbers.replaceChildren(await tenantNumbersCard(x.slug, () => numbers.replaceChildren())); numbers.scrollIntoView(); }) }, t('numbers')))]);
    const numbers = el('div');
    // The first supervisor's passwords come once, in the answer: shown until the page changes.
    const created = el('div', { id: 'tenant-created' });
    const form = el('form', { class: 'card', id: 'tenant-form', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      const c = await api('POST', '/api/v1/tenants', Object.fromEntries(new FormData(e.target))); e.target.reset(); list.reload();
      const f = c.first_login;
      created.replaceChildren(el('div', { class: 'card' }, el('h3', {}, t('tenant_created') + ': ' + c.slug),
        f ? el('div', {}, el('p', { class: 'muted' }, t('passwords_once')),
          table([t('what'), t('value')], [[t('cabinet_login'), el('code', { id: 'first-login' }, f.login)], [t('password'), el('code', { id: 'first-password' }, f.password)],
            [t('sip_account'), el('code', {}, f.ext + '@' + f.sip_domain)], [t('sip_secret'), el('code', { id: 'first-sip-password' }, f.sip_password)]])) : null));
    }); } }, el('h3', {}, t('create')), field(t('slug'), input({ name: 'slug', required: true, maxlength: 32 })), field(t('domain'), input({ name: 'domain', required: true, maxlength: 253 })),
    field(t('name'), input({ name: 'name', maxlength: 200 })), field(t('supervisor_ext'), input({ name: 'supervisor_ext', value: '100', inputmode: 'numeric', pattern: '[0-9]{2,6}', maxlength: 6 })),
    el('button', { type: 'submit' }, t('create')));
    list.reload();
    return el('div', {}, created, list.el, numbers, form);
  },

  async trunks() {
    const r = await api('GET', '/api/v1/trunks?limit=500');
    const list = table([t('name'), t('trunk_host'), t('trunk_kind'), t('trunk_allow'), t('state'), ''], r.items.map((x) => [x.name, x.host,
      x.register ? t('trunk_register') : t('trunk_ip'), x.allow_ips.join(', '), x.register ? (x.reg_state || '') + (x.reg_detail ? ' (' + x.reg_detail + ')' : '') : '',
      el('span', {}, el('button', { class: 'secondary edit-trunk', onclick: () => editTrunk(x) }, t('edit')),
        el('button', { class: 'danger', onclick: () => confirm(t('delete') + ' ' + x.name + '?') && attempt(async () => { await api('DELETE', '/api/v1/trunks/' + enc(x.name)); render(); }) }, t('delete')))]));
    // One form: a new trunk, or the one being edited (its name fixed, its password kept unless typed).
    let editing = null;
    const title = el('h3', {}, t('trunk_new'));
    const editTrunk = (x) => {
      editing = x.name; title.textContent = t('edit') + ': ' + x.name;
      Object.assign(form.name, { value: x.name, disabled: true }); form.host.value = x.host; form.allow_ips.value = x.allow_ips.join(', ');
      form.register.checked = x.register; form.username.value = x.username || ''; form.password.value = ''; form.password.placeholder = t('trunk_password_kept');
      form.scrollIntoView();
    };
    const form = el('form', { class: 'card', id: 'trunk-form', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      const f = e.target;
      const body = { host: f.host.value, register: f.register.checked, username: f.username.value, password: f.password.value,
        allow_ips: f.allow_ips.value.split(/[\s,]+/).filter(Boolean) };
      if (editing) await api('PUT', '/api/v1/trunks/' + enc(editing), body);
      else await api('POST', '/api/v1/trunks', Object.assign({ name: f.name.value }, body));
      toast(t('saved')); render();
    }); } }, title, field(t('name'), input({ name: 'name', required: true, pattern: '[A-Za-z0-9_-]{1,64}', maxlength: 64 })),
    field(t('trunk_host'), input({ name: 'host', required: true, placeholder: 'sip.carrier.example:5060', maxlength: 255 })),
    field(t('trunk_allow'), input({ name: 'allow_ips', placeholder: '192.0.2.0/24', maxlength: 1000 })),
    el('label', { class: 'inline' }, input({ type: 'checkbox', name: 'register' }), t('trunk_register_hint')),
    field(t('trunk_user'), input({ name: 'username', autocomplete: 'off', maxlength: 128 })),
    field(t('password'), input({ name: 'password', type: 'password', autocomplete: 'new-password', maxlength: 128 })),
    el('button', { type: 'submit' }, t('add')));
    return el('div', {}, list, form);
  },

  async account() {
    const form = el('form', { class: 'card', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
      // Every session of the account ends; this browser gets a fresh one (and CSRF token).
      const r = await api('POST', '/api/v1/me/password', { current: e.target.current.value, new: e.target.new.value });
      if (r && r.csrf) state.me.csrf = r.csrf;
      e.target.reset(); toast(t('saved'));
    }); } }, el('h3', {}, t('change_password')),
    field(t('current_password'), input({ name: 'current', type: 'password', autocomplete: 'current-password', required: true })),
    field(t('new_password'), input({ name: 'new', type: 'password', autocomplete: 'new-password', minlength: 8, required: true })),
    el('button', { type: 'submit' }, t('save')));
    // The account's sessions: where and when each was opened; any other can be ended.
    const sessions = el('div', { class: 'card', id: 'sessions' });
    async function showSessions() {
      const r = await api('GET', '/api/v1/me/sessions');
      sessions.replaceChildren(el('h3', {}, t('sessions')), table([t('started'), t('audit_from'), t('browser'), ''], r.items.map((x) => [
        fmtTime(x.created_at), x.address, x.user_agent, x.current ? el('span', { class: 'tag' }, t('this_session'))
          : el('button', { class: 'secondary', onclick: () => attempt(async () => { await api('DELETE', '/api/v1/me/sessions/' + enc(x.key)); await showSessions(); }) }, t('end_session'))])),
      el('button', { class: 'danger', id: 'logout-everywhere', onclick: () => confirm(t('logout_everywhere') + '?') && attempt(async () => {
        await api('POST', '/api/v1/me/logout-everywhere'); state.me = null; location.hash = '#/'; render();
      }) }, t('logout_everywhere')));
    }
    await showSessions();
    return el('div', {}, form, sessions);
  },
};

/** A form for a plugin's company settings, drawn from its schema; secret fields show only
 * whether they are set and keep their value when left empty. */
/** A user's name and role, changed by a supervisor. */
function userForm(u, done) {
  return el('form', { class: 'card', id: 'user-edit', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
    await api('PUT', '/api/v1/users/' + enc(u.ext), { name: e.target.name.value, role: e.target.role.value }); toast(t('saved')); done();
  }); } }, el('h3', {}, t('edit') + ': ' + u.ext), field(t('name'), input({ name: 'name', value: u.name, maxlength: 100 })),
  field(t('role'), select('role', [['user', t('user')], ['supervisor', t('supervisor')]], u.role)), el('button', { type: 'submit' }, t('save')));
}

/** A CRM portal connection as a connector reports it: state, install address, lines, user map, errors. */
function portalPanel(name, admin, c, reload) {
  const act = (what) => attempt(async () => { await api('POST', admin + '/' + what, {}); await reload(); });
  return el('div', { class: 'card', id: 'portal' }, el('h3', {}, t('portal') + ': ' + name),
    el('p', {}, t('status') + ': ', c.connected ? el('span', { class: 'tag' }, t('portal_connected') + ' ' + (c.domain || '')) : el('span', { class: 'tag bad' }, t('portal_not_connected'))),
    c.install_url ? el('p', {}, t('portal_install_url') + ': ', el('code', { id: 'portal-install-url' }, c.install_url)) : null,
    el('p', { class: 'muted' }, t('portal_hint')),
    c.connected ? el('p', {}, el('button', { onclick: () => act('setup') }, t('portal_setup')), ' ',
      el('button', { class: 'danger', onclick: () => confirm(t('portal_disconnect') + '?') && act('disconnect') }, t('portal_disconnect'))) : null,
    el('h4', {}, t('portal_lines')), el('p', {}, (c.lines || []).join(', ') || '—'),
    el('h4', {}, t('portal_users')), table([t('ext'), t('portal_user')], Object.entries(c.users || {}).map(([ext, id]) => [ext, String(id)])),
    el('h4', {}, t('portal_errors')), table([t('when'), t('last_error')], (c.errors || []).slice().reverse().map((e) => [fmtTime(e.at), e.error])));
}

function settingsForm(name, cfg) {
  const props = (cfg.schema && cfg.schema.properties) || {};
  const fields = Object.entries(props).map(([k, s]) => {
    const secret = s.writeOnly === true;
    let control;
    if (Array.isArray(s.enum)) control = select(k, s.enum.map((v) => [String(v), String(v)]), cfg.settings[k] === undefined ? undefined : String(cfg.settings[k]));
    else if (s.type === 'boolean') control = input({ type: 'checkbox', name: k, checked: cfg.settings[k] === true ? true : null });
    else control = input({ name: k, type: secret ? 'password' : (s.type === 'integer' || s.type === 'number') ? 'number' : 'text',
      value: secret ? '' : (cfg.settings[k] === undefined ? '' : String(cfg.settings[k])), autocomplete: 'off',
      placeholder: secret && cfg.secrets_set.includes(k) ? t('secret_set') : '' });
    return field((s.title || k) + (secret ? ' 🔒' : ''), control);
  });
  const form = el('form', { class: 'card', id: 'plugin-settings', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
    const out = {};
    for (const [k, s] of Object.entries(props)) {
      const c = form.elements[k];
      if (!c) continue;
      if (s.type === 'boolean') out[k] = c.checked;
      else if (c.value === '') { if (s.writeOnly !== true) continue; }
      else out[k] = (s.type === 'integer' || s.type === 'number') ? Number(c.value) : c.value;
    }
    await api('PUT', '/api/v1/plugins/' + enc(name) + '/settings', out); toast(t('saved'));
  }); } }, el('h3', {}, t('settings') + ': ' + name), fields.length ? fields : el('p', { class: 'muted' }, t('nothing')),
  fields.length ? el('button', { type: 'submit' }, t('save')) : null);
  return form;
}

function fwdText(f) {
  if (!f) return '';
  return [['always', f.always], ['on_busy', f.busy], ['no_answer', f.no_answer], ['unreachable', f.unreachable]].filter(([, v]) => v).map(([k, v]) => t(k) + ' → ' + v).join('; ');
}

function forwardingForm(f, save) {
  const fields = [['always', 'always'], ['busy', 'on_busy'], ['no_answer', 'no_answer'], ['unreachable', 'unreachable']];
  return el('form', { class: 'card', id: 'forwarding', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
    const d = Object.fromEntries(new FormData(e.target));
    const body = { always: d.always || null, busy: d.busy || null, no_answer: d.no_answer || null, unreachable: d.unreachable || null, no_answer_seconds: Number(d.no_answer_seconds) || 20 };
    await save(body); toast(t('saved'));
  }); } },
  fields.map(([k, label]) => field(t(label), input({ name: k, value: f[k] || '' }))),
  field(t('no_answer') + ', ' + t('after_s'), input({ name: 'no_answer_seconds', type: 'number', min: 5, max: 300, value: f.no_answer_seconds })),
  el('button', { type: 'submit' }, t('save')));
}

/** Pauses asked for and not yet reported back by the engine: "queue/ext" → paused. */
const pendingPause = new Map();

/** One queue: its callers and its agents (a supervisor pauses and unpauses them); `redraw`
 * draws the monitor again (none on the dashboard). */
function queueCard(q, redraw) {
  const agents = (q.agents || []).map((a) => {
    const key = q.queue + '/' + a.ext;
    const paused = a.paused ?? a.state === 'paused';
    if (pendingPause.has(key) && paused === pendingPause.get(key)) pendingPause.delete(key);
    const pending = pendingPause.has(key);
    const stateText = tOr('agent_' + a.state, a.state) + (paused && a.state !== 'paused' ? ' (' + t('agent_paused') + ')' : '')
      + (pending ? ' → ' + (pendingPause.get(key) ? t('agent_paused') : t('agent_available')) + ' …' : '');
    const button = state.me.role === 'supervisor' ? el('button', { class: 'secondary', disabled: pending ? true : null, onclick: () => attempt(async () => {
      pendingPause.set(key, !paused);
      if (redraw) redraw();
      try { await api('PATCH', '/api/v1/queues/' + enc(q.queue) + '/agents/' + enc(a.ext), { paused: !paused }); }
      catch (e) { pendingPause.delete(key); if (redraw) redraw(); throw e; }
      if (!redraw) render();
    }) }, paused ? t('unpause') : t('pause')) : '';
    return [el('span', { translate: 'no' }, a.ext + (a.name ? ' ' + a.name : '')), el('span', { class: pending ? 'muted pending' : null }, stateText), button];
  });
  return el('div', { class: 'card queue', 'data-queue': q.queue }, el('h3', {}, t('queue') + ' ' + q.queue + (q.name ? ' — ' + q.name : '')),
    el('p', {}, t('waiting') + ': ', el('b', {}, String((q.callers || []).length))),
    table([t('position'), t('caller'), t('waited')], (q.callers || []).map((c) => [String(c.position), el('span', { translate: 'no' }, c.caller), String(c.waited_s)])),
    table([t('agents'), t('state'), ''], agents));
}

async function callDetails(id) {
  const d = await api('GET', '/api/v1/calls/' + enc(id));
  const c = d.call;
  return el('div', { id: 'call-details' },
    table([t('started'), t('caller'), t('callee'), t('direction'), t('disposition'), t('talk')], [[fmtTime(c.started_at), c.caller_number, c.callee, t(c.direction), c.disposition ? t(c.disposition) : '…', String(c.talk_seconds)]]),
    d.recording ? el('div', { class: 'card' }, recordingCell(c.id)) : null,
    el('h3', {}, t('legs')), table([t('ext'), t('result')], d.legs.map((l) => [l.ext || '', tOr('leg_' + l.outcome, l.outcome)])),
    el('h3', {}, t('timeline')), table([t('started'), t('type'), t('details')], d.events.map((e) => [fmtTime(e.at), tOr('event_' + e.kind, e.kind), timelineDetail(e)])));
}

/** An event's detail in the page's language: its phrase with its parts (words among them
 * translated), or the detail as it is when it is data. */
function timelineDetail(e) {
  if (!e.code) return el('span', { translate: 'no' }, e.detail);
  return fillParts(tOr('tl_' + e.code, e.detail), e.params);
}

/** Who wrote a contact, in words. */
function sourceText(s) {
  if (s && s.startsWith('plugin:')) return t('plugin') + ' ' + s.slice(7);
  return tOr('source_' + s, s);
}

function uploadWithProgress(name, file, bar, msg, done) {
  if (!file) return;
  const x = new XMLHttpRequest();
  x.open('POST', '/api/v1/prompts?name=' + enc(name) + '&filename=' + enc(file.name));
  x.setRequestHeader('X-CSRF-Token', state.me.csrf);
  x.setRequestHeader('Content-Type', 'application/octet-stream');
  bar.hidden = false; bar.value = 0; msg.textContent = ''; msg.className = '';
  x.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total); };
  x.onload = () => {
    bar.hidden = true;
    let body = {}; try { body = JSON.parse(x.responseText); } catch (_) { /* not JSON */ }
    if (x.status >= 200 && x.status < 300) { msg.textContent = t('saved') + ': ' + body.name; done(); }
    else { msg.textContent = errorText(body, x.statusText); msg.className = 'bad'; }
  };
  x.onerror = () => { bar.hidden = true; msg.textContent = t('network_error'); msg.className = 'bad'; };
  x.send(file);
}

/** Grouped bars per user (received, answered, missed, busy, made) over a value axis with
 * gridlines, each bar with its value (SVG, no library). */
function chart(rows) {
  const ns = 'http://www.w3.org/2000/svg';
  const keys = [['received', '#4a7bd0'], ['answered', '#3aa45b'], ['missed', '#d0504a'], ['busy', '#d08a2a'], ['made', '#9a6ad0']];
  const label = (k) => t(k === 'busy' ? 'stat_busy' : k);
  const top = Math.max(1, ...rows.flatMap((r) => keys.map(([k]) => r[k])));
  // A round scale: 1, 2 or 5 times a power of ten per tick, four ticks or so.
  const raw = top / 4; const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const tick = Math.max(1, [1, 2, 5, 10].map((m) => m * p).find((v) => v >= raw));
  const max = Math.ceil(top / tick) * tick;
  const left = 40; const group = keys.length * 14 + 16; const h = 200; const y0 = h + 10;
  const w = Math.max(320, left + rows.length * group + 10);
  const svg = document.createElementNS(ns, 'svg');
  const add = (tag, attrs, text) => { const n = document.createElementNS(ns, tag); Object.entries(attrs).forEach(([a, b]) => n.setAttribute(a, b)); if (text !== undefined) n.textContent = text; svg.append(n); return n; };
  svg.setAttribute('viewBox', `0 0 ${w} ${h + 45}`); svg.setAttribute('class', 'chart'); svg.setAttribute('id', 'stats-chart');
  svg.setAttribute('role', 'img'); svg.setAttribute('aria-label', t('chart'));
  for (let v = 0; v <= max; v += tick) {
    const y = y0 - (v / max) * h;
    add('line', { x1: left, x2: w - 5, y1: y, y2: y, stroke: v === 0 ? '#555' : '#ddd', 'stroke-width': 1 });
    add('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 11, class: 'axis-y' }, String(v));
  }
  add('line', { x1: left, x2: left, y1: 10, y2: y0, stroke: '#555', 'stroke-width': 1 });
  rows.forEach((r, i) => {
    const x = left + 8 + i * group;
    keys.forEach(([k, color], j) => {
      const v = r[k]; const bh = (v / max) * h;
      const rect = add('rect', { x: x + j * 14, y: y0 - bh, width: 12, height: bh, fill: color });
      const title = document.createElementNS(ns, 'title'); title.textContent = `${r.ext} ${label(k)}: ${v}`; rect.append(title);
      if (v > 0) add('text', { x: x + j * 14 + 6, y: y0 - bh - 3, 'text-anchor': 'middle', 'font-size': 10, class: 'bar-value' }, String(v));
    });
    add('text', { x: x + (keys.length * 14) / 2, y: y0 + 18, 'text-anchor': 'middle', 'font-size': 12, class: 'axis-x' }, r.ext);
  });
  const legend = el('p', { class: 'legend' }, keys.map(([k, color]) => el('span', {}, el('span', { class: 'swatch k-' + k }, '■'), ' ' + label(k) + ' ')));
  return el('div', { class: 'card' }, el('h3', {}, t('chart')), svg, legend);
}
