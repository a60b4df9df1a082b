// The visual scenario editor: nodes are boxes on an SVG canvas laid out in layers by dagre
// (a well-kept layered-graph layout: few crossings, labels placed apart), dragged or moved
// with the arrow keys; edges run from each node's outputs to the node they lead to. A
// plugin node's settings form is generated from the plugin's JSON Schema; its outputs come
// from the plugin itself (they depend on the settings, e.g. the keys of a voice menu).
// Targets, prompts and queues are picked from the company's own. Leaving with unsaved
// changes asks first. "Test" runs the PBX's simulator on the scenario as it is on screen.
import { t, tOr, schemaText } from './i18n.js';
import { api, el, toast, attempt, table, state } from './app.js';

const BUILTIN = { dial: ['no-answer', 'busy', 'failed'], play: ['done'], queue: ['timeout', 'full'], hangup: [] };
const SVGNS = 'http://www.w3.org/2000/svg';
/** An output's or a node type's name in the reader's language (null: a plugin's own name). */
const shown = (prefix, name) => tOr(prefix + name, null);

/** A node's box. */
const W = 160; const H = 50;

let dagreLoading = null;
/** dagre (vendored in web/vendor, served from the binary), loaded on first use. */
function loadDagre() {
  if (window.dagre) return Promise.resolve(window.dagre);
  dagreLoading = dagreLoading || new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/assets/dagre.min.js';
    s.onload = () => resolve(window.dagre);
    s.onerror = () => { dagreLoading = null; reject(new Error(t('layout_unavailable'))); };
    document.head.append(s);
  });
  return dagreLoading;
}

/** Checkboxes whose ticked values keep the order they were ticked in; {el, get}. */
function orderedPicks(name, options, chosen) {
  const order = (chosen || []).slice();
  const shown = el('p', { class: 'muted' });
  const show = () => { shown.textContent = t('group_order') + ': ' + (order.join(' → ') || '—'); };
  const boxes = options.map(([value, label]) => el('label', { class: 'inline' }, el('input', { type: 'checkbox', name, value, checked: order.includes(value) ? true : null, onchange: (e) => {
    const i = order.indexOf(value);
    if (e.target.checked && i < 0) order.push(value);
    if (!e.target.checked && i >= 0) order.splice(i, 1);
    show();
  } }), label));
  show();
  return { el: el('div', { class: 'members', 'data-picks': name }, boxes, shown), get: () => order.slice() };
}

/** A form for a JSON Schema; returns {el, get} where get() gives the value (or throws). */
export function schemaField(schema, value, name = '') {
  schema = schema || {};
  const title = schemaText(schema.title || name);
  if (schema.type === 'object' && schema.properties) {
    const parts = Object.entries(schema.properties).map(([k, s]) => [k, schemaField(s, value ? value[k] : undefined, k)]);
    const req = schema.required || [];
    return {
      el: el('fieldset', { class: 'schema', 'data-name': name }, title ? el('legend', {}, title) : null, parts.map(([, p]) => p.el)),
      get() {
        const o = {};
        for (const [k, p] of parts) { const v = p.get(); if (v !== undefined || req.includes(k)) o[k] = v; }
        return o;
      },
    };
  }
  if (schema.type === 'object') {
    // A map: rows of key → value.
    const rows = el('div', { class: 'map' });
    const addRow = (k = '', v = '') => rows.append(el('div', { class: 'row' }, el('input', { class: 'k', value: k, size: 6, placeholder: t('map_key') }), '→',
      // In the scenario editor a value may name a node (offered from its list of node ids).
      el('input', { class: 'v', value: typeof v === 'string' ? v : JSON.stringify(v), placeholder: t('map_value'), list: 'node-ids' }),
      el('button', { type: 'button', class: 'secondary', onclick: (e) => e.target.closest('.row').remove() }, '×')));
    Object.entries(value || {}).forEach(([k, v]) => addRow(k, v));
    return {
      el: el('fieldset', { class: 'schema', 'data-name': name }, el('legend', {}, title), rows, el('button', { type: 'button', class: 'secondary add-row', onclick: () => addRow() }, '+')),
      get() {
        const o = {};
        for (const r of rows.querySelectorAll('.row')) { const k = r.querySelector('.k').value.trim(); if (k) o[k] = r.querySelector('.v').value; }
        return Object.keys(o).length || value ? o : undefined;
      },
    };
  }
  if (schema.type === 'array' && schema.items && schema.items.enum) {
    const boxes = schema.items.enum.map((opt) => el('label', { class: 'inline' }, el('input', { type: 'checkbox', value: opt, checked: (value || []).includes(opt) ? true : null }), schemaText(opt)));
    return { el: el('fieldset', { class: 'schema', 'data-name': name }, el('legend', {}, title), boxes), get: () => boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value) };
  }
  if (schema.type === 'array' && schema.items && schema.items.type === 'object') {
    const list = el('div', { class: 'items' });
    const items = [];
    const add = (v) => {
      const f = schemaField(schema.items, v, '');
      const box = el('div', { class: 'item' }, f.el, el('button', { type: 'button', class: 'secondary', onclick: () => { items.splice(items.indexOf(f), 1); box.remove(); } }, '×'));
      items.push(f); list.append(box);
    };
    (value || []).forEach(add);
    return { el: el('fieldset', { class: 'schema', 'data-name': name }, el('legend', {}, title), list, el('button', { type: 'button', class: 'secondary add-item', onclick: () => add({}) }, '+')), get: () => (items.length || value ? items.map((f) => f.get()) : undefined) };
  }
  if (schema.type === 'array') {
    const i = el('input', { value: (value || []).join(', ') });
    return { el: el('label', {}, title, i), get: () => (i.value.trim() ? i.value.split(',').map((s) => s.trim()).filter(Boolean) : undefined) };
  }
  if (schema.enum) {
    const s = el('select', { name }, el('option', { value: '' }, '—'), schema.enum.map((o) => el('option', { value: o, selected: o === value ? true : null }, schemaText(o))));
    return { el: el('label', {}, title, s), get: () => s.value || undefined };
  }
  if (schema.type === 'boolean') {
    const c = el('input', { type: 'checkbox', name, checked: (value ?? schema.default) ? true : null });
    return { el: el('label', { class: 'inline' }, c, title), get: () => c.checked };
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    const n = el('input', { type: 'number', name, value: value ?? '', min: schema.minimum, max: schema.maximum, placeholder: schema.default });
    return { el: el('label', {}, title, n), get: () => (n.value === '' ? undefined : Number(n.value)) };
  }
  const s = el('input', { name, value: value ?? '', pattern: schema.pattern, placeholder: schema.default || '' });
  return { el: el('label', {}, title, s), get: () => (s.value === '' ? undefined : s.value) };
}

/** The editor page of one city number. */
export async function scenarioEditor(number) {
  const enc = encodeURIComponent;
  const [saved, plugins, users, groups, prompts, settings] = await Promise.all([api('GET', '/api/v1/numbers/' + enc(number) + '/scenario'),
    api('GET', '/api/v1/plugins?limit=500'), api('GET', '/api/v1/users?limit=500'), api('GET', '/api/v1/groups?limit=500'),
    api('GET', '/api/v1/prompts?limit=500'), api('GET', '/api/v1/settings')]);
  const catalog = Object.fromEntries(plugins.items.filter((p) => p.outputs.length).map((p) => [p.name, p]));
  // A number without its own scenario opens on the default setup it follows.
  const sc = saved.scenario || saved.default_scenario || { start: 'ring-all', nodes: { 'ring-all': { type: 'dial', targets: ['all'], timeout: 60, next: {} } } };
  const hadLayout = !!sc.layout && Object.keys(sc.layout).length > 0;
  sc.layout = sc.layout || {};
  const outputs = {}; // node id -> outputs known
  let selected = sc.start;
  // Where dagre routed each edge ("from\0output" → points, label centre), while the nodes
  // stay where it put them.
  let routes = {};
  let dirty = false;
  const changed = () => { dirty = true; };
  state.leaveGuard = () => dirty;
  const promptNames = prompts.items.map((p) => p.name).concat(settings.builtin_prompts || []);

  const svg = document.createElementNS(SVGNS, 'svg');
  svg.setAttribute('class', 'canvas'); svg.setAttribute('id', 'canvas');
  const panel = el('div', { class: 'panel', id: 'node-panel' });
  const simOut = el('div', { id: 'sim-result' });
  const jsonBox = el('textarea', { id: 'scenario-json', rows: 14, hidden: true });

  function pos(id, i) {
    if (!sc.layout[id]) sc.layout[id] = [20 + (i % 4) * 190, 20 + Math.floor(i / 4) * 110];
    return sc.layout[id];
  }
  async function refreshOutputs(id) {
    const n = sc.nodes[id];
    if (n.type !== 'plugin') { outputs[id] = BUILTIN[n.type] || []; return; }
    try { outputs[id] = (await api('POST', '/api/v1/plugins/' + enc(n.plugin) + '/outputs', n.config || {})).outputs; }
    catch (e) { outputs[id] = Object.keys(n.next || {}).filter((k) => k !== '*' && k !== 'error'); }
  }
  /** Edges as (from, output, to) for nodes that exist. */
  function edges() {
    const out = [];
    for (const [id, n] of Object.entries(sc.nodes)) for (const [o, to] of Object.entries(n.next || {})) if (sc.nodes[to]) out.push([id, o, to]);
    return out;
  }
  /** Lays the nodes out in layers from the start (dagre); `keep` leaves positions alone and
   * only takes the routes when the positions are dagre's own. */
  async function arrange(keep) {
    const dagre = await loadDagre();
    const g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({ rankdir: 'TB', nodesep: 50, ranksep: 70, edgesep: 25, marginx: 20, marginy: 20 });
    const ids = Object.keys(sc.nodes);
    // The start first, so it is drawn on top.
    ids.sort((a, b) => (a === sc.start ? -1 : b === sc.start ? 1 : 0));
    for (const id of ids) g.setNode(id, { width: W, height: H });
    for (const [id, o, to] of edges()) g.setEdge(id, to, { label: o, width: o.length * 7 + 8, height: 16, labelpos: 'c' }, o);
    dagre.layout(g);
    const placed = Object.fromEntries(g.nodes().map((id) => { const p = g.node(id); return [id, [Math.round(p.x - W / 2), Math.round(p.y - H / 2)]]; }));
    const same = ids.every((id) => sc.layout[id] && sc.layout[id][0] === placed[id][0] && sc.layout[id][1] === placed[id][1]);
    if (keep && !same) { routes = {}; return; }
    if (!keep) { Object.assign(sc.layout, placed); }
    routes = {};
    for (const e of g.edges()) { const d = g.edge(e); routes[e.v + '\u0000' + e.name] = { points: d.points, x: d.x, y: d.y }; }
  }
  function forget(id) {
    for (const k of Object.keys(routes)) if (k.startsWith(id + '\u0000')) delete routes[k];
    for (const [from, o, to] of edges()) if (to === id) delete routes[from + '\u0000' + o];
  }
  function draw() {
    svg.replaceChildren();
    const ids = Object.keys(sc.nodes);
    const defs = document.createElementNS(SVGNS, 'defs');
    defs.innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z"/></marker>';
    svg.append(defs);
    let maxX = 400; let maxY = 300;
    ids.forEach((id, i) => { const [x, y] = pos(id, i); maxX = Math.max(maxX, x + W + 40); maxY = Math.max(maxY, y + H + 40); });
    svg.setAttribute('viewBox', `0 0 ${maxX} ${maxY}`);
    const labels = [];
    for (const [id, out, to] of edges()) {
      const r = routes[id + '\u0000' + out];
      let pts; let lx; let ly;
      if (r) { pts = r.points; lx = r.x; ly = r.y; }
      else {
        const [x, y] = sc.layout[id]; const [x2, y2] = sc.layout[to];
        pts = [{ x: x + W / 2, y: y + H }, { x: x2 + W / 2, y: y2 }];
        lx = (pts[0].x + pts[1].x) / 2; ly = (pts[0].y + pts[1].y) / 2;
      }
      const path = document.createElementNS(SVGNS, 'path');
      path.setAttribute('d', 'M' + pts.map((p) => `${Math.round(p.x)},${Math.round(p.y)}`).join(' L'));
      Object.entries({ class: 'edge', 'marker-end': 'url(#arrow)', 'data-from': id, 'data-output': out, 'data-to': to }).forEach(([a, b]) => path.setAttribute(a, b));
      svg.append(path);
      const label = document.createElementNS(SVGNS, 'text');
      Object.entries({ x: Math.round(lx), y: Math.round(ly) + 4, class: 'edge-label', 'text-anchor': 'middle' }).forEach(([a, b]) => label.setAttribute(a, b));
      label.textContent = shown('out_', out) || out;
      if (!shown('out_', out)) label.setAttribute('translate', 'no');
      labels.push(label);
    }
    for (const id of ids) {
      const [x, y] = sc.layout[id];
      const n = sc.nodes[id];
      const g = document.createElementNS(SVGNS, 'g');
      g.setAttribute('class', 'node' + (id === selected ? ' selected' : '') + (id === sc.start ? ' start' : ''));
      g.setAttribute('data-node', id);
      g.setAttribute('transform', `translate(${x},${y})`);
      // Keyboard: Tab to a node, Enter to open it, arrows to move it (Shift: further).
      g.setAttribute('tabindex', '0'); g.setAttribute('role', 'button');
      g.setAttribute('aria-label', t('node') + ' ' + id + ': ' + (n.type === 'plugin' ? n.plugin : n.type));
      const rect = document.createElementNS(SVGNS, 'rect');
      Object.entries({ width: W, height: H, rx: 8 }).forEach(([a, b]) => rect.setAttribute(a, b));
      const t1 = document.createElementNS(SVGNS, 'text'); t1.setAttribute('x', 8); t1.setAttribute('y', 20); t1.textContent = id;
      t1.setAttribute('translate', 'no');
      const t2 = document.createElementNS(SVGNS, 'text'); t2.setAttribute('x', 8); t2.setAttribute('y', 40); t2.setAttribute('class', 'kind');
      t2.textContent = n.type === 'plugin' ? n.plugin : shown('node_type_', n.type) || n.type;
      if (n.type === 'plugin') t2.setAttribute('translate', 'no');
      g.append(rect, t1, t2);
      drag(g, id);
      keys(g, id);
      svg.append(g);
    }
    // Labels last, over the boxes and lines, each on a backing that keeps it readable.
    for (const label of labels) {
      svg.append(label);
      const b = label.getBBox();
      const bg = document.createElementNS(SVGNS, 'rect');
      Object.entries({ x: b.x - 2, y: b.y - 1, width: b.width + 4, height: b.height + 2, class: 'edge-label-bg' }).forEach(([a, v]) => bg.setAttribute(a, v));
      svg.insertBefore(bg, label);
    }
    jsonBox.value = JSON.stringify(sc, null, 2);
  }
  function keys(g, id) {
    g.addEventListener('keydown', (e) => {
      const step = e.shiftKey ? 50 : 10;
      const move = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(id); focusNode(id); return; }
      if (!move) return;
      e.preventDefault();
      const [x, y] = sc.layout[id];
      sc.layout[id] = [Math.max(0, x + move[0]), Math.max(0, y + move[1])];
      forget(id); changed(); draw(); focusNode(id);
    });
  }
  function focusNode(id) { const n = svg.querySelector(`g[data-node="${CSS.escape(id)}"]`); if (n) n.focus(); }
  function drag(g, id) {
    g.addEventListener('pointerdown', (e) => {
      const start = [e.clientX, e.clientY]; const orig = [...sc.layout[id]];
      const scale = svg.viewBox.baseVal.width / svg.getBoundingClientRect().width || 1;
      let moved = false;
      const move = (m) => { moved = true; sc.layout[id] = [Math.max(0, Math.round(orig[0] + (m.clientX - start[0]) * scale)), Math.max(0, Math.round(orig[1] + (m.clientY - start[1]) * scale))]; g.setAttribute('transform', `translate(${sc.layout[id][0]},${sc.layout[id][1]})`); };
      const up = () => { window.removeEventListener('pointermove', move); window.removeEventListener('pointerup', up); if (moved) { forget(id); changed(); draw(); } else select(id); };
      window.addEventListener('pointermove', move); window.addEventListener('pointerup', up);
    });
  }
  function select(id) { selected = id; draw(); drawPanel(); }

  function drawPanel() {
    const id = selected; const n = sc.nodes[id];
    if (!n) { panel.replaceChildren(); return; }
    let form = null;
    let picks = null;
    const typeFields = [];
    if (n.type === 'plugin') {
      const p = catalog[n.plugin];
      form = schemaField(p ? p.config_schema : {}, n.config || {}, '');
      typeFields.push(el('p', {}, el('b', {}, n.plugin), ' ', p ? el('small', { class: 'muted', translate: 'no' }, p.description) : ''), form.el);
    } else if (n.type === 'dial') {
      // Extensions and groups are picked; outside numbers are typed.
      const inside = [['all', t('target_everyone')]].concat(users.items.map((u) => [u.ext, u.ext + (u.name ? ' ' + u.name : '')]).concat(groups.items.filter((g) => g.kind === 'ring').map((g) => [g.ext, g.ext + ' ' + (g.name || t('kind_ring'))])));
      const known = new Set(inside.map(([v]) => v));
      picks = orderedPicks('target', inside, (n.targets || []).filter((x) => known.has(x)));
      typeFields.push(el('fieldset', {}, el('legend', {}, t('targets')), picks.el,
        el('label', {}, t('other_numbers'), el('input', { name: 'other_targets', value: (n.targets || []).filter((x) => !known.has(x)).join(', '), placeholder: '+74951234567' }))),
        el('label', {}, t('timeout'), el('input', { name: 'timeout', type: 'number', min: 1, max: 600, value: n.timeout || 30 })));
    } else if (n.type === 'play') {
      picks = orderedPicks('prompt', promptNames.map((p) => [p, p]), n.prompts || []);
      typeFields.push(el('fieldset', {}, el('legend', {}, t('play_prompts')), picks.el),
        el('label', { class: 'inline' }, el('input', { type: 'checkbox', name: 'extension_dialing', checked: n.extension_dialing !== false ? true : null }), t('extension_dialing')));
    } else if (n.type === 'queue') {
      typeFields.push(el('label', {}, t('queue'), el('select', { name: 'queue' }, el('option', { value: '' }, '—'),
        groups.items.filter((g) => g.kind === 'queue').map((g) => el('option', { value: g.ext, selected: g.ext === n.queue ? true : null }, g.ext + (g.name ? ' ' + g.name : ''))))));
    }
    const outs = [...(outputs[id] || []), '*', ...(n.type === 'plugin' ? ['error'] : [])];
    const others = Object.keys(sc.nodes);
    const edges = outs.map((o) => el('label', { class: 'edge-row' }, shown('out_', o) ? shown('out_', o) + ' →' : el('span', { translate: 'no' }, o + ' →'), el('select', { 'data-output': o },
      el('option', { value: '' }, '—'), others.map((k) => el('option', { value: k, translate: 'no', selected: (n.next || {})[o] === k ? true : null }, k)))));
    const apply = el('button', { type: 'button', id: 'apply-node', onclick: () => attempt(async () => {
      if (n.type === 'plugin') n.config = form.get();
      if (n.type === 'dial') {
        n.targets = picks.get().concat(panel.querySelector('[name=other_targets]').value.split(',').map((s) => s.trim()).filter(Boolean));
        n.timeout = Number(panel.querySelector('[name=timeout]').value) || 30;
      }
      if (n.type === 'play') { n.prompts = picks.get(); n.extension_dialing = panel.querySelector('[name=extension_dialing]').checked; }
      if (n.type === 'queue') n.queue = panel.querySelector('[name=queue]').value.trim();
      n.next = {};
      for (const s of panel.querySelectorAll('[data-output]')) if (s.value) n.next[s.dataset.output] = s.value;
      changed(); forget(id);
      await refreshOutputs(id);
      // An output named after a node (a menu key whose value was picked from the node list)
      // leads to that node at once.
      for (const o of outputs[id] || []) if (sc.nodes[o] && o !== id && !n.next[o]) n.next[o] = o;
      draw(); drawPanel();
    }) }, t('save') + ' ' + t('node').toLowerCase());
    // Values of a plugin's map (a menu's keys) may name a node: offered from a list.
    const nodeList = el('datalist', { id: 'node-ids' }, Object.keys(sc.nodes).filter((k) => k !== id).map((k) => el('option', { value: k })));
    panel.replaceChildren(nodeList, el('h3', {}, t('node') + ': ' + id + (id === sc.start ? ' (' + t('start') + ')' : '')), ...typeFields,
      el('h4', {}, t('outputs')), ...edges, el('div', { class: 'buttons' }, apply,
        el('button', { type: 'button', class: 'secondary', onclick: () => { sc.start = id; changed(); draw(); drawPanel(); } }, t('set_start')),
        el('button', { type: 'button', class: 'danger', onclick: () => { forget(id); delete sc.nodes[id]; delete sc.layout[id]; for (const m of Object.values(sc.nodes)) for (const [k, v] of Object.entries(m.next || {})) if (v === id) delete m.next[k]; selected = sc.start; changed(); draw(); drawPanel(); } }, t('delete'))));
  }

  const newType = el('select', { id: 'new-node-type', 'aria-label': t('type') }, ['dial', 'play', 'queue', 'hangup'].map((k) => el('option', { value: k }, shown('node_type_', k) || k)),
    Object.keys(catalog).map((k) => el('option', { value: 'plugin:' + k }, t('plugin') + ': ' + k)));
  const newId = el('input', { id: 'new-node-id', placeholder: t('node_id'), 'aria-label': t('node_id'), size: 10, pattern: '[a-z0-9-]{1,32}' });
  const addNode = el('button', { type: 'button', id: 'add-node', onclick: () => attempt(async () => {
    const id = newId.value.trim();
    if (!/^[a-z0-9-]{1,32}$/.test(id) || sc.nodes[id]) throw new Error(t('node_id_rule'));
    const v = newType.value;
    sc.nodes[id] = v.startsWith('plugin:') ? { type: 'plugin', plugin: v.slice(7), config: {}, next: {} } : v === 'dial' ? { type: 'dial', targets: [], timeout: 30, next: {} } : v === 'play' ? { type: 'play', prompts: [], next: {} } : v === 'queue' ? { type: 'queue', queue: '', next: {} } : { type: 'hangup' };
    changed();
    await refreshOutputs(id); newId.value = ''; select(id);
  }) }, t('add_node'));
  const save = el('button', { type: 'button', id: 'save-scenario', onclick: () => attempt(async () => {
    const r = await api('PUT', '/api/v1/numbers/' + enc(number) + '/scenario', sc);
    Object.assign(sc, r.scenario); sc.layout = r.scenario.layout || sc.layout; dirty = false; toast(t('saved')); draw();
  }) }, t('save'));
  const arrangeButton = el('button', { type: 'button', id: 'arrange', class: 'secondary', onclick: () => attempt(async () => { await arrange(false); changed(); draw(); }) }, t('arrange'));
  const toggleJson = el('button', { type: 'button', class: 'secondary', onclick: () => {
    if (!jsonBox.hidden) { try { const v = JSON.parse(jsonBox.value); Object.keys(sc).forEach((k) => delete sc[k]); Object.assign(sc, v); sc.layout = sc.layout || {}; routes = {}; changed(); Promise.all(Object.keys(sc.nodes).map(refreshOutputs)).then(() => { draw(); drawPanel(); }); } catch (e) { toast(e.message, true); return; } }
    jsonBox.hidden = !jsonBox.hidden;
  } }, t('json'));
  const at = el('input', { type: 'datetime-local', id: 'sim-at' });
  const from = el('input', { id: 'sim-from', value: '+74950000000', size: 14 });
  const digits = el('input', { id: 'sim-digits', size: 8 });
  const test = el('button', { type: 'button', id: 'sim-run', class: 'secondary', onclick: () => attempt(async () => {
    const body = { scenario: sc, from: from.value, digits: digits.value };
    if (at.value) body.at = new Date(at.value).toISOString();
    const r = await api('POST', '/api/v1/numbers/' + enc(number) + '/simulate', body);
    simOut.replaceChildren(table([t('node'), t('details'), t('outputs')], r.path.map((s) => [s.node, s.label + (s.actions.length ? ': ' + s.actions.join('; ') : ''), s.output || ''])), el('p', { id: 'sim-end' }, el('b', {}, t('result') + ': '), r.end));
  }) }, t('test'));

  await Promise.all(Object.keys(sc.nodes).map(refreshOutputs));
  // A scenario never arranged is laid out now; a saved one keeps its places (and dagre's
  // routes when they are dagre's places).
  await arrange(hadLayout).catch((e) => toast(e.message, true));
  draw(); drawPanel();
  return el('div', { class: 'editor' }, el('h3', {}, t('scenario') + ' ' + number),
    saved.scenario ? null : el('p', { class: 'muted', id: 'default-scenario-note' }, t('default_scenario_note')),
    el('div', { class: 'toolbar' }, newId, newType, addNode, save, arrangeButton, toggleJson),
    el('div', { class: 'editor-grid' }, el('div', { class: 'canvas-wrap' }, svg), panel), jsonBox,
    el('div', { class: 'card' }, el('h3', {}, t('test')), el('label', {}, t('at'), at), el('label', {}, t('caller'), from), el('label', {}, t('digits'), digits), test, simOut));
}
