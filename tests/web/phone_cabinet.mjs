// The cabinet's own web phone in headless Chromium against a real `pbx serve`: the user
// signs in, the phone registers with the session (no SIP password), a SIPp caller rings it
// (a pop-up with the caller's number and name on whatever page is open), the user answers
// and hears the caller, mutes and transfers the caller to a colleague; then dials an
// extension from the page. A second tab of the
// same browser does not take the line.
// Env: BASE, LOGIN, PASSWORD, CALL_TO, CALLER, TRANSFER_TO, READY_FILE (written when the phone is ready),
// DONE_FILE (written once the incoming call is over). Exits non-zero on failure.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';

const { BASE, LOGIN, PASSWORD, CALL_TO, CALLER, TRANSFER_TO, READY_FILE, DONE_FILE } = process.env;
let step = 'start';

// The level of what the phone plays (its <audio> element's stream), 0..1, over half a second.
const level = (page) => page.evaluate(() => new Promise((resolve) => {
  const a = document.getElementById('phone-audio');
  if (!a || !a.srcObject) { resolve(0); return; }
  const ctx = new AudioContext();
  const an = ctx.createAnalyser();
  ctx.createMediaStreamSource(a.srcObject).connect(an);
  const buf = new Float32Array(an.fftSize);
  let peak = 0;
  const timer = setInterval(() => { an.getFloatTimeDomainData(buf); for (const v of buf) peak = Math.max(peak, Math.abs(v)); }, 50);
  setTimeout(() => { clearInterval(timer); ctx.close(); resolve(peak); }, 500);
}));

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'],
  });
  let page = null;
  try {
    // bypassCSP lets Playwright's waitForFunction evaluate its predicates; the page itself runs under the CSP.
    const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 }, bypassCSP: true });
    page = await ctx.newPage();
    page.on('dialog', (d) => d.accept());
    page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
    page.on('pageerror', (e) => console.error('page error:', e.message));

    step = 'the user signs in and the phone registers with the session';
    await page.goto(BASE + '/');
    await page.fill('input[name=login]', LOGIN);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('#nav a[href="#/phone"]');
    await page.click('#nav a[href="#/phone"]');
    await page.waitForSelector('#phone-status.good', { timeout: 20000 });
    const cfg = await page.evaluate(async () => (await fetch('/api/v1/phone')).json());
    assert.deepEqual(cfg.ice_servers, [{ urls: 'stun:127.0.0.1:3478' }], 'the STUN server handed to the phone');
    assert.match(cfg.uri, /^sip:105@acme\.example$/);

    step = 'a second tab of the same browser leaves the line to the first';
    const second = await ctx.newPage();
    await second.goto(BASE + '/#/phone');
    await second.waitForFunction(() => (document.querySelector('#phone-status') || {}).textContent === 'The phone is open in another tab of this browser');
    await second.close();

    step = 'an incoming call shows a pop-up with the caller on another page, and is answered';
    await page.click('#nav a[href="#/calls"]');
    fs.writeFileSync(READY_FILE, 'ready');
    await page.waitForSelector('#phone-popup', { timeout: 30000 });
    assert.match(await page.textContent('#phone-popup-caller'), new RegExp(CALLER));
    await page.click('#phone-answer');
    await page.click('#nav a[href="#/phone"]');
    await page.waitForSelector('#phone-call-card :text("In a call with")');
    let heard = 0;
    for (let i = 0; i < 20 && heard < 0.01; i++) heard = await level(page);
    assert.ok(heard >= 0.01, 'the caller is heard: level ' + heard);
    await page.click('#phone-mute');
    assert.equal(await page.getAttribute('#phone-mute', 'aria-pressed'), 'true');

    step = 'the user transfers the caller to a colleague picked from the directory';
    await page.selectOption('#phone-transfer-to', TRANSFER_TO);
    await page.click('#phone-blind');
    await page.waitForSelector('#phone-call-card', { state: 'detached', timeout: 20000 });
    fs.writeFileSync(DONE_FILE, 'done');

    step = 'the user dials an extension from the page and hangs up';
    await page.fill('#phone-number', CALL_TO);
    await page.click('#phone-call');
    await page.waitForSelector('#phone-call-card :text("In a call with")', { timeout: 20000 });
    await page.waitForTimeout(3000); // a few seconds of talk for the far end to hear
    await page.click('#phone-hangup');
    await page.waitForSelector('#phone-call-card', { state: 'detached' });
    await page.waitForSelector('#phone-recent li');
    assert.ok(!(await page.textContent('#phone')).includes('null'), 'no stray text on the phone page');
  } catch (e) {
    if (page) console.error('page text: ' + (await page.textContent('#view').catch(() => '(none)')));
    throw e;
  } finally {
    await browser.close();
  }
}

main().then(() => { console.log('cabinet phone test passed'); }, (e) => { console.error(`FAILED at: ${step}\n${e.stack || e}`); process.exit(1); });
