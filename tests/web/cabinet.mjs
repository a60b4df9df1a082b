// Browser test of the cabinet in headless Chromium (Playwright), run by tests/e2e_cabinet.rs
// against a real `pbx serve` that already carried a SIPp call 101 → 102.
// Env: BASE (http://127.0.0.1:PORT), DID (the tenant's city number), GREETING (audio file).
// Exits non-zero with the step that failed.
import AxeBuilder from '@axe-core/playwright';
import { chromium } from 'playwright-core';
import SwaggerParser from '@apidevtools/swagger-parser';
import assert from 'node:assert/strict';
import { until } from './poll.mjs';

const BASE = process.env.BASE;
const DID = process.env.DID;
const OFFICE_DID = process.env.OFFICE_DID;
const GREETING = process.env.GREETING;
let step = 'start';
// What a failure report shows besides the step: the page's text and the API's refusals.
let failedPage = null;
const refusals = [];

async function openapiValidates() {
  step = 'the OpenAPI document validates';
  const doc = await (await fetch(BASE + '/api/v1/openapi.json')).json();
  await SwaggerParser.validate(structuredClone(doc));
  // The validator is not vacuous: a broken copy fails.
  const broken = structuredClone(doc);
  broken.paths['/api/v1/calls'].get.parameters[0].in = 'nowhere';
  await assert.rejects(SwaggerParser.validate(broken));
  return doc;
}

async function login(page, who, password) {
  await page.goto(BASE + '/');
  await page.fill('input[name=login]', who);
  await page.fill('input[name=password]', password);
  await page.click('form.login button[type=submit]');
  // On a phone screen the menu is folded away: present is enough.
  await page.waitForSelector('#nav a', { state: 'attached' });
}

async function playable(page, selector) {
  // Plays an <audio> and waits until its time advances (decoded and playing).
  return page.$eval(selector, (a) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('audio did not play: ' + (a.error ? a.error.message || a.error.code : 'no progress'))), 10000);
    a.addEventListener('timeupdate', () => { if (a.currentTime > 0.2) { clearTimeout(timer); resolve(a.duration); } });
    a.addEventListener('error', () => { clearTimeout(timer); reject(new Error('audio error ' + (a.error && a.error.code))); });
    a.preload = 'auto';
    a.play().catch(reject);
  }));
}

async function main() {
  await openapiValidates();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    // Language from Accept-Language.
    step = 'the login page speaks Russian to a Russian browser';
    const ru = await browser.newContext({ locale: 'ru-RU' });
    const rp = await ru.newPage();
    await rp.goto(BASE + '/');
    assert.equal(await rp.textContent('form.login button[type=submit]'), 'Войти');
    await ru.close();

    // bypassCSP lets Playwright's waitForFunction evaluate its predicates; the page itself runs under the CSP.
    const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 }, bypassCSP: true });
    const page = await ctx.newPage();
    // Dialogs are accepted; a queued answer goes to the next dialog (false: dismiss it).
    const answers = [];
    page.on('dialog', (d) => {
      const a = answers.length ? answers.shift() : undefined;
      if (a === false) return d.dismiss();
      return d.accept(d.type() === 'prompt' ? a : undefined);
    });
    page.on('response', (r) => { if (r.status() >= 300 || r.url().includes('/integration')) refusals.push(`${r.status()} ${r.request().method()} ${r.url()}`); });
    failedPage = page;

    step = 'a wrong password is refused';
    await page.goto(BASE + '/');
    await page.fill('input[name=login]', '101@acme');
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('form.login button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
    assert.match(await page.textContent('#login-error'), /Wrong login or password/);

    step = 'the supervisor logs in and sees today on the dashboard';
    await login(page, '101@acme', 'boss-pass-1');
    await page.waitForFunction(() => Number((document.querySelector('#fig-total b') || {}).textContent) >= 1, null, { timeout: 10000 });

    step = 'the supervisor creates a user';
    await page.click('#nav a[href="#/users"]');
    await page.fill('#new-user input[name=ext]', '105');
    await page.fill('#new-user input[name=name]', 'Olga Smirnova');
    await page.fill('#new-user input[name=web_password]', 'olga-pass-1');
    await page.click('#new-user button[type=submit]');
    await page.waitForSelector('td:text-is("105")');
    assert.ok(await page.isVisible('td:text-is("Olga Smirnova")'));
    await page.click('tr:has(td:text-is("105")) button.edit-user');
    await page.fill('#user-edit input[name=name]', 'Olga Smirnova-Petrova');
    await page.click('#user-edit button[type=submit]');
    await page.waitForSelector('td:text-is("Olga Smirnova-Petrova")');
    assert.equal((await page.evaluate(async () => (await fetch('/api/v1/users/105')).json())).role, 'user');

    step = 'a greeting is uploaded (with progress) and plays';
    await page.click('#nav a[href="#/prompts"]');
    await page.fill('#prompt-name', 'ivr-menu');
    await page.setInputFiles('#prompt-file', GREETING);
    await page.click('form.card button[type=submit]');
    await page.waitForFunction(() => /Saved/.test(document.querySelector('#upload-msg').textContent), null, { timeout: 15000 });
    await page.waitForSelector('td:text-is("ivr-menu")');
    const dur = await playable(page, 'audio[src="/api/v1/prompts/ivr-menu/audio"]');
    assert.ok(dur > 0.5, 'greeting duration ' + dur);

    step = 'a bad upload says why and stores nothing';
    await page.fill('#prompt-name', 'broken');
    await page.setInputFiles('#prompt-file', { name: 'x.wav', mimeType: 'audio/wav', buffer: Buffer.from('not audio at all') });
    await page.click('form.card button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#upload-msg').className === 'bad');
    assert.ok((await page.textContent('#upload-msg')).length > 5);
    assert.equal(await page.locator('td:text-is("broken")').count(), 0);

    step = 'a greeting nobody uses is renamed, then deleted';
    await page.fill('#prompt-name', 'spare');
    await page.setInputFiles('#prompt-file', GREETING);
    await page.click('form.card button[type=submit]');
    await page.waitForSelector('td:text-is("spare")');
    answers.push('spare-2');
    await page.click('tr:has(td:text-is("spare")) button.rename');
    await page.waitForSelector('td:text-is("spare-2")');
    assert.equal(await page.evaluate(async () => (await fetch('/api/v1/prompts/spare-2/audio')).status), 200, 'the renamed prompt plays');
    await page.click('tr:has(td:text-is("spare-2")) button.danger');
    await page.waitForFunction(() => ![...document.querySelectorAll('td')].some((td) => td.textContent === 'spare-2'));
    assert.ok(await page.isVisible('td:text-is("ivr-menu")'));
    assert.equal(await page.evaluate(async () => (await fetch('/api/v1/prompts/spare/audio')).status), 404);

    step = 'a ring group is created with picked members, changed and deleted';
    await page.click('#nav a[href="#/groups"]');
    await page.click('#new-group');
    await page.fill('#group-form input[name=ext]', '320');
    await page.fill('#group-form input[name=name]', 'Sales');
    await page.selectOption('#group-form select[name=strategy]', 'sequential');
    await page.check('#group-form input[name=member][value="102"]');
    await page.check('#group-form input[name=member][value="101"]');
    assert.equal(await page.textContent('#group-order'), 'Order: 102 → 101');
    assert.equal(await page.isVisible('#group-form input[name=max_length]'), false, 'queue settings are hidden for a ring group');
    await page.click('#group-form button[type=submit]');
    await page.waitForSelector('#group-list td:text-is("320")');
    let grp = (await page.evaluate(async () => (await fetch('/api/v1/groups')).json())).items.find((g) => g.ext === '320');
    assert.deepEqual([grp.kind, grp.strategy, grp.members], ['ring', 'sequential', ['102', '101']]);
    await page.click('#group-list tr:has(td:text-is("320")) button:text-is("Edit")');
    await page.selectOption('#group-form select[name=strategy]', 'simultaneous');
    await page.uncheck('#group-form input[name=member][value="102"]');
    await page.click('#group-form button[type=submit]');
    await page.waitForSelector('#group-list td:text-is("all at once")');
    grp = (await page.evaluate(async () => (await fetch('/api/v1/groups')).json())).items.find((g) => g.ext === '320');
    assert.deepEqual([grp.strategy, grp.members], ['simultaneous', ['101']]);
    await page.click('#group-list tr:has(td:text-is("320")) button.danger');
    await page.waitForFunction(() => !document.querySelector('#group-list').textContent.includes('320'));

    step = 'a queue is created with its own music and entry announcement, and changed';
    await page.click('#new-group');
    await page.fill('#group-form input[name=ext]', '330');
    await page.fill('#group-form input[name=name]', 'Support');
    await page.selectOption('#group-form select[name=kind]', 'queue');
    assert.equal(await page.isVisible('#group-form input[name=max_length]'), true, 'queue settings show for a queue');
    await page.selectOption('#group-form select[name=strategy]', 'longest-idle');
    await page.check('#group-form input[name=member][value="101"]');
    await page.fill('#group-form input[name=max_length]', '7');
    await page.selectOption('#group-form select[name=music_prompt]', 'please-hold');
    await page.selectOption('#group-form select[name=entry_prompt]', 'welcome');
    await page.click('#group-form button[type=submit]');
    await page.waitForSelector('#group-list td:text-is("330")');
    let q = (await page.evaluate(async () => (await fetch('/api/v1/groups')).json())).items.find((g) => g.ext === '330');
    assert.deepEqual([q.kind, q.strategy, q.members, q.max_length, q.music_prompt, q.entry_prompt], ['queue', 'longest-idle', ['101'], 7, 'please-hold', 'welcome']);
    await page.click('#group-list tr:has(td:text-is("330")) button:text-is("Edit")');
    assert.equal(await page.inputValue('#group-form select[name=music_prompt]'), 'please-hold', 'the form shows the saved music');
    await page.selectOption('#group-form select[name=music_prompt]', '');
    await page.click('#group-form button[type=submit]');
    for (let i = 0; ; i++) {
      q = (await page.evaluate(async () => (await fetch('/api/v1/groups')).json())).items.find((g) => g.ext === '330');
      if (q.music_prompt === '') break;
      assert.ok(i < 40, 'the queue keeps its music: ' + JSON.stringify(q));
      await page.waitForTimeout(250);
    }
    await page.click('#group-list tr:has(td:text-is("330")) button.danger');
    await page.waitForFunction(() => !document.querySelector('#group-list').textContent.includes('330'));

    step = 'the phone book imports a CSV, names a bad line, and takes a contact from the form';
    await page.click('#nav a[href="#/contacts"]');
    await page.setInputFiles('#contact-file', { name: 'book.csv', mimeType: 'text/csv', buffer: Buffer.from('number,name\n+79161112233,Bad\nnonsense,Line\n') });
    await page.click('form.card:has(#contact-file) button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#import-msg').className === 'bad');
    assert.equal(await page.textContent('#import-msg'), 'Nothing imported: Line 3: "nonsense" is not a telephone number');
    await page.setInputFiles('#contact-file', { name: 'book.csv', mimeType: 'text/csv', buffer: Buffer.from('\ufeffТелефон;Имя;Компания\n8 916 111-22-33;Пётр Сидоров;ООО Ромашка\n') });
    await page.click('form.card:has(#contact-file) button[type=submit]');
    await page.waitForSelector('td:text-is("+79161112233")');
    assert.match(await page.textContent('#import-msg'), /Imported: 1 new, 0 changed/);
    await page.fill('#contact-form input[name=number]', '8 (495) 000-11-22');
    await page.fill('#contact-form input[name=name]', 'Front desk');
    await page.click('#contact-form button[type=submit]');
    await page.waitForSelector('td:text-is("+74950001122")');
    await page.fill('#contact-search', 'ромашка');
    await page.click('form.filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('tbody tr').length === 1);
    assert.ok(await page.isVisible('td:text-is("Пётр Сидоров")'));
    // Click-to-call from the book: the company has no balance to call out, and is told so.
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('tr:has(td:text-is("Пётр Сидоров")) button.call');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal(await page.textContent('#toast'), 'Insufficient balance: outgoing calls are blocked');

    step = 'the editor builds time rule → IVR → extension and saves it';
    await page.click('#nav a[href="#/numbers"]');
    await page.click(`a[href="#/numbers/${encodeURIComponent(DID)}"]`);
    await page.waitForSelector('#canvas g[data-node]');
    // A number without a scenario opens on the default setup it follows: everyone rings.
    const def = await page.evaluate(async (did) => (await fetch('/api/v1/numbers/' + encodeURIComponent(did) + '/scenario')).json(), DID);
    assert.equal(def.scenario, null);
    assert.deepEqual(def.default_scenario.nodes.everyone.targets, ['all']);
    assert.ok(await page.isVisible('#default-scenario-note'), 'the editor says the number follows the default setup');
    assert.deepEqual(await page.$$eval('#canvas g[data-node]', (gs) => gs.map((g) => g.dataset.node).sort()), Object.keys(def.default_scenario.nodes).sort());
    await page.click('#canvas g[data-node="everyone"]');
    assert.equal(await page.isChecked('#node-panel input[name=target][value="all"]'), true, '"everyone in the company" is picked');
    // This number gets its own scenario: the default nodes go.
    for (const id of Object.keys(def.default_scenario.nodes)) {
      await page.click(`#canvas g[data-node="${id}"]`);
      await page.click('#node-panel button.danger');
      await page.waitForSelector(`#canvas g[data-node="${id}"]`, { state: 'detached' });
    }
    const addNode = async (id, type) => {
      await page.fill('#new-node-id', id);
      await page.selectOption('#new-node-type', type);
      await page.click('#add-node');
      await page.waitForSelector(`#canvas g[data-node="${id}"].selected`);
    };
    await addNode('bye', 'hangup');
    await addNode('to-102', 'dial');
    await page.check('#node-panel input[name=target][value="102"]');
    await page.selectOption('#node-panel select[data-output="*"]', 'bye');
    await page.click('#apply-node');
    await addNode('menu', 'plugin:ivr');
    await page.fill('#node-panel input[name=prompt]', 'ivr-menu');
    await page.click('#node-panel fieldset[data-name=options] .add-row');
    await page.fill('#node-panel fieldset[data-name=options] .row .k', '1');
    await page.fill('#node-panel fieldset[data-name=options] .row .v', 'sales');
    await page.click('#apply-node');
    await page.waitForSelector('#node-panel select[data-output=sales]');
    for (const out of ['sales', 'timeout', 'invalid']) await page.selectOption(`#node-panel select[data-output=${out}]`, 'to-102');
    await page.click('#apply-node');
    // Key 2 straight to a node: its value picked from the node list wires it in one step.
    await page.waitForSelector('#node-panel select[data-output=sales]');
    await page.click('#node-panel fieldset[data-name=options] .add-row');
    await page.fill('#node-panel fieldset[data-name=options] .row:last-child .k', '2');
    assert.equal(await page.getAttribute('#node-panel fieldset[data-name=options] .row:last-child .v', 'list'), 'node-ids');
    await page.fill('#node-panel fieldset[data-name=options] .row:last-child .v', 'bye');
    await page.click('#apply-node');
    await page.waitForFunction(() => document.querySelector('#node-panel select[data-output=bye]')?.value === 'bye');
    await addNode('hours', 'plugin:time-rules');
    await page.click('#node-panel fieldset[data-name=weekly] .add-item');
    for (const d of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) await page.check(`#node-panel fieldset[data-name=days] input[value=${d}]`);
    await page.fill('#node-panel input[name=from]', '00:00');
    await page.fill('#node-panel input[name=to]', '24:00');
    await page.click('#apply-node');
    await page.waitForSelector('#node-panel select[data-output=open]');
    await page.selectOption('#node-panel select[data-output=open]', 'menu');
    await page.selectOption('#node-panel select[data-output=closed]', 'to-102');
    await page.click('#apply-node');
    await page.click('#node-panel button:text("Make start")');
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('#save-scenario');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal(await page.textContent('#toast'), 'Saved', 'saving the scenario');
    const saved = await page.evaluate(async (did) => (await (await fetch('/api/v1/numbers/' + encodeURIComponent(did) + '/scenario')).json()).scenario, DID);
    assert.equal(saved.start, 'hours');
    assert.deepEqual(Object.keys(saved.nodes).sort(), ['bye', 'hours', 'menu', 'to-102']);
    assert.equal(saved.nodes['to-102'].next['*'], 'bye');
    assert.equal(saved.nodes.hours.plugin, 'time-rules');
    assert.equal(saved.nodes.hours.next.open, 'menu');
    assert.equal(saved.nodes.menu.next.sales, 'to-102');
    assert.equal(saved.nodes.menu.next.bye, 'bye', 'key 2 leads to the node named');
    assert.equal(saved.nodes.menu.config.options['2'], 'bye');
    assert.deepEqual(saved.nodes['to-102'].targets, ['102']);
    assert.ok(saved.layout && saved.layout.hours, 'node positions are saved');

    step = 'the simulator walks the saved scenario';
    await page.fill('#sim-digits', '1');
    await page.click('#sim-run');
    await page.waitForSelector('#sim-end');
    const path = await page.$$eval('#sim-result tbody tr td:first-child', (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(path.slice(0, 3), ['hours', 'menu', 'to-102'], 'simulated path ' + path);

    step = 'the editor lays out the example office with no crossing edges and no overlapping labels';
    await page.goto(BASE + '/#/numbers/' + encodeURIComponent(OFFICE_DID));
    await page.waitForSelector('#canvas g[data-node="bye"]');
    const geo = await page.evaluate(() => {
      const edges = [...document.querySelectorAll('#canvas path.edge')].map((p) => ({ name: p.dataset.from + ':' + p.dataset.output,
        pts: p.getAttribute('d').slice(1).split(' L').map((xy) => xy.split(',').map(Number)) }));
      const rect = (b) => [b.x, b.y, b.x + b.width, b.y + b.height];
      const labels = [...document.querySelectorAll('#canvas text.edge-label')].map((l) => [...rect(l.getBBox()), l.textContent]);
      const boxes = [...document.querySelectorAll('#canvas g.node')].map((g) => {
        const m = g.transform.baseVal.consolidate().matrix; const b = g.querySelector('rect').getBBox();
        return [m.e + b.x, m.f + b.y, m.e + b.x + b.width, m.f + b.y + b.height, g.dataset.node];
      });
      return { edges, labels, boxes };
    });
    assert.equal(geo.edges.length, 11, 'every edge of the office is drawn');
    const cross = (p, q, r, s) => {
      const o = (a, b, c) => Math.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]));
      return o(p, q, r) * o(p, q, s) < 0 && o(r, s, p) * o(r, s, q) < 0;
    };
    const crossings = [];
    for (let i = 0; i < geo.edges.length; i++) for (let j = i + 1; j < geo.edges.length; j++) {
      const a = geo.edges[i].pts; const b = geo.edges[j].pts;
      for (let k = 0; k + 1 < a.length; k++) for (let l = 0; l + 1 < b.length; l++) {
        if (cross(a[k], a[k + 1], b[l], b[l + 1])) crossings.push(geo.edges[i].name + ' × ' + geo.edges[j].name);
      }
    }
    assert.deepEqual(crossings, [], 'crossing edges');
    const overlap = (a, b) => a[0] < b[2] - 1 && b[0] < a[2] - 1 && a[1] < b[3] - 1 && b[1] < a[3] - 1;
    const clashes = [];
    for (let i = 0; i < geo.labels.length; i++) {
      for (let j = i + 1; j < geo.labels.length; j++) if (overlap(geo.labels[i], geo.labels[j])) clashes.push(geo.labels[i][4] + ' / ' + geo.labels[j][4]);
      for (const b of geo.boxes) if (overlap(geo.labels[i], b)) clashes.push(geo.labels[i][4] + ' on ' + b[4]);
    }
    assert.deepEqual(clashes, [], 'overlapping labels');

    step = 'a node moves from the keyboard, and leaving with the change unsaved asks first';
    await page.focus('#canvas g[data-node="bye"]');
    const before = JSON.parse(await page.inputValue('#scenario-json')).layout.bye;
    await page.keyboard.press('ArrowRight');
    const after = JSON.parse(await page.inputValue('#scenario-json')).layout.bye;
    assert.deepEqual(after, [before[0] + 10, before[1]], 'the arrow key moved the node');
    assert.ok(await page.evaluate(() => document.activeElement && document.activeElement.dataset.node === 'bye'), 'the node keeps the focus');
    answers.push(false);
    const asked = page.waitForEvent('dialog');
    await page.click('#nav a[href="#/calls"]');
    assert.equal((await asked).type(), 'confirm', 'leaving asks');
    await page.waitForFunction(() => location.hash.startsWith('#/numbers/'));
    assert.ok(await page.isVisible('#canvas g[data-node="bye"]'), 'staying on the editor when the question is declined');
    await page.click('#nav a[href="#/calls"]');
    await page.waitForSelector('a[href^="#/calls/"]');

    step = 'the SIPp call is in the call log and its recording plays';
    await page.click('#nav a[href="#/calls"]');
    await page.waitForSelector('a[href^="#/calls/"]');
    const rows = await page.evaluate(async () => (await (await fetch('/api/v1/calls?limit=500')).json()).items);
    const call = rows.find((r) => r.caller_number === '101' && r.callee === '102');
    assert.ok(call, 'the call 101 → 102 is listed');
    await page.click(`a[href="#/calls/${encodeURIComponent(call.id)}"]`);
    await page.waitForSelector('#call-details audio');
    const recDur = await playable(page, '#call-details audio');
    assert.ok(recDur > 1, 'recording duration ' + recDur);

    step = 'the statistics show what the call-log rows imply';
    await page.click('#nav a[href="#/stats"]');
    await page.waitForSelector('#stats-table tbody tr');
    const table = await page.$$eval('#stats-table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    for (const ext of ['101', '102']) {
      const received = rows.filter((r) => r.callee === ext).length;
      const answered = rows.filter((r) => r.callee === ext && r.disposition === 'answered').length;
      const missed = rows.filter((r) => r.callee === ext && r.disposition === 'missed').length;
      const made = rows.filter((r) => r.caller_number === ext).length;
      const busy = rows.filter((r) => r.callee === ext && r.disposition === 'busy').length;
      const row = table.find((r) => r[0] === ext);
      // Columns: ext, name, received, answered, missed, busy, answered by a colleague, made.
      assert.deepEqual([2, 3, 4, 5, 7].map((i) => Number(row[i])), [received, answered, missed, busy, made], 'figures of ' + ext);
    }
    const bars = await page.$$eval('#stats-chart rect', (rs) => rs.filter((r) => Number(r.getAttribute('height')) > 0).length);
    assert.ok(bars >= 2, 'the chart draws the non-zero figures: ' + bars);
    // The chart has a value axis starting at 0, and each non-zero bar is labelled with its value.
    const axis = await page.$$eval('#stats-chart .axis-y', (ts) => ts.map((x) => Number(x.textContent)));
    assert.ok(axis[0] === 0 && axis.length >= 2, 'value axis: ' + axis);
    assert.equal(await page.$$eval('#stats-chart .bar-value', (ts) => ts.length), bars);

    step = 'the queue monitor pauses an agent and shows the change once the engine has made it';
    await page.click('#nav a[href="#/queues"]');
    const agentRow = '#queue-monitor tr:has(span:text-is("102 Maria Ivanova"))';
    await page.waitForSelector(agentRow + ' button:text-is("Pause"):not([disabled])');
    await page.click(agentRow + ' button:text-is("Pause")');
    await page.waitForSelector(agentRow + ' button:text-is("Unpause"):not([disabled])');
    assert.match(await page.textContent(agentRow), /paused/);
    const queueNow = await page.evaluate(async () => (await fetch('/api/v1/queues/600/status')).json());
    assert.equal(queueNow.agents.find((a) => a.ext === '102').paused, true, 'the engine reports the pause');
    await page.click(agentRow + ' button:text-is("Unpause")');
    await page.waitForSelector(agentRow + ' button:text-is("Pause"):not([disabled])');

    step = 'the wallboard shows each queue live and the reports page answers for a period';
    await page.click('#nav a[href="#/wallboard"]');
    await page.waitForSelector('#wallboard section[data-queue="600"] .tile .value');
    assert.equal(await page.locator('#wallboard section[data-queue="600"] .tile').count(), 9);
    await page.click('#nav a[href="#/queue_reports"]');
    await page.waitForSelector('#queue-reports');
    const bad = await page.evaluate(async () => (await fetch('/api/v1/queue-reports?sl=0')).json());
    assert.equal(bad.code, 'out_of_range');
    await page.fill('input[name=sl]', '30');
    await page.click('form.filters button[type=submit]');
    await until(page, async () => (await (await fetch('/api/v1/queue-reports?sl=30')).json()).threshold_seconds === 30, null, 10000, 'the report');

    step = 'a supervisor makes an installed plugin an integration and sees its inbound address';
    await page.click('#nav a[href="#/plugins"]');
    await page.click('tr:has(b:text-is("crm")) button.integration');
    await page.waitForSelector('#integration h3');
    await page.click('#integration button:text-is("Enable")');
    await page.waitForSelector('#hook-address');
    assert.match(await page.textContent('#hook-address'), /\/hooks\/acme\/crm\/[0-9a-f]{48}$/);
    await page.fill('#plugin-settings input[name=crm_url]', 'https://crm.example/pbx');
    await page.fill('#plugin-settings input[name=api_key]', 'k-browser-1234');
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('#plugin-settings button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal(await page.textContent('#toast'), 'Saved');
    const cfg = await page.evaluate(async () => (await fetch('/api/v1/plugins/crm/settings')).json());
    assert.deepEqual([cfg.settings.crm_url, cfg.secrets_set, JSON.stringify(cfg).includes('k-browser')], ['https://crm.example/pbx', ['api_key'], false]);

    step = 'the Bitrix24 connector installs from the catalog and shows its portal panel with the installation address';
    await page.click('#nav a[href="#/plugins"]');
    await page.click('#plugin-catalog tr:has(td:text-is("bitrix24")) button:text-is("Install")');
    await page.waitForSelector('tr:has(b:text-is("bitrix24")) button:text-is("Grant")');
    await page.click('tr:has(b:text-is("bitrix24")) button:text-is("Grant")');
    await page.waitForSelector('#plugin-catalog button:text-is("Update")');
    await page.click('tr:has(b:text-is("bitrix24")) button.integration');
    await page.waitForSelector('#integration h3');
    await page.click('#integration button:text-is("Enable")');
    await page.waitForSelector('#portal');
    assert.match(await page.textContent('#portal'), /not connected/);
    assert.match(await page.textContent('#portal-install-url'), /^http:\/\/127\.0\.0\.1:\d+\/hooks\/acme\/bitrix24\/[0-9a-f]{48}\/install$/);
    assert.ok(await page.isVisible('#portal th:text-is("Portal user")'));

    step = 'a supervisor registers a webhook, sees its secret once and reads its delivery log';
    await page.click('#nav a[href="#/webhooks"]');
    await page.fill('#webhook-form input[name=url]', 'https://crm.example/pbx');
    await page.check('#webhook-form input[value="call.ended"]');
    await page.click('#webhook-form button[type=submit]');
    await page.waitForFunction(() => /whsec_[0-9a-f]{64}/.test(document.querySelector('#webhook-secret').textContent));
    await page.waitForSelector('#webhook-list td:has-text("call.ended")');
    await page.click('#webhook-list button:text-is("Deliveries")');
    await page.waitForSelector('#webhook-log h3');
    const listed = await page.evaluate(async () => (await fetch('/api/v1/webhooks')).json());
    assert.deepEqual(listed.items.map((h) => [h.url, h.events]), [['https://crm.example/pbx', ['call.ended']]]);
    assert.equal(listed.items[0].secret, undefined, 'the secret is not listed');

    step = 'a supervisor blocks a prefix, refuses hidden numbers with the message, and sees a bad prefix refused in words';
    await page.click('#nav a[href="#/blocklist"]');
    await page.fill('#company-blocklist-add input[name=number]', '+7800');
    await page.check('#company-blocklist-add input[name=prefix]');
    await page.fill('#company-blocklist-add input[name=note]', 'robocalls');
    await page.click('#company-blocklist-add button[type=submit]');
    await page.waitForSelector('#company-blocklist td:text-is("+7800")');
    await page.check('#block-settings input[name=anonymous]');
    await page.selectOption('#block-settings select[name=action]', 'prompt');
    await page.click('#block-settings button[type=submit]');
    await until(page, async () => { const b = await (await fetch('/api/v1/blocklist')).json(); return b.settings.anonymous && b.settings.action === 'prompt'; },
      null, 10000, 'the blacklist settings saved');
    await page.fill('#company-blocklist-add input[name=number]', '8800');
    await page.check('#company-blocklist-add input[name=prefix]');
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('#company-blocklist-add button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal(await page.textContent('#toast'), 'Invalid prefix "8800": + and the country code, e.g. +7495');

    step = 'a supervisor puts a user in "do not disturb" from the users list';
    await page.click('#nav a[href="#/users"]');
    await page.click('tr:has(td:text-is("102")) button.dnd-toggle');
    await until(page, async () => (await (await fetch('/api/v1/users/102')).json()).dnd === true, null, 10000, '102 in do not disturb');
    await page.waitForSelector('tr:has(td:text-is("102")) button.dnd-toggle:text-is("Available")');

    step = 'the language switch turns the cabinet Russian';
    await page.selectOption('#lang', 'ru');
    await page.waitForSelector('#nav a:text("Журнал звонков")');
    await page.click('#nav a[href="#/contacts"]');
    await page.waitForSelector('h3:text-is("Загрузить из CSV")');
    assert.ok(await page.isVisible('th:text-is("Компания")'));
    await page.click('#nav a[href="#/plugins"]');
    // A file that is not a plugin is refused in words, in Russian, without a byte dump.
    await page.setInputFiles('#plugin-file', { name: 'x.wasm', mimeType: 'application/wasm', buffer: Buffer.from('not a plugin') });
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('#plugin-upload button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal(await page.textContent('#toast'), 'Файл — не модуль АТС: это не компонент WebAssembly (модуль — это .wasm-файл, собранный с SDK)');
    await page.click('tr:has(b:text-is("bitrix24")) button.integration');
    await page.waitForSelector('#portal h4:text-is("Последние ошибки")');
    assert.match(await page.textContent('#portal'), /не подключён/);
    await page.click('#nav a[href="#/webhooks"]');
    await page.waitForSelector('h3:text-is("Добавить вебхук")');
    assert.ok(await page.isVisible('#webhook-list th:text-is("Последняя ошибка")'));
    await page.click('#nav a[href="#/organization"]');
    await page.waitForSelector('#company-form label:has-text("Часовой пояс")');
    await page.selectOption('#company-form select[name=timezone]', 'Europe/Samara');
    await page.selectOption('#company-form select[name=music]', 'music');
    await page.uncheck('#company-form input[value=internal]');
    // Working hours written wrong are refused in Russian; written right, they are kept.
    await page.fill('#company-form input[name=working_hours]', 'пн-пт 9-18');
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('#company-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal(await page.textContent('#toast'), 'Неверное рабочее время "пн-пт 9-18": пишите так: mon-fri 09:00-18:00; sat 10:00-14:00');
    await page.fill('#company-form input[name=working_hours]', 'mon-sun 00:00-24:00');
    await page.selectOption('#company-form select[name=after_hours]', 'closed');
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('#company-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal(await page.textContent('#toast'), 'Сохранено');
    const co = await page.evaluate(async () => (await fetch('/api/v1/settings')).json());
    assert.deepEqual([co.timezone, co.recording.includes('internal'), co.working_hours, co.after_hours], ['Europe/Samara', false, 'mon-sun 00:00-24:00', 'closed']);
    await page.click('#nav a[href="#/audit"]');
    await page.waitForSelector('#audit tr:has(span:text-is("PUT /api/v1/settings")) td:text-is("кабинет")');
    assert.ok(await page.isVisible('#audit tr:has(span:text-is("PUT /api/v1/settings")) td:text-is("выполнено")'));
    assert.ok(await page.isVisible('#audit tr:has(span:text-is("user create")) td:text-is("командная строка")'), 'the CLI set-up is in the log');
    await page.selectOption('#lang', 'en');

    step = 'a user cannot open supervisor pages';
    await page.click('#logout');
    await login(page, '105@acme', 'olga-pass-1');
    assert.equal(await page.locator('#nav a[href="#/users"]').count(), 0);
    await page.goto(BASE + '/#/users');
    await page.waitForSelector('#forbidden');
    const status = await page.evaluate(async () => (await fetch('/api/v1/users')).status);
    assert.equal(status, 403);

    step = 'a user sets their own forwarding';
    await page.click('#nav a[href="#/forwarding"]');
    await page.fill('#forwarding input[name=busy]', '101');
    await page.fill('#forwarding input[name=no_answer]', '102');
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('#forwarding button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal(await page.textContent('#toast'), 'Saved');
    const fwd = await page.evaluate(async () => (await fetch('/api/v1/me/forwarding')).json());
    assert.equal(fwd.busy, '101');
    assert.equal(fwd.no_answer, '102');
    await page.fill('#forwarding input[name=always]', '999');
    await page.click('#forwarding button[type=submit]');
    await page.waitForFunction(() => /999/.test(document.querySelector('#toast').textContent));
    assert.equal((await page.evaluate(async () => (await fetch('/api/v1/me/forwarding')).json())).always, null, 'an unknown extension is refused');

    step = 'a user turns "do not disturb" on and keeps a number off their own phones';
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.check('#dnd');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal((await page.evaluate(async () => (await fetch('/api/v1/me/dnd')).json())).on, true);
    await page.fill('#own-blocklist-add input[name=number]', '8 916 000-00-09');
    await page.click('#own-blocklist-add button[type=submit]');
    await page.waitForSelector('#own-blocklist td:text-is("+79160000009")');
    const own = await page.evaluate(async () => (await fetch('/api/v1/me/blocklist')).json());
    assert.deepEqual(own.entries.map((e) => e.pattern), ['+79160000009']);
    const company = await page.evaluate(async () => (await fetch('/api/v1/blocklist')).status);
    assert.equal(company, 403, 'the company list is for supervisors');

    step = 'the operator creates a company in Russian; its supervisor signs in with the password shown once';
    await page.click('#logout');
    await login(page, 'root', 'operator-pass-1');
    await page.click('#nav a[href="#/tenants"]');
    await page.waitForSelector('#tenant-form');
    // The switch draws the page again: the form is filled only once it is the Russian one.
    await page.selectOption('#lang', 'ru');
    await page.waitForSelector('#tenant-form label:has-text("Внутренний номер первого руководителя")');
    await page.fill('#tenant-form input[name=slug]', 'gamma');
    await page.fill('#tenant-form input[name=domain]', 'gamma.example');
    await page.fill('#tenant-form input[name=name]', 'Гамма');
    assert.equal(await page.inputValue('#tenant-form input[name=supervisor_ext]'), '100');
    await page.click('#tenant-form button[type=submit]');
    await page.waitForSelector('#first-password');
    assert.match(await page.textContent('#tenant-created'), /пароли показываются только сейчас/);
    assert.equal(await page.textContent('#first-login'), '100@gamma');
    const firstPassword = await page.textContent('#first-password');
    await page.waitForSelector('td:text-is("gamma")');
    assert.ok(await page.isVisible('tr:has(td:text-is("gamma")) .tag:text-is("Работает")'));
    await page.click('tr:has(td:text-is("gamma")) button:text-is("Приостановить")');
    await page.waitForSelector('tr:has(td:text-is("gamma")) .tag:text-is("Приостановлен")');
    await page.click('tr:has(td:text-is("gamma")) button:text-is("Возобновить")');
    await page.waitForSelector('tr:has(td:text-is("gamma")) .tag:text-is("Работает")');
    // The company's numbers: added from a picked trunk, listed, removed.
    await page.click('tr:has(td:text-is("gamma")) button.tenant-numbers');
    await page.waitForSelector('#tenant-number-form');
    await page.fill('#tenant-number-form input[name=number]', '8 (495) 765-43-21');
    await page.selectOption('#tenant-number-form select[name=trunk]', 'carrier');
    await page.click('#tenant-number-form button[type=submit]');
    await page.waitForSelector('#tenant-numbers-list span:text-is("+74957654321")');
    await page.click('#tenant-numbers-list tr:has(span:text-is("+74957654321")) button.danger');
    await page.waitForSelector('#tenant-numbers-list td:text-is("Пока ничего нет")');
    await page.click('#nav a[href="#/trunks"]');
    await page.fill('#trunk-form input[name=name]', 'ipc2');
    await page.fill('#trunk-form input[name=host]', '127.0.0.60:5060');
    await page.fill('#trunk-form input[name=allow_ips]', '127.0.0.60');
    await page.click('#trunk-form button[type=submit]');
    await page.waitForSelector('td:text-is("ipc2")');
    assert.ok(await page.isVisible('tr:has(td:text-is("ipc2")) td:text-is("IP-транк")'));
    // Edited: another carrier address, the name fixed.
    await page.click('tr:has(td:text-is("ipc2")) button.edit-trunk');
    assert.ok(await page.isDisabled('#trunk-form input[name=name]'));
    await page.fill('#trunk-form input[name=host]', '127.0.0.61:5070');
    await page.click('#trunk-form button[type=submit]');
    await page.waitForSelector('tr:has(td:text-is("ipc2")) td:text-is("127.0.0.61:5070")');
    await page.click('tr:has(td:text-is("ipc2")) button.danger');
    await page.waitForFunction(() => ![...document.querySelectorAll('td')].some((td) => td.textContent === 'ipc2'));

    step = 'the operator prices Moscow for the new company and tops it up';
    await page.click('#nav a[href="#/tariffs"]');
    await page.waitForSelector('#price-form label:has-text("Префикс номера")');
    await page.fill('#price-form input[name=prefix]', '+7495');
    await page.fill('#price-form input[name=name]', 'Москва');
    await page.fill('#price-form input[name=per_minute]', '1,50');
    await page.selectOption('#price-form select[name=step_seconds]', '1');
    await page.selectOption('#price-form select[name=company]', 'gamma');
    await page.click('#price-form button[type=submit]');
    await page.waitForSelector('#price-list tr:has(td:text-is("+7495")) td:text-is("1.50")');
    assert.ok(await page.isVisible('#price-list tr:has(td:text-is("+7495")) td:text-is("gamma")'));
    // A refusal comes in Russian, with the server's details in it.
    await page.fill('#price-form input[name=prefix]', '7495');
    await page.fill('#price-form input[name=name]', 'Москва');
    await page.fill('#price-form input[name=per_minute]', '2');
    await page.selectOption('#price-form select[name=company]', 'gamma');
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('#price-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#toast').textContent !== '');
    assert.equal(await page.textContent('#toast'), 'Тариф для префикса "7495" уже есть');
    await page.click('#nav a[href="#/tenants"]');
    answers.push('1000', 'счёт 17');
    await page.click('tr:has(td:text-is("gamma")) button:text-is("Пополнить")');
    await page.waitForSelector('tr:has(td:text-is("gamma")) td:text-is("1000.00")');
    await page.selectOption('#lang', 'en');
    await page.click('#logout');
    await login(page, '100@gamma', firstPassword);
    assert.ok(await page.isVisible('#nav a[href="#/users"]'), 'the first user is a supervisor');
    await page.click('#nav a[href="#/balance"]');
    await page.waitForSelector('#fig-balance b:text-is("1000.00")');
    assert.ok(await page.isVisible('#balance-history tr:has(td:text-is("top-up")) td:text-is("счёт 17")'), 'the top-up is in the history');
    assert.ok(await page.isVisible('#balance tr:has(td:text-is("+7495")) td:text-is("your company")'), 'the company sees its price');
    await page.fill('#balance-warning input[name=threshold]', '2000');
    await page.evaluate(() => { document.querySelector('#toast').textContent = ''; });
    await page.click('#balance-warning button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#toast').textContent === 'Saved');
    await page.click('#nav a[href="#/dashboard"]');
    await page.waitForSelector('#low-balance:has-text("The balance is low.")');
    await page.click('#nav a[href="#/account"]');
    await page.waitForSelector('#sessions .tag:text-is("this one")');
    assert.match(await page.textContent('#sessions'), /127\.0\.0\.1/);
    await page.click('#logout-everywhere');
    await page.waitForSelector('form.login');
    assert.equal(await page.evaluate(async () => (await fetch('/api/v1/me')).status), 401);
    await login(page, '105@acme', 'olga-pass-1');

    step = 'the cabinet works on a phone screen';
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(BASE + '/#/calls');
    assert.equal(await page.isVisible('#nav'), false);
    await page.click('#menu-toggle');
    assert.ok(await page.isVisible('#nav a[href="#/forwarding"]'));
    // Tables are lists of cards: nothing runs off the screen sideways.
    await page.goto(BASE + '/#/stats');
    await page.waitForSelector('#stats-table td[data-label]');
    const wide = await page.evaluate(() => [document.documentElement.scrollWidth, ...[...document.querySelectorAll('td[data-label]')].map((td) => Math.ceil(td.getBoundingClientRect().right))]);
    assert.ok(Math.max(...wide) <= 390, 'wider than the phone: ' + wide.join(','));

    step = 'every page in Russian, as each role, shows no text of the English dictionary';
    await page.setViewportSize({ width: 1280, height: 900 });
    const english = [];
    const inaccessible = [];
    for (const [who, password] of [['root', 'operator-pass-1'], ['101@acme', 'boss-pass-1'], ['105@acme', 'olga-pass-1']]) {
      await page.click('#logout');
      await page.waitForSelector('form.login');
      await page.evaluate(() => localStorage.setItem('lang', 'ru'));
      await login(page, who, password);
      const hrefs = await page.$$eval('#nav a', (as) => as.map((a) => a.getAttribute('href')));
      assert.ok(hrefs.length >= 5, who + ' sees ' + hrefs);
      if (who === '101@acme') {
        // A call's page too: its legs and timeline.
        const calls = await page.evaluate(async () => (await fetch('/api/v1/calls')).json());
        hrefs.push('#/calls/' + encodeURIComponent(calls.items[calls.items.length - 1].id), '#/numbers/' + encodeURIComponent(OFFICE_DID));
      }
      for (const href of hrefs) {
        step = `every page in Russian shows no English: ${who} ${href}`;
        await page.goto(BASE + '/' + href);
        const menu = href.split('/').slice(0, 2).join('/');
        await page.waitForFunction((h) => document.querySelector(`#nav a.active[href="${h}"]`) && document.querySelector('#view h2'), menu);
        await page.waitForLoadState('networkidle');
        const found = await page.evaluate(async () => {
          const { TEXTS } = await import('/assets/i18n.js');
          // Data (names, numbers, addresses, log lines) is marked translate="no" and left out.
          const hide = document.createElement('style');
          hide.textContent = '[translate="no"], code, select { display: none !important; }';
          document.head.append(hide);
          const text = document.body.innerText + '\n' + [...document.querySelectorAll('option, [placeholder], [title]')].filter((n) => !n.closest('[translate="no"]'))
            .map((n) => [n.tagName === 'OPTION' ? n.textContent : '', n.getAttribute('placeholder') || '', n.getAttribute('title') || ''].join('\n')).join('\n');
          hide.remove();
          const esc = (v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          const out = [];
          for (const [k, v] of Object.entries(TEXTS.en)) {
            if (v === TEXTS.ru[k] || v.length < 4 || v.includes('{') || !/[A-Za-z]{3}/.test(v)) continue;
            const m = new RegExp('(?<![\\p{L}\\p{N}_./-])' + esc(v) + '(?![\\p{L}\\p{N}_./-])', 'u').exec(text);
            if (m) out.push(`${k}="${v}" in "…${text.slice(Math.max(0, m.index - 30), m.index + v.length + 30).replace(/\s+/g, ' ')}…"`);
          }
          return out;
        });
        if (found.length) english.push(`${who} ${href}: ${found.join(', ')}`);
        // Accessibility: axe-core finds no serious or critical violation.
        const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
        for (const v of axe.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
          inaccessible.push(`${who} ${href}: ${v.id} (${v.impact}): ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(' | ')}`);
        }
      }
    }
    assert.deepEqual(english, [], 'English text in the Russian cabinet');
    assert.deepEqual(inaccessible, [], 'accessibility violations');
    await page.evaluate(() => localStorage.setItem('lang', 'en'));

    step = 'on a phone screen the supervisor creates and edits a user, a group and a contact, and nothing runs off the screen';
    await page.click('#logout');
    await page.waitForSelector('form.login');
    await page.setViewportSize({ width: 390, height: 844 });
    await login(page, '101@acme', 'boss-pass-1');
    const fits = async (what) => {
      const w = await page.evaluate(() => Math.max(document.documentElement.scrollWidth, ...[...document.querySelectorAll('#view *')].filter((n) => n.getClientRects().length && !n.closest('.canvas-wrap, thead')).map((n) => Math.ceil(n.getBoundingClientRect().right))));
      assert.ok(w <= 390, `${what} is ${w} px wide on a 390 px screen`);
    };
    await page.goto(BASE + '/#/users');
    await page.waitForSelector('#new-user');
    await page.fill('#new-user input[name=ext]', '107');
    await page.fill('#new-user input[name=name]', 'Pavel Orlov');
    await page.click('#new-user button[type=submit]');
    await page.waitForSelector('td:text-is("107")');
    await fits('the users page');
    await page.click('tr:has(td:text-is("107")) button.edit-user');
    await page.fill('#user-edit input[name=name]', 'Pavel Orlov-Sokolov');
    await fits('the user form');
    await page.click('#user-edit button[type=submit]');
    await page.waitForSelector('td:text-is("Pavel Orlov-Sokolov")');
    await page.goto(BASE + '/#/groups');
    await page.click('#new-group');
    await page.fill('#group-form input[name=ext]', '340');
    await page.check('#group-form input[name=member][value="107"]');
    await fits('the group form');
    await page.click('#group-form button[type=submit]');
    await page.waitForSelector('#group-list td:text-is("340")');
    await page.click('#group-list tr:has(td:text-is("340")) button:text-is("Edit")');
    await page.fill('#group-form input[name=name]', 'Night shift');
    await page.click('#group-form button[type=submit]');
    await page.waitForSelector('#group-list td:text-is("Night shift")');
    await fits('the groups page');
    await page.goto(BASE + '/#/contacts');
    await page.waitForSelector('#contact-form');
    await page.fill('#contact-form input[name=number]', '+74950001199');
    await page.fill('#contact-form input[name=name]', 'Courier');
    await page.click('#contact-form button[type=submit]');
    await page.waitForSelector('td:text-is("Courier")');
    await fits('the contacts page');
    for (const href of ['#/organization', '#/queues', '#/numbers', '#/balance', '#/audit', '#/webhooks', '#/plugins', '#/prompts']) {
      await page.goto(BASE + '/' + href);
      await page.waitForFunction((h) => document.querySelector(`#nav a.active[href="${h}"]`) && document.querySelector('#view h2'), href);
      await page.waitForLoadState('networkidle');
      await fits(href);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  } catch (e) {
    if (failedPage) {
      const text = await failedPage.textContent('body').catch(() => '(no page)');
      console.error(`page text: ${String(text).slice(0, 3000)}\nAPI refusals:\n${refusals.slice(-20).join('\n')}`);
    }
    throw e;
  } finally {
    await browser.close();
  }
}

main().then(() => { console.log('cabinet browser test passed'); }, (e) => { console.error(`FAILED at: ${step}\n${e.stack || e}`); process.exit(1); });
