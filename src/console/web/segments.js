// Segments (`#/segments`): every contact's historical CLV and RFM scores and segment,
// most valuable first, optionally one segment.
import { gql } from './api.js';
import { t, extend, money, time } from './i18n.js';
import { el, replace } from './views.js';
import { main, say, route } from './page.js';

/// laras_projections::segments::SEGMENTS, in its order.
export const SEGMENTS = ['Champions', 'Loyal', 'Potential Loyalist', 'New', 'Promising', 'Need Attention', 'About to Sleep',
  'At Risk', "Can't Lose", 'Hibernating', 'Lost'];

/// The API's value for a segment's name (`Can't Lose` is CANT_LOSE).
export const segmentValue = name => name.toUpperCase().replace(/'/g, '').replace(/ /g, '_');
/// The name of a segment the API answers as its enum value.
export const segmentName = value => SEGMENTS.find(s => segmentValue(s) === value) ?? value;

extend({
  en: {
    segments: 'Segments', sg_filter: 'Segment', sg_all: 'All segments', sg_contact: 'Contact', sg_segment: 'Segment',
    sg_clv: 'CLV', sg_won: 'Won deals', sg_recency: 'Days since last deal', sg_r: 'R', sg_f: 'F', sg_m: 'M',
    sg_rfull: 'Recency score', sg_ffull: 'Frequency score', sg_mfull: 'Monetary score',
    sg_empty: 'No contacts with a segment yet: segments are computed when deals are won or lost.',
    sg_caption: at => `CLV is the value of won deals; R, F and M score 1 to 5${at ? ` (computed ${at})` : ''}.`,
  },
  id: {
    segments: 'Segmen', sg_filter: 'Segmen', sg_all: 'Semua segmen', sg_contact: 'Kontak', sg_segment: 'Segmen',
    sg_clv: 'CLV', sg_won: 'Transaksi menang', sg_recency: 'Hari sejak transaksi terakhir', sg_r: 'R', sg_f: 'F', sg_m: 'M',
    sg_rfull: 'Skor kebaruan', sg_ffull: 'Skor frekuensi', sg_mfull: 'Skor nilai',
    sg_empty: 'Belum ada kontak bersegmen: segmen dihitung saat transaksi menang atau kalah.',
    sg_caption: at => `CLV adalah nilai transaksi yang menang; R, F, dan M bernilai 1 sampai 5${at ? ` (dihitung ${at})` : ''}.`,
  },
});

const QUERY = `query Segments($s: RfmSegment) { segments(segment: $s) {
  contactId displayName clvMinor currency wonDeals recencyDays recencyScore frequencyScore monetaryScore segment computedAt } }`;

route(/^#\/segments$/, () => render());

let chosen = '';

async function render() {
  const select = el('select', { id: 'segment-filter', onchange: () => { chosen = select.value; render(); } },
    el('option', { value: '' }, t('sg_all')),
    SEGMENTS.map(s => el('option', { value: s, selected: chosen === s }, s)));
  const body = el('tbody', {});
  const caption = el('caption', {});
  replace(main,
    el('h1', {}, t('segments')),
    el('div', { className: 'filters' }, el('label', { attrs: { for: 'segment-filter' } }, t('sg_filter'), select)),
    el('div', { className: 'scroll' },
      el('table', { id: 'segments', className: 'table' }, caption,
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col' }, t('sg_contact')), el('th', { scope: 'col' }, t('sg_segment')),
          el('th', { scope: 'col', className: 'num' }, t('sg_clv')), el('th', { scope: 'col', className: 'num' }, t('sg_won')),
          el('th', { scope: 'col', className: 'num' }, t('sg_recency')),
          el('th', { scope: 'col', className: 'num' }, el('abbr', { title: t('sg_rfull') }, t('sg_r'))),
          el('th', { scope: 'col', className: 'num' }, el('abbr', { title: t('sg_ffull') }, t('sg_f'))),
          el('th', { scope: 'col', className: 'num' }, el('abbr', { title: t('sg_mfull') }, t('sg_m'))))),
        body)));
  let rows;
  try {
    rows = (await gql(QUERY, { s: chosen ? segmentValue(chosen) : null })).segments;
  } catch (e) {
    say(e.message);
    return;
  }
  if (location.hash !== '#/segments') return;
  caption.textContent = t('sg_caption', rows.length ? time(rows[0].computedAt) : '');
  replace(body, rows.length ? rows.map(r => el('tr', { attrs: { 'data-contact': r.contactId } },
    el('th', { scope: 'row' }, el('a', { href: `#/contact/${encodeURIComponent(r.contactId)}` }, r.displayName ?? '—')),
    el('td', {}, segmentName(r.segment)),
    el('td', { className: 'num' }, money(r.clvMinor, r.currency)),
    el('td', { className: 'num' }, String(r.wonDeals)),
    el('td', { className: 'num' }, String(r.recencyDays)),
    el('td', { className: 'num' }, String(r.recencyScore)),
    el('td', { className: 'num' }, String(r.frequencyScore)),
    el('td', { className: 'num' }, String(r.monetaryScore))))
    : el('tr', {}, el('td', { className: 'empty', attrs: { colspan: '8' } }, t('sg_empty'))));
}
