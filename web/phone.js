// The web phone: the signed-in user's own extension in the browser, over SIP over
// WebSocket and WebRTC (JsSIP, served by the PBX). It registers with the cabinet session (no
// SIP password), rings together with the user's desk phones, and stays connected while the
// user moves between pages. One tab of a browser holds the line (a Web Lock): another tab
// shows that the phone is open elsewhere instead of ringing a second time.
import { t } from './i18n.js';
import { api, el, state, toast, fmtTime } from './app.js';

const phone = {
  ua: null, JsSIP: null, status: 'off', cause: '', session: null, held: null, muted: false, onHold: false,
  listeners: new Set(), release: null, transferTo: '', iceServers: [], deviceId: localStorage.getItem('phone-mic') || '', audio: null, popup: null,
};

function notify() { for (const f of phone.listeners) f(); }

/** Whether the signed-in account has an extension to phone from. */
export function hasPhone() {
  return !!(state.me && state.me.role !== 'operator' && state.me.tenant && /^[0-9]+$/.test(state.me.name || ''));
}

/** Starts the phone for the signed-in user (once per page load). */
export function startPhone() {
  if (phone.status !== 'off' || !hasPhone()) return;
  phone.status = 'connecting'; notify();
  if (navigator.locks && navigator.locks.request) {
    navigator.locks.request('pbx-web-phone', { ifAvailable: true }, (lock) => {
      if (!lock) { phone.status = 'elsewhere'; notify(); return undefined; }
      connect();
      return new Promise((resolve) => { phone.release = resolve; });
    });
  } else {
    connect();
  }
}

/** Stops the phone (signing out). */
export function stopPhone() {
  if (phone.ua) phone.ua.stop();
  phone.ua = null; phone.session = null; phone.held = null;
  if (phone.release) { phone.release(); phone.release = null; }
  closePopup();
  phone.status = 'off'; notify();
}

function uri(target) {
  return `sip:${target}@${state.me.tenant.domain}`;
}

function constraints() {
  return { audio: phone.deviceId ? { deviceId: { exact: phone.deviceId } } : true, video: false };
}

async function connect() {
  try {
    const [{ default: JsSIP }, cfg] = await Promise.all([import('/assets/jssip.min.js'), api('GET', '/api/v1/phone')]);
    phone.JsSIP = JsSIP;
    phone.iceServers = cfg.ice_servers || [];
    const socket = new JsSIP.WebSocketInterface((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + cfg.ws_path);
    const ua = new JsSIP.UA({
      sockets: [socket], uri: cfg.uri, display_name: state.me.name, register: true, register_expires: 300,
      session_timers: false, connection_recovery_min_interval: 2, connection_recovery_max_interval: 30,
    });
    phone.ua = ua;
    ua.on('connecting', () => { phone.status = 'connecting'; notify(); });
    ua.on('registered', () => { phone.status = 'ready'; phone.cause = ''; notify(); });
    ua.on('unregistered', () => { phone.status = 'offline'; notify(); });
    ua.on('disconnected', () => { phone.status = 'offline'; phone.cause = t('phone_reconnecting'); notify(); });
    ua.on('registrationFailed', (e) => { phone.status = 'offline'; phone.cause = e.cause || ''; notify(); });
    ua.on('newRTCSession', (e) => {
      const s = e.session;
      if (e.originator === 'remote' && (phone.session || phone.held)) { s.terminate({ status_code: 486, reason_phrase: 'Busy Here' }); return; }
      track(s);
      if (e.originator === 'remote') showPopup(s);
    });
    ua.start();
  } catch (e) {
    phone.status = 'offline'; phone.cause = e.message; notify();
  }
}

function playRemote(s) {
  const attach = (pc) => pc.addEventListener('track', (ev) => {
    if (!phone.audio) { phone.audio = el('audio', { id: 'phone-audio', autoplay: true }); document.body.append(phone.audio); }
    phone.audio.srcObject = ev.streams[0] || new MediaStream([ev.track]);
  });
  if (s.connection) attach(s.connection);
  s.on('peerconnection', (e) => attach(e.peerconnection));
}

function track(s) {
  phone.session = s; phone.muted = false; phone.onHold = false;
  playRemote(s);
  // The PBX is reachable on its host address: a STUN or TURN server that answers slowly
  // (or not at all) must not hold the call up until the browser gives up gathering.
  let iceTimer = null;
  s.on('icecandidate', (e) => { if (!iceTimer) iceTimer = setTimeout(e.ready, 1500); });
  s.on('confirmed', () => notify());
  s.on('hold', () => { phone.onHold = s === phone.session; notify(); });
  s.on('unhold', () => { phone.onHold = false; notify(); });
  const done = (e) => {
    if (phone.session === s) { phone.session = phone.held; phone.held = null; phone.onHold = !!phone.session; }
    if (phone.held === s) phone.held = null;
    closePopup();
    if (e && e.cause && e.originator !== 'local' && e.cause !== phone.JsSIP.C.causes.BYE && e.cause !== phone.JsSIP.C.causes.CANCELED) {
      toast(e.cause === phone.JsSIP.C.causes.USER_DENIED_MEDIA_ACCESS ? t('phone_mic_denied') : t('phone_failed') + ': ' + e.cause, true);
    }
    if (e && e.originator === 'local' && e.cause === phone.JsSIP.C.causes.USER_DENIED_MEDIA_ACCESS) toast(t('phone_mic_denied'), true);
    notify();
  };
  s.on('ended', done);
  s.on('failed', done);
  notify();
}

function closePopup() {
  if (phone.popup) { phone.popup.remove(); phone.popup = null; }
}

function showPopup(s) {
  closePopup();
  const who = s.remote_identity;
  phone.popup = el('div', { class: 'card phone-popup', id: 'phone-popup', role: 'alertdialog', 'aria-label': t('phone_incoming') },
    el('p', {}, el('b', {}, t('phone_incoming'))),
    el('p', { translate: 'no', id: 'phone-popup-caller' }, who.display_name ? who.display_name + ' · ' + who.uri.user : who.uri.user),
    el('button', { id: 'phone-answer', onclick: () => answer() }, t('phone_answer')), ' ',
    el('button', { class: 'danger', id: 'phone-decline', onclick: () => { s.terminate({ status_code: 486, reason_phrase: 'Busy Here' }); closePopup(); } }, t('phone_decline')));
  document.body.append(phone.popup);
}

/** Answers the ringing call. */
export function answer() {
  const s = phone.session;
  if (!s || s.isEstablished()) return;
  closePopup();
  s.answer({ mediaConstraints: constraints(), pcConfig: { iceServers: phone.iceServers } });
}

/** Calls a number or extension from the user's own extension. */
export function call(target) {
  const number = String(target || '').replace(/[^0-9*#+]/g, '');
  if (!number) { toast(t('phone_no_number'), true); return; }
  if (!phone.ua || phone.status !== 'ready') { toast(t('phone_not_ready'), true); return; }
  if (phone.session && !phone.held) { phone.held = phone.session; phone.held.hold(); }
  // (the session is tracked by the UA's newRTCSession event)
  phone.ua.call(uri(number), { mediaConstraints: constraints(), pcConfig: { iceServers: phone.iceServers } });
}

/** Hangs up the current call (or declines the ringing one). */
export function hangup() {
  if (phone.session) phone.session.terminate();
}

function toggleMute() {
  const s = phone.session; if (!s) return;
  if (phone.muted) s.unmute({ audio: true }); else s.mute({ audio: true });
  phone.muted = !phone.muted; notify();
}

function toggleHold() {
  const s = phone.session; if (!s) return;
  if (s.isOnHold().local) s.unhold(); else s.hold();
}

function sendKey(d) {
  if (phone.session && phone.session.isEstablished()) phone.session.sendDTMF(d, { transportType: 'RFC2833', duration: 120 });
}

function blindTransfer(target) {
  if (!phone.session || !target) return;
  phone.session.refer(uri(target));
  toast(t('phone_transferred') + ' ' + target);
}

function completeTransfer() {
  // The held call goes to the consulted party, who replaces this consultation.
  if (!phone.held || !phone.session) return;
  phone.held.refer(phone.session.remote_identity.uri, { replaces: phone.session });
}

function statusText() {
  const key = { off: 'phone_off', connecting: 'phone_connecting', ready: 'phone_ready', offline: 'phone_offline', elsewhere: 'phone_elsewhere' }[phone.status];
  return t(key) + (phone.cause ? ' (' + phone.cause + ')' : '');
}

/** The phone page: dial pad, the call's controls, transfer, microphone choice, recent calls. */
export async function phonePage({ onLeave }) {
  startPhone();
  const [users, recent] = await Promise.all([api('GET', '/api/v1/colleagues').catch(() => ({ items: [] })),
    api('GET', '/api/v1/calls?limit=10').catch(() => ({ items: [] }))]);
  const number = el('input', { id: 'phone-number', inputmode: 'tel', autocomplete: 'off', 'aria-label': t('phone_number'), placeholder: '102, +74951234567' });
  const wrap = el('div', { id: 'phone' });
  let mics = [];
  try { mics = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput'); } catch (_) { mics = []; }
  const colleagues = users.items.filter((u) => u.ext !== state.me.name);
  const draw = () => {
    const s = phone.session;
    const live = s && s.isEstablished();
    const ringingIn = s && !live && s.direction === 'incoming';
    const pad = el('div', { class: 'dialpad' }, ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'].map((d) => el('button', { type: 'button', class: 'secondary', 'data-key': d, onclick: () => { if (live) sendKey(d); else number.value += d; } }, d)));
    // The chosen colleague survives redraws (a hold or mute redraws the page).
    const target = el('select', { id: 'phone-transfer-to', 'aria-label': t('phone_transfer_to'), onchange: (e) => { phone.transferTo = e.target.value; } },
      colleagues.map((u) => el('option', { value: u.ext, translate: 'no', selected: u.ext === phone.transferTo ? true : null }, u.ext + (u.name ? ' ' + u.name : ''))));
    const who = s ? (s.remote_identity.display_name ? s.remote_identity.display_name + ' · ' : '') + s.remote_identity.uri.user : '';
    // (replaceChildren would write a null as the text "null")
    wrap.replaceChildren(...[
      el('p', { id: 'phone-status', class: phone.status === 'ready' ? 'good' : 'muted' }, statusText()),
      el('form', { class: 'card', id: 'phone-dial', onsubmit: (e) => { e.preventDefault(); call(number.value); } },
        el('label', {}, t('phone_number'), number), pad,
        el('button', { type: 'submit', id: 'phone-call', disabled: phone.status !== 'ready' ? true : null }, t('phone_call')), ' ',
        s ? el('button', { type: 'button', class: 'danger', id: 'phone-hangup', onclick: hangup }, ringingIn ? t('phone_decline') : t('phone_hangup')) : null,
        ringingIn ? el('button', { type: 'button', id: 'phone-answer-here', onclick: answer }, t('phone_answer')) : null),
      s ? el('div', { class: 'card', id: 'phone-call-card' },
        el('p', {}, el('b', {}, live ? t('phone_in_call') : t('phone_ringing')), ' ', el('span', { translate: 'no', id: 'phone-peer' }, who)),
        live ? el('p', {},
          el('button', { type: 'button', class: 'secondary', id: 'phone-mute', 'aria-pressed': phone.muted ? 'true' : 'false', onclick: toggleMute }, phone.muted ? t('phone_unmute') : t('phone_mute')), ' ',
          el('button', { type: 'button', class: 'secondary', id: 'phone-hold', onclick: toggleHold }, s.isOnHold().local ? t('phone_resume') : t('phone_hold'))) : null,
        live ? el('p', {}, el('label', {}, t('phone_transfer_to'), target), ' ',
          el('button', { type: 'button', class: 'secondary', id: 'phone-blind', onclick: () => blindTransfer(target.value) }, t('phone_blind')), ' ',
          phone.held ? el('button', { type: 'button', id: 'phone-complete', onclick: completeTransfer }, t('phone_complete_transfer'))
            : el('button', { type: 'button', class: 'secondary', id: 'phone-consult', onclick: () => call(target.value) }, t('phone_consult'))) : null,
        phone.held ? el('p', { class: 'muted' }, t('phone_on_hold_other') + ' ', el('span', { translate: 'no' }, phone.held.remote_identity.uri.user)) : null) : null,
      mics.length > 1 ? el('label', {}, t('phone_mic'), el('select', { id: 'phone-mic', onchange: (e) => { phone.deviceId = e.target.value; localStorage.setItem('phone-mic', phone.deviceId); } },
        el('option', { value: '' }, t('phone_mic_default')), mics.map((m, i) => el('option', { value: m.deviceId, selected: m.deviceId === phone.deviceId ? true : null }, m.label || t('phone_mic') + ' ' + (i + 1))))) : null,
      el('h3', {}, t('phone_recent')),
      recent.items.length ? el('ul', { class: 'recent', id: 'phone-recent' }, recent.items.map((c) => {
        const other = c.caller_number === state.me.name ? c.callee : c.caller_number;
        return el('li', {}, el('span', { translate: 'no' }, fmtTime(c.started_at) + ' ' + other + (c.caller_name && other === c.caller_number ? ' ' + c.caller_name : '')), ' ',
          el('button', { type: 'button', class: 'secondary', onclick: () => call(other) }, t('phone_call_back')));
      })) : el('p', { class: 'muted' }, t('nothing'))].filter(Boolean));
  };
  phone.listeners.add(draw);
  onLeave(() => phone.listeners.delete(draw));
  draw();
  return wrap;
}
