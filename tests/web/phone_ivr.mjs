// Two browser phones (JsSIP, as in phone.mjs) in headless Chromium against a real `pbx
// serve`: the first calls the company's number, hears its menu and presses a key (RFC 4733)
// that the IVR routes to an extension; then it calls the second browser, puts the call on
// hold (the other browser hears music) and takes it off hold (voice again), and the second
// browser does the same to it; then its
// WebSocket drops and the phone registers again by itself.
// Env: BASE, DOMAIN, EXT1/PASSWORD1, EXT2/PASSWORD2, NUMBER (the company's number), KEY (the
// menu key), BRANCH_FILE (written once the key is sent; the test answers by writing
// BRANCH_FILE.done when the branch's phone got audio). Prints JSON lines; exits non-zero on
// failure.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { until as poll } from './poll.mjs';

const { BASE, DOMAIN, EXT1, PASSWORD1, EXT2, PASSWORD2, NUMBER, KEY, BRANCH_FILE } = process.env;
let step = 'start';
const until = (page, fn, arg, ms, what) => poll(page, fn, arg, ms, what, () => window.log);

async function waitFile(path, timeoutMs) {
  for (const end = Date.now() + timeoutMs; !fs.existsSync(path);) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + path);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'],
  });
  try {
    const ctx = await browser.newContext({ bypassCSP: true });
    const page = await ctx.newPage();
    page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
    await page.goto(BASE + '/');

    step = 'two JsSIP phones register';
    await page.evaluate(async ({ base, domain, phones }) => {
      const { default: JsSIP } = await import('/assets/jssip.min.js');
      window.log = [];
      window.phones = {};
      for (const [ext, password] of phones) {
        const socket = new JsSIP.WebSocketInterface(base.replace(/^http/, 'ws') + '/sip');
        const ua = new JsSIP.UA({ sockets: [socket], uri: `sip:${ext}@${domain}`, password, register: true, session_timers: false,
          connection_recovery_min_interval: 1, connection_recovery_max_interval: 2 });
        const p = { ua, sessions: [] };
        window.phones[ext] = p;
        ua.on('registered', () => window.log.push(ext + ' registered'));
        ua.on('disconnected', () => window.log.push(ext + ' disconnected'));
        ua.on('newRTCSession', (e) => {
          const s = e.session;
          p.sessions.push(s);
          for (const ev of ['hold', 'unhold']) s.on(ev, (x) => window.log.push(`${ext} ${ev} ${x.originator}`));
          for (const ev of ['ended', 'failed']) s.on(ev, (x) => window.log.push(`${ext} ${ev} ${x.originator} ${x.cause}`));
          if (e.originator === 'remote') {
            s.on('peerconnection', (pe) => pe.peerconnection.addEventListener('track', (t) => {
              const a = document.createElement('audio');
              a.autoplay = true;
              a.srcObject = t.streams[0] || new MediaStream([t.track]);
              document.body.append(a);
            }));
            s.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
          }
        });
        await new Promise((resolve, reject) => {
          ua.once('registered', resolve);
          ua.once('registrationFailed', (e) => reject(new Error(ext + ' registration failed: ' + e.cause)));
          ua.start();
        });
      }
      // Inbound audio of a phone's latest session: packets and energy.
      window.inbound = async (ext) => {
        const p = window.phones[ext];
        const s = p.sessions[p.sessions.length - 1];
        const out = { received: 0, energy: 0, sent: 0 };
        (await s.connection.getStats()).forEach((r) => {
          if (r.type === 'inbound-rtp' && r.kind === 'audio') { out.received = r.packetsReceived; out.energy = r.totalAudioEnergy || 0; }
          if (r.type === 'outbound-rtp' && r.kind === 'audio') out.sent = r.packetsSent;
        });
        return out;
      };
      window.dial = (ext, target) => {
        const s = window.phones[ext].ua.call(`sip:${target}@${domain}`, { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
        s.connection.addEventListener('track', (t) => {
          const a = document.createElement('audio');
          a.autoplay = true;
          a.srcObject = t.streams[0] || new MediaStream([t.track]);
          document.body.append(a);
        });
        return new Promise((resolve, reject) => {
          s.on('confirmed', resolve);
          s.on('failed', (e) => reject(new Error('call failed: ' + e.cause)));
        });
      };
    }, { base: BASE, domain: DOMAIN, phones: [[EXT1, PASSWORD1], [EXT2, PASSWORD2]] });

    step = 'the browser calls the company number and hears the menu';
    await page.evaluate(({ e, n }) => window.dial(e, n), { e: EXT1, n: NUMBER });
    await until(page, async (ext) => { const a = await window.inbound(ext); return a.received > 50 && a.energy > 0; }, EXT1, 15000, 'the menu\'s audio');
    console.log(JSON.stringify({ menu: await page.evaluate((e) => window.inbound(e), EXT1) }));

    step = 'the browser presses the menu key';
    await page.evaluate(({ e, key }) => {
      const p = window.phones[e];
      p.sessions[p.sessions.length - 1].sendDTMF(key, { transportType: 'RFC2833', duration: 160 });
    }, { e: EXT1, key: KEY });
    fs.writeFileSync(BRANCH_FILE, 'sent');
    await waitFile(BRANCH_FILE + '.done', 30000);
    await page.evaluate((e) => { const p = window.phones[e]; p.sessions[p.sessions.length - 1].terminate(); }, EXT1);

    step = 'the first browser calls the second, which answers';
    await page.evaluate(({ e, t }) => window.dial(e, t), { e: EXT1, t: EXT2 });
    await until(page, async (ext) => { const a = await window.inbound(ext); return a.received > 50 && a.energy > 0; }, EXT2, 15000, 'the caller\'s voice at the callee');

    step = 'hold: the callee hears the music on hold';
    await page.evaluate((e) => { const p = window.phones[e]; p.sessions[p.sessions.length - 1].hold(); }, EXT1);
    await until(page, (ext) => window.log.includes(ext + ' hold local'), EXT1, 10000, 'the hold to be confirmed');
    await until(page, (ext) => window.log.includes(ext + ' hold remote'), EXT2, 10000, 'the callee to see the hold');
    const onHold = await page.evaluate((e) => window.inbound(e), EXT2);
    await new Promise((r) => setTimeout(r, 2000));
    const music = await page.evaluate((e) => window.inbound(e), EXT2);
    console.log(JSON.stringify({ onHold, music }));
    assert.ok(music.received - onHold.received > 50, 'the held party gets audio (music) on hold');
    assert.ok(music.energy > onHold.energy, 'the music is not silence');

    step = 'resume: voice again';
    await page.evaluate((e) => { const p = window.phones[e]; p.sessions[p.sessions.length - 1].unhold(); }, EXT1);
    await until(page, (ext) => window.log.includes(ext + ' unhold remote'), EXT2, 10000, 'the callee to see the resume');
    const resumed = (await page.evaluate((e) => window.inbound(e), EXT2)).received;
    await until(page, async ({ ext, from }) => (await window.inbound(ext)).received > from + 50, { ext: EXT2, from: resumed }, 10000, 'the callee to hear the caller again');

    step = 'the callee holds: the caller, whose offer opened the call, hears music';
    await page.evaluate((e) => { const p = window.phones[e]; p.sessions[p.sessions.length - 1].hold(); }, EXT2);
    await until(page, (ext) => window.log.includes(ext + ' hold remote'), EXT1, 10000, 'the caller to see the hold');
    const callerHeld = await page.evaluate((e) => window.inbound(e), EXT1);
    await new Promise((r) => setTimeout(r, 1500));
    const callerMusic = await page.evaluate((e) => window.inbound(e), EXT1);
    console.log(JSON.stringify({ callerHeld, callerMusic }));
    assert.ok(callerMusic.received - callerHeld.received > 40, 'the held caller gets the music');
    await page.evaluate((e) => { const p = window.phones[e]; p.sessions[p.sessions.length - 1].unhold(); }, EXT2);
    await until(page, (ext) => window.log.includes(ext + ' unhold remote'), EXT1, 10000, 'the caller to see the resume');
    await page.evaluate((e) => { const p = window.phones[e]; p.sessions[p.sessions.length - 1].terminate(); }, EXT1);
    await until(page, (ext) => window.log.some((l) => l.startsWith(ext + ' ended remote')), EXT2, 10000, 'the callee to see the end');

    step = 'the WebSocket drops and the phone registers again by itself';
    const before = await page.evaluate((e) => window.log.filter((l) => l === e + ' registered').length, EXT2);
    await page.evaluate((e) => { window.phones[e].ua._transport.socket._ws.close(); }, EXT2);
    await until(page, (ext) => window.log.includes(ext + ' disconnected'), EXT2, 10000, 'the drop');
    await until(page, ({ ext, n }) => window.log.filter((l) => l === ext + ' registered').length > n, { ext: EXT2, n: before }, 20000, 'registering again');
    step = 'and takes a call after it';
    await page.evaluate(({ e, t }) => window.dial(e, t), { e: EXT1, t: EXT2 });
    await until(page, async (ext) => { const a = await window.inbound(ext); return a.received > 50; }, EXT2, 15000, 'audio after the reconnect');
    await page.evaluate((e) => { const p = window.phones[e]; p.sessions[p.sessions.length - 1].terminate(); }, EXT1);
    console.log(JSON.stringify({ log: await page.evaluate(() => window.log) }));
    await page.evaluate(() => Object.values(window.phones).forEach((p) => p.ua.stop()));
  } finally {
    await browser.close();
  }
}

main().then(() => { console.log('phone ivr test passed'); }, (e) => { console.error(`FAILED at: ${step}\n${e.stack || e}`); process.exit(1); });
