// Browser phones against a real `pbx serve`, in headless Chromium: a standard WebRTC SIP
// client (JsSIP, the unmodified library the PBX serves; none of the cabinet's code)
// registers over SIP over WebSocket with its SIP credentials, calls a SIPp phone, and takes
// a call from a SIPp caller; audio is checked from both ends.
// BROWSER=firefox runs it in Debian's Firefox ESR (Puppeteer over WebDriver BiDi; Playwright
// drives only its own patched Firefox), else Chromium.
// Env: BASE (http://127.0.0.1:PORT), DOMAIN, EXT, PASSWORD, CALLEE (an extension that
// answers), READY_FILE (written once registered), CALLED_FILE (the test writes it when its
// SIPp caller is on the way). Prints JSON lines the Rust side reads; exits non-zero on failure.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { until } from './poll.mjs';

const { BASE, DOMAIN, EXT, PASSWORD, CALLEE, READY_FILE, CALLED_FILE } = process.env;
let step = 'start';

// A page in the browser under test, with a fake microphone. Firefox gathers no loopback
// candidates (its ICE loopback preference does not reach the parent process that lists the
// interfaces): the test hands it the PBX's media on a non-loopback address of this machine.
async function open() {
  if (process.env.BROWSER === 'firefox') {
    const { default: puppeteer } = await import('puppeteer-core');
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: '/usr/bin/firefox-esr',
      headless: true,
      extraPrefsFirefox: {
        'media.navigator.streams.fake': true,
        'media.navigator.permission.disabled': true,
        'media.peerconnection.ice.obfuscate_host_addresses': false,
        'media.autoplay.default': 0,
      },
    });
    return { browser, page: await browser.newPage() };
  }
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'],
  });
  const ctx = await browser.newContext({ bypassCSP: true });
  return { browser, page: await ctx.newPage() };
}

async function main() {
  const { browser, page } = await open();
  try {
    page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
    await page.goto(BASE + '/');

    step = 'JsSIP registers over the WebSocket with SIP credentials';
    await page.evaluate(async ({ base, domain, ext, password }) => {
      const { default: JsSIP } = await import('/assets/jssip.min.js');
      const socket = new JsSIP.WebSocketInterface(base.replace(/^http/, 'ws') + '/sip');
      const ua = new JsSIP.UA({ sockets: [socket], uri: `sip:${ext}@${domain}`, password, register: true, session_timers: false });
      window.phone = { ua, sessions: [], log: [] };
      ua.on('newRTCSession', (e) => {
        window.phone.sessions.push(e.session);
        e.session.on('icecandidate', (c) => window.phone.log.push('candidate ' + (c.candidate && c.candidate.candidate)));
        e.session.on('peerconnection:setremotedescriptionfailed', (x) => window.phone.log.push('remote description failed ' + x));
        window.phone.log.push('session ' + e.originator);
        for (const ev of ['ended', 'failed']) e.session.on(ev, (x) => window.phone.log.push(ev + ' ' + x.originator + ' ' + x.cause));
      });
      await new Promise((resolve, reject) => {
        ua.on('registered', resolve);
        ua.on('registrationFailed', (e) => reject(new Error('registration failed: ' + e.cause)));
        ua.start();
      });
    }, { base: BASE, domain: DOMAIN, ext: EXT, password: PASSWORD });
    fs.writeFileSync(READY_FILE, 'registered');

    // Audio figures of a session's peer connection.
    const audioStats = () => page.evaluate(async () => {
      const s = window.phone.sessions[window.phone.sessions.length - 1];
      const stats = await s.connection.getStats();
      const out = { received: 0, sent: 0, energy: 0, codec: '', state: s.connection.connectionState };
      stats.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'audio') { out.received = r.packetsReceived; out.energy = r.totalAudioEnergy || 0; }
        if (r.type === 'outbound-rtp' && r.kind === 'audio') out.sent = r.packetsSent;
        if (r.type === 'codec' && r.mimeType && r.mimeType.startsWith('audio/') && !r.mimeType.includes('telephone')) out.codec = r.mimeType;
      });
      return out;
    });

    step = 'the browser calls a SIPp phone and sends audio';
    await page.evaluate(async ({ callee, domain }) => {
      const s = window.phone.ua.call(`sip:${callee}@${domain}`, { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
      await new Promise((resolve, reject) => {
        s.on('confirmed', resolve);
        s.on('failed', (e) => reject(new Error('call failed: ' + e.cause)));
      });
    }, { callee: CALLEE, domain: DOMAIN });
    await until(page, async () => {
      const s = window.phone.sessions[window.phone.sessions.length - 1];
      const stats = await s.connection.getStats();
      let sent = 0;
      stats.forEach((r) => { if (r.type === 'outbound-rtp' && r.kind === 'audio') sent = r.packetsSent; });
      return sent > 150;
    }, null, 15000, 'the browser to send audio').catch(async (e) => {
      const why = await page.evaluate(async () => {
        const s = window.phone.sessions[window.phone.sessions.length - 1];
        if (s.connection.signalingState === 'closed') return { log: window.phone.log };
        const pairs = [];
        (await s.connection.getStats()).forEach((r) => { if (r.type === 'candidate-pair' || r.type.endsWith('candidate')) pairs.push(r); });
        return { ice: s.connection.iceConnectionState, local: s.connection.localDescription.sdp, remote: s.connection.remoteDescription.sdp, pairs };
      });
      throw new Error(e.message + ': ' + JSON.stringify(why, null, 1));
    });
    // A key pressed in the call goes as RFC 4733 telephone-event through the edge.
    await page.evaluate(() => window.phone.sessions[window.phone.sessions.length - 1].sendDTMF('5', { transportType: 'RFC2833', duration: 160 }));
    await new Promise((r) => setTimeout(r, 1000));
    const out = await audioStats();
    console.log(JSON.stringify({ outbound: out }));
    assert.match(out.codec, /PCM[AU]/i, 'G.711 end to end, no transcoding: ' + out.codec);
    await page.evaluate(() => window.phone.sessions[window.phone.sessions.length - 1].terminate());

    step = 'a SIPp caller rings the browser, which answers and hears the caller';
    const answered = page.evaluate(() => new Promise((resolve, reject) => {
      const seen = window.phone.sessions.length;
      const timer = setTimeout(() => reject(new Error('no incoming call')), 20000);
      const check = setInterval(() => {
        const s = window.phone.sessions[window.phone.sessions.length - 1];
        if (window.phone.sessions.length > seen && s.direction === 'incoming') {
          clearInterval(check); clearTimeout(timer);
          s.on('confirmed', () => resolve(s.remote_identity.uri.user));
          s.on('failed', (e) => reject(new Error('answer failed: ' + e.cause)));
          s.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
        }
      }, 50);
    }));
    fs.writeFileSync(CALLED_FILE + '.ready', 'waiting');
    const caller = await answered;
    console.log(JSON.stringify({ caller }));
    let last = null;
    // Played like a phone would (decoded audio reaches a sink, so the level is measured).
    await page.evaluate(() => {
      const s = window.phone.sessions[window.phone.sessions.length - 1];
      const a = document.createElement('audio');
      a.autoplay = true;
      a.srcObject = new MediaStream(s.connection.getReceivers().map((r) => r.track));
      document.body.append(a);
    });
    for (const end = Date.now() + 15000; ;) {
      last = await audioStats();
      if (last.received > 50 && last.energy > 0) break;
      if (Date.now() > end) throw new Error('the caller\'s audio did not reach the browser: ' + JSON.stringify(last) + ' ' + JSON.stringify(await page.evaluate(() => window.phone.log)));
      await new Promise((r) => setTimeout(r, 250));
    }
    const inbound = await audioStats();
    console.log(JSON.stringify({ inbound }));
    step = 'the caller hangs up and the browser sees the call end';
    await until(page, () => window.phone.log.some((l) => l.startsWith('ended remote')), null, 20000, 'the caller\'s hang-up');
    await page.evaluate(() => window.phone.ua.stop());
  } finally {
    await browser.close();
  }
}

main().then(() => { console.log('phone browser test passed'); }, (e) => { console.error(`FAILED at: ${step}\n${e.stack || e}`); process.exit(1); });
