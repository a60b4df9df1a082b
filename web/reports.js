// Queue reports for a period (service level, abandoned callers and their waits, waits and
// talk, per agent) and the wallboard: each queue's callers and agents live, with today's
// figures, in large type for a screen on the wall.
import { t, tOr } from './i18n.js';
import { api, el, table, attempt, isoDay } from './app.js';

const enc = encodeURIComponent;
const secs = (v) => v.toFixed(1);
const pct = (v) => v.toFixed(0) + '%';

/** The reports page. */
export async function queueReportsPage() {
  const out = el('div', { id: 'queue-reports' });
  const from = el('input', { name: 'from', type: 'date', value: isoDay(-7) });
  const to = el('input', { name: 'to', type: 'date', value: isoDay(0) });
  const sl = el('input', { name: 'sl', type: 'number', min: 1, max: 600, value: '20', size: 4 });
  async function load() {
    const r = await api('GET', '/api/v1/queue-reports?from=' + enc(from.value) + '&to=' + enc(to.value) + '&sl=' + enc(sl.value));
    if (!r.queues.length) { out.replaceChildren(el('p', { class: 'muted' }, t('nothing'))); return; }
    out.replaceChildren(table([t('queue'), t('qr_entered'), t('answered'), t('qr_service_level'), t('qr_abandoned'), t('qr_timed_out'), t('qr_callback'), t('qr_full'),
      t('qr_wait_answered'), t('qr_wait_abandoned'), t('qr_max_wait'), t('qr_avg_talk')], r.queues.map((q) => [
      el('span', { translate: 'no' }, q.queue + (q.name ? ' ' + q.name : '')), String(q.entered), String(q.answered), pct(q.service_level), String(q.abandoned),
      String(q.timed_out), String(q.callback), String(q.full), secs(q.avg_wait_answered), secs(q.avg_wait_abandoned), secs(q.max_wait), secs(q.avg_talk)])),
    ...r.queues.map((q) => el('div', { class: 'card', 'data-queue': q.queue }, el('h3', {}, t('queue') + ' ' + q.queue + ': ' + t('agents')),
      table([t('ext'), t('name'), t('answered'), t('qr_missed_offers'), t('qr_talk_total')], q.agents.map((a) => [
        el('span', { translate: 'no' }, a.ext), el('span', { translate: 'no' }, a.name), String(a.answered), String(a.missed), String(a.talk_seconds)])))));
  }
  const form = el('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); attempt(load); } },
    el('label', {}, t('from'), from), el('label', {}, t('to'), to), el('label', {}, t('qr_threshold'), sl), el('button', { type: 'submit' }, t('show')));
  await load();
  return el('div', {}, el('p', { class: 'muted' }, t('qr_hint')), form, out);
}

/** The wallboard page: live queues over WebSocket, today's figures every 15 seconds. */
export async function wallboardPage({ onLeave }) {
  const groups = await api('GET', '/api/v1/groups?limit=500');
  const qs = groups.items.filter((g) => g.kind === 'queue');
  let live = await Promise.all(qs.map((g) => api('GET', '/api/v1/queues/' + enc(g.ext) + '/status')));
  let today = { queues: [] };
  const board = el('div', { id: 'wallboard', class: 'wallboard' });
  const tile = (label, value, cls) => el('div', { class: 'tile' + (cls ? ' ' + cls : '') }, el('div', { class: 'value' }, value), el('div', { class: 'label' }, label));
  function draw() {
    board.replaceChildren(...(live.length ? live.map((q) => {
      const r = today.queues.find((x) => x.queue === q.queue);
      const callers = q.callers || [];
      const agents = q.agents || [];
      const count = (s) => String(agents.filter((a) => a.state === s).length);
      const longest = callers.reduce((m, c) => Math.max(m, c.waited_s || 0), 0);
      return el('section', { class: 'board', 'data-queue': q.queue }, el('h3', {}, t('queue') + ' ' + q.queue + (q.name ? ' — ' + q.name : '')),
        el('div', { class: 'tiles' },
          tile(t('waiting'), String(callers.length), callers.length ? 'hot' : null), tile(t('wb_longest'), longest + ' ' + t('wb_s')),
          tile(tOr('agent_available', 'available'), count('available')), tile(tOr('agent_busy', 'on a call'), count('busy')), tile(tOr('agent_paused', 'paused'), count('paused')),
          tile(t('wb_answered_today'), String(r ? r.answered : 0)), tile(t('wb_abandoned_today'), String(r ? r.abandoned : 0), r && r.abandoned ? 'warn' : null),
          tile(t('qr_service_level'), r ? pct(r.service_level) : '—'), tile(t('qr_wait_answered'), r ? secs(r.avg_wait_answered) + ' ' + t('wb_s') : '—')));
    }) : [el('p', { class: 'muted' }, t('nothing'))]));
  }
  async function refresh() { try { today = await api('GET', '/api/v1/queue-reports'); draw(); } catch (_) { /* kept as it was */ } }
  await refresh();
  draw();
  const timer = setInterval(refresh, 15000);
  const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
  const ws = new WebSocket(proto + location.host + '/api/v1/live');
  ws.onmessage = (m) => { const s = JSON.parse(m.data); if (!s.error && s.queues) { live = s.queues; draw(); } };
  onLeave(() => { ws.close(); clearInterval(timer); });
  const full = el('button', { class: 'secondary', id: 'wallboard-full', onclick: () => board.requestFullscreen && board.requestFullscreen() }, t('wb_fullscreen'));
  return el('div', {}, el('p', {}, full), board);
}
