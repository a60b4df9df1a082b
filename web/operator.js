// The operator's view of one company's city numbers: listed with their trunk, added from a
// trunk picked from the list, removed.
import { t } from './i18n.js';
import { api, el, table, toast, attempt } from './app.js';

const enc = encodeURIComponent;

/** A card with the company's numbers; `close` removes it. */
export async function tenantNumbersCard(slug, close) {
  const trunks = await api('GET', '/api/v1/trunks?limit=500');
  const list = el('div', { id: 'tenant-numbers-list' });
  async function reload() {
    const r = await api('GET', '/api/v1/tenants/' + enc(slug) + '/numbers?limit=500');
    list.replaceChildren(table([t('number'), t('trunk'), t('ext'), t('main_number'), ''], r.items.map((d) => [
      el('span', { translate: 'no' }, d.number), d.trunk, d.user || '', d.main ? '✓' : '',
      el('button', { class: 'danger', onclick: () => confirm(t('delete') + ' ' + d.number + '?') && attempt(async () => {
        await api('DELETE', '/api/v1/tenants/' + enc(slug) + '/numbers/' + enc(d.number)); await reload();
      }) }, t('delete'))])));
  }
  const form = el('form', { id: 'tenant-number-form', onsubmit: (e) => { e.preventDefault(); attempt(async () => {
    await api('POST', '/api/v1/tenants/' + enc(slug) + '/numbers', { number: e.target.number.value, trunk: e.target.trunk.value });
    e.target.number.value = ''; toast(t('saved')); await reload();
  }); } },
  el('label', {}, t('number'), el('input', { name: 'number', required: true, maxlength: 32, inputmode: 'tel', placeholder: '+74951234567' })),
  el('label', {}, t('trunk'), el('select', { name: 'trunk', required: true }, trunks.items.map((x) => el('option', { value: x.name }, x.name)))),
  el('button', { type: 'submit' }, t('add')));
  await reload();
  return el('div', { class: 'card', id: 'tenant-numbers' }, el('h3', {}, t('numbers') + ': ' + slug), list, form,
    el('button', { type: 'button', class: 'secondary', onclick: close }, t('close')));
}
