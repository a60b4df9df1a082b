// Prepaid billing: the company's balance page (balance, warning threshold, prices, history)
// and the operator's price list; the low-balance banner the dashboard shows.
import { t } from './i18n.js';
import { api, el, table, labelledRow, toast, attempt, fmtTime, state } from './app.js';

const money = (cents) => (cents / 100).toFixed(2);
const kindText = (k) => t('charge_' + k.replace('-', '_'));

/** The warning a supervisor sees when the balance is low (null when it is not). */
export async function lowBalanceBanner() {
  if (!state.me || state.me.role !== 'supervisor') return null;
  const b = await api('GET', '/api/v1/balance');
  if (!b.low) return null;
  return el('p', { class: 'card bad', id: 'low-balance', role: 'alert' },
    (b.balance_cents <= 0 ? t('balance_spent') : t('balance_low')) + ' ' + t('balance') + ': ' + money(b.balance_cents) + '. ',
    el('a', { href: '#/balance' }, t('balance_details')));
}

function pricesTable(items, slugOf, onDelete) {
  return table([t('price_company'), t('price_prefix'), t('price_destination'), t('price_per_minute'), t('price_step'), onDelete ? '' : null].filter((c) => c !== null),
    items.map((p) => [p.tenant_id ? slugOf(p.tenant_id) : t('price_everyone'), p.prefix ? '+' + p.prefix : t('price_any_number'), p.name, money(p.per_minute_cents),
      p.step_seconds + ' ' + t('seconds_short'),
      onDelete ? el('button', { class: 'danger', onclick: () => confirm(t('delete') + ' ' + (p.prefix ? '+' + p.prefix : t('price_any_number')) + '?') && onDelete(p) }, t('delete')) : null]
      .filter((c) => c !== null)));
}

/** The company's balance page. */
export async function balancePage() {
  const wrap = el('div', { id: 'balance' });
  let before = null;
  const history = el('tbody');
  const cols = [t('when'), t('charge_kind'), t('amount'), t('balance_after'), t('charge_detail'), t('audit_who')];
  const more = el('button', { class: 'secondary', hidden: true }, t('more'));
  async function loadHistory() {
    const b = await api('GET', '/api/v1/balance' + (before ? '?before=' + before : ''));
    for (const e of b.history) {
      history.append(labelledRow(cols, [fmtTime(e.at), kindText(e.kind), el('span', { class: e.amount_cents < 0 ? 'bad' : 'good' }, (e.amount_cents > 0 ? '+' : '') + money(e.amount_cents)),
        money(e.balance_cents), e.detail, e.actor === 'system' ? '' : e.actor]));
    }
    if (!history.children.length) history.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, t('nothing'))));
    before = b.history.length ? b.history[b.history.length - 1].id : null;
    more.hidden = b.history.length < 50;
    return b;
  }
  more.addEventListener('click', () => attempt(loadHistory));
  const b = await loadHistory();
  const warn = el('form', { class: 'card', id: 'balance-warning', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
    await api('PUT', '/api/v1/balance/warning', { threshold: e.target.threshold.value });
    toast(t('saved'));
  }); } }, el('label', {}, t('balance_warn_below'), el('input', { name: 'threshold', inputmode: 'decimal', pattern: '[0-9]+([.,][0-9]{1,2})?', maxlength: 15, required: true, value: money(b.low_balance_cents) })),
  el('p', { class: 'muted' }, t('balance_warn_hint')), el('button', { type: 'submit' }, t('save')));
  wrap.append(
    el('div', { class: 'figures' }, el('div', { class: 'figure' + (b.low ? ' bad' : ''), id: 'fig-balance' }, el('b', {}, money(b.balance_cents)), el('span', {}, t('balance')))),
    b.low ? el('p', { class: 'bad', role: 'alert' }, b.balance_cents <= 0 ? t('balance_spent') : t('balance_low')) : '',
    el('p', { class: 'muted' }, t('balance_hint')),
    warn,
    el('h3', {}, t('prices')),
    b.tariffs.length ? pricesTable(b.tariffs, () => t('price_yours'), null) : el('p', { class: 'muted' }, t('prices_none')),
    el('h3', {}, t('balance_history')),
    el('div', { class: 'scroll', tabindex: '0' }, el('table', { id: 'balance-history' }, el('thead', {}, el('tr', {}, cols.map((c) => el('th', {}, c)))), history)),
    more);
  return wrap;
}

/** The operator's price list. */
export async function tariffsPage() {
  const [prices, tenants] = await Promise.all([api('GET', '/api/v1/tariffs'), api('GET', '/api/v1/tenants?limit=500')]);
  const slugs = new Map(tenants.items.map((x) => [x.id, x.slug]));
  const list = el('div', { id: 'price-list' });
  async function reload() {
    const r = await api('GET', '/api/v1/tariffs');
    draw(r.items);
  }
  function draw(items) {
    list.replaceChildren(items.length ? pricesTable(items, (id) => slugs.get(id) || '#' + id, (p) => attempt(async () => {
      await api('DELETE', '/api/v1/tariffs/' + p.id); await reload();
    })) : el('p', { class: 'muted' }, t('prices_none')));
  }
  draw(prices.items);
  const form = el('form', { class: 'card', id: 'price-form', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
    const f = e.target;
    const body = { prefix: f.prefix.value.replace(/^\+/, ''), name: f.name.value, per_minute: f.per_minute.value, step_seconds: Number(f.step_seconds.value) };
    if (f.company.value) body.company = f.company.value;
    await api('POST', '/api/v1/tariffs', body);
    f.reset(); toast(t('saved')); await reload();
  }); } },
  el('h3', {}, t('price_new')),
  el('label', {}, t('price_prefix'), el('input', { name: 'prefix', inputmode: 'numeric', pattern: '\\+?[0-9]{0,15}', maxlength: 16, placeholder: '7495' })),
  el('p', { class: 'muted' }, t('price_prefix_hint')),
  el('label', {}, t('price_destination'), el('input', { name: 'name', required: true, maxlength: 100 })),
  el('label', {}, t('price_per_minute'), el('input', { name: 'per_minute', required: true, inputmode: 'decimal', pattern: '[0-9]+([.,][0-9]{1,2})?', maxlength: 12 })),
  el('label', {}, t('price_step'), el('select', { name: 'step_seconds' }, [60, 30, 6, 1].map((s) => el('option', { value: String(s) }, s + ' ' + t('seconds_short'))))),
  el('label', {}, t('price_company'), el('select', { name: 'company' }, el('option', { value: '' }, t('price_everyone')), tenants.items.map((x) => el('option', { value: x.slug }, x.slug)))),
  el('button', { type: 'submit' }, t('add')));
  return el('div', {}, el('p', { class: 'muted' }, t('prices_hint')), list, form);
}
