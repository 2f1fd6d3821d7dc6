// A contact (`#/contact/<contactId>`): segment and CLV, opt-out state, sentiment over
// time, notes, opportunities, the CRM timeline, and erasure (owner only).
import { gql } from './api.js';
import { t, extend, time, money } from './i18n.js';
import { el, replace } from './views.js';
import { main, say, canWrite, isOwner, route } from './page.js';
import { segmentName } from './segments.js';

extend({
  en: {
    contact: 'Contact', contactOf: name => `Contact: ${name}`,
    ct_back: '← Inbox', ct_notFound: 'Contact not found.', ct_channels: 'Channels', ct_firstSeen: 'First seen',
    ct_lastSeen: 'Last interaction', ct_conversations: 'Conversations', ct_conversation: n => `Conversation ${n}`,
    ct_segment: 'Segment and CLV', ct_clv: 'Lifetime value (won deals)', ct_segmentName: 'Segment',
    ct_wonDeals: 'Won deals', ct_rfm: 'Recency · frequency · monetary', ct_recency: d => `last deal ${d} days ago`,
    ct_noSegment: 'No segment yet: it is computed once a deal is won or lost.',
    ct_optOut: 'Messages', ct_subscribed: 'Receives messages on every channel.',
    ct_optedOut: what => `Opted out: ${what}.`, ct_optOutButton: 'Opt out', ct_optInButton: 'Opt in again',
    ct_optChannel: 'Channel', ct_allChannels: 'All channels', ct_marketingOnly: 'Marketing only',
    ct_optedOutDone: 'Opted out.', ct_optedInDone: 'Opted in.',
    ct_sentiment: 'Sentiment over time', ct_noSentiment: 'No scored messages yet.',
    ct_sentimentLabel: (n, last) => `Sentiment of ${n} scored messages, from −1 (angry) to 1 (delighted); latest ${last}.`,
    ct_notes: 'Notes', ct_noNotes: 'No notes.', ct_noteLabel: 'New note', ct_addNote: 'Add note', ct_noteAdded: 'Note added.',
    ct_opportunities: 'Opportunities', ct_noOpportunities: 'No opportunities.', ct_toPipeline: 'Pipeline →',
    ct_timeline: 'Timeline', ct_erase: 'Erase contact…', ct_eraseTitle: 'Erase this contact?',
    ct_eraseWhat: [
      'The contact\'s key is destroyed: their messages, name, notes and files become unreadable for good, here and in every backup.',
      'The signed history still verifies: what happened and when stays in the ledger, without the personal data.',
      'This cannot be undone.',
    ],
    ct_eraseConfirm: 'Erase for ever', ct_cancel: 'Cancel', ct_erasedDone: 'Contact erased.',
    ct_erased: 'This contact was erased: their personal data can no longer be read.',
    ct_outcome: { open: 'open', won: 'won', lost: 'lost' },
    ct_kinds: {
      identified: 'first contact', message_in: 'message from the customer', message_out: 'reply', comment: 'comment',
      note: 'note', sentiment: 'sentiment', opted_out: 'opted out', opted_in: 'opted in',
      opportunity_opened: 'opportunity opened', opportunity_stage: 'stage changed', opportunity_value: 'value changed',
      opportunity_won: 'deal won', opportunity_lost: 'deal lost', merged: 'merged', erased: 'erased', reaction: 'reaction',
      referral: 'came from an ad or link', identity_changed: 'identity changed', thread_control: 'thread handover',
    },
  },
  id: {
    contact: 'Kontak', contactOf: name => `Kontak: ${name}`,
    ct_back: '← Kotak masuk', ct_notFound: 'Kontak tidak ditemukan.', ct_channels: 'Kanal', ct_firstSeen: 'Pertama terlihat',
    ct_lastSeen: 'Interaksi terakhir', ct_conversations: 'Percakapan', ct_conversation: n => `Percakapan ${n}`,
    ct_segment: 'Segmen dan CLV', ct_clv: 'Nilai seumur hidup (transaksi menang)', ct_segmentName: 'Segmen',
    ct_wonDeals: 'Transaksi menang', ct_rfm: 'Kebaruan · frekuensi · nilai', ct_recency: d => `transaksi terakhir ${d} hari lalu`,
    ct_noSegment: 'Belum ada segmen: dihitung setelah transaksi menang atau kalah.',
    ct_optOut: 'Pesan', ct_subscribed: 'Menerima pesan di semua kanal.',
    ct_optedOut: what => `Berhenti berlangganan: ${what}.`, ct_optOutButton: 'Berhentikan langganan', ct_optInButton: 'Langganan lagi',
    ct_optChannel: 'Kanal', ct_allChannels: 'Semua kanal', ct_marketingOnly: 'Hanya pemasaran',
    ct_optedOutDone: 'Langganan dihentikan.', ct_optedInDone: 'Berlangganan lagi.',
    ct_sentiment: 'Sentimen dari waktu ke waktu', ct_noSentiment: 'Belum ada pesan yang dinilai.',
    ct_sentimentLabel: (n, last) => `Sentimen ${n} pesan yang dinilai, dari −1 (marah) sampai 1 (senang); terakhir ${last}.`,
    ct_notes: 'Catatan', ct_noNotes: 'Belum ada catatan.', ct_noteLabel: 'Catatan baru', ct_addNote: 'Tambah catatan', ct_noteAdded: 'Catatan ditambahkan.',
    ct_opportunities: 'Peluang', ct_noOpportunities: 'Belum ada peluang.', ct_toPipeline: 'Pipeline →',
    ct_timeline: 'Linimasa', ct_erase: 'Hapus kontak…', ct_eraseTitle: 'Hapus kontak ini?',
    ct_eraseWhat: [
      'Kunci kontak dihancurkan: pesan, nama, catatan, dan berkasnya tidak bisa dibaca lagi untuk selamanya, di sini dan di setiap cadangan.',
      'Riwayat bertanda tangan tetap terverifikasi: apa yang terjadi dan kapan tetap ada di buku besar, tanpa data pribadi.',
      'Ini tidak bisa dibatalkan.',
    ],
    ct_eraseConfirm: 'Hapus selamanya', ct_cancel: 'Batal', ct_erasedDone: 'Kontak dihapus.',
    ct_erased: 'Kontak ini sudah dihapus: data pribadinya tidak bisa dibaca lagi.',
    ct_outcome: { open: 'terbuka', won: 'menang', lost: 'kalah' },
    ct_kinds: {
      identified: 'kontak pertama', message_in: 'pesan pelanggan', message_out: 'balasan', comment: 'komentar',
      note: 'catatan', sentiment: 'sentimen', opted_out: 'berhenti berlangganan', opted_in: 'berlangganan lagi',
      opportunity_opened: 'peluang dibuka', opportunity_stage: 'tahap berubah', opportunity_value: 'nilai berubah',
      opportunity_won: 'transaksi menang', opportunity_lost: 'transaksi kalah', merged: 'digabung', erased: 'dihapus', reaction: 'reaksi',
      referral: 'datang dari iklan atau tautan', identity_changed: 'identitas berubah', thread_control: 'serah terima percakapan',
    },
  },
});

const CONTACT = `query Contact($id: ID!, $min: Int) { contact(id: $id, minPosition: $min) {
  id: contactId displayName channels optedOut erased firstSeen lastInteraction conversationIds
  timeline { position at kind summary reference }
  opportunities { id: opportunityId title stage valueMinor currency outcome }
  segment { clvMinor currency wonDeals recencyDays recencyScore frequencyScore monetaryScore segment } } }`;

route(/^#\/contact\/([^/]+)$/, id => render(id));

/// The word for a closed-set value kept in a table of words (`ct_kinds`, `ct_outcome`).
const word = (table, key) => t(table)[key] ?? key;

/// The API's enums (WHATSAPP, SENTIMENT, OPEN…) as the lower-case words this page keys on.
function lowerEnums(c) {
  return {
    ...c,
    channels: c.channels.map(ch => ch.toLowerCase()),
    timeline: c.timeline.map(e => ({ ...e, kind: e.kind.toLowerCase() })),
    opportunities: c.opportunities.map(o => ({ ...o, outcome: o.outcome.toLowerCase() })),
    segment: c.segment ? { ...c.segment, segment: segmentName(c.segment.segment) } : null,
  };
}

async function render(id, minPosition) {
  if (minPosition === undefined) replace(main, el('p', {}, t('loading')));
  let data;
  try {
    data = await gql(CONTACT, { id, min: minPosition ?? null });
  } catch (e) {
    if (e.code === 'NOT_FOUND' || e.code === 'BAD_INPUT') {
      replace(main, el('a', { href: '#/' }, t('ct_back')), el('p', { id: 'not-found', attrs: { role: 'alert' } }, t('ct_notFound')));
    } else {
      say(e.message);
    }
    return;
  }
  // The reader may have moved on while the contact loaded.
  if (location.hash !== `#/contact/${encodeURIComponent(id)}`) return;
  const c = lowerEnums(data.contact);
  const writable = canWrite() && !c.erased;
  replace(main,
    el('a', { href: '#/' }, t('ct_back')),
    el('h1', { id: 'contact-title' }, c.displayName ?? '—'),
    c.erased ? el('p', { id: 'erased-state', className: 'erased', attrs: { role: 'status' } }, t('ct_erased')) : null,
    el('dl', { className: 'facts' },
      el('dt', {}, t('ct_channels')), el('dd', {}, c.channels.map(ch => t(ch)).join(', ') || '—'),
      el('dt', {}, t('ct_firstSeen')), el('dd', {}, time(c.firstSeen)),
      el('dt', {}, t('ct_lastSeen')), el('dd', {}, c.lastInteraction ? time(c.lastInteraction) : '—'),
      el('dt', {}, t('ct_conversations')),
      el('dd', {}, c.conversationIds.map((cid, i) => [i ? ' · ' : '', el('a', { href: `#/c/${encodeURIComponent(cid)}` }, t('ct_conversation', i + 1))]))),
    segmentSection(c.segment),
    optOutSection(c, writable),
    sentimentSection(c.timeline),
    notesSection(c, writable),
    opportunitiesSection(c.opportunities),
    timelineSection(c.timeline),
    isOwner() && !c.erased ? eraseSection(c) : null);
}

function section(id, title, ...children) {
  return el('section', { id, className: 'panel', attrs: { 'aria-labelledby': `${id}-h` } }, el('h2', { id: `${id}-h` }, title), ...children);
}

function segmentSection(s) {
  if (!s) return section('contact-segment', t('ct_segment'), el('p', {}, t('ct_noSegment')));
  return section('contact-segment', t('ct_segment'),
    el('dl', { className: 'facts' },
      el('dt', {}, t('ct_clv')), el('dd', { id: 'contact-clv' }, money(s.clvMinor, s.currency)),
      el('dt', {}, t('ct_segmentName')), el('dd', { id: 'contact-segment-name' }, s.segment),
      el('dt', {}, t('ct_wonDeals')), el('dd', {}, String(s.wonDeals)),
      el('dt', {}, t('ct_rfm')), el('dd', {}, `${s.recencyScore} · ${s.frequencyScore} · ${s.monetaryScore} (${t('ct_recency', s.recencyDays)})`)));
}

/// Writes, then shows the contact again as of the write.
async function write(contactId, mutation, variables, done) {
  try {
    const answer = await gql(mutation, variables);
    const written = Object.values(answer)[0];
    say(done);
    await render(contactId, written?.position ?? undefined);
  } catch (e) {
    say(e.message);
  }
}

function optOutSection(c, writable) {
  const state = el('p', { id: 'optout-state', attrs: { 'data-opted-out': c.optedOut ? 'yes' : 'no' } },
    c.optedOut ? t('ct_optedOut', c.optedOut) : t('ct_subscribed'));
  if (!writable) return section('contact-optout', t('ct_optOut'), state);
  const channel = el('select', { id: 'optout-channel' },
    el('option', { value: '' }, t('ct_allChannels')),
    c.channels.map(ch => el('option', { value: ch.toUpperCase() }, t(ch))));
  const marketing = el('input', { id: 'optout-marketing', type: 'checkbox' });
  const vars = () => ({ k: c.id, ch: channel.value || null });
  const out = el('button', { id: 'opt-out', type: 'button', onclick: () => write(c.id,
    'mutation($k: ID!, $ch: Channel, $m: Boolean!) { optOut(contactId: $k, channel: $ch, marketingOnly: $m) { position } }',
    { ...vars(), m: marketing.checked }, t('ct_optedOutDone')) }, t('ct_optOutButton'));
  const back = el('button', { id: 'opt-in', type: 'button', className: 'secondary', onclick: () => write(c.id,
    'mutation($k: ID!, $ch: Channel) { optIn(contactId: $k, channel: $ch) { position } }', vars(), t('ct_optedInDone')) }, t('ct_optInButton'));
  return section('contact-optout', t('ct_optOut'), state,
    el('div', { className: 'actions' },
      el('label', { attrs: { for: 'optout-channel' } }, t('ct_optChannel'), ' ', channel),
      c.optedOut ? null : el('label', { attrs: { for: 'optout-marketing' } }, marketing, ' ', t('ct_marketingOnly')),
      c.optedOut ? back : out));
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [a, v] of Object.entries(attrs)) node.setAttribute(a, String(v));
  return node;
}

/// The scores as a small line chart: −1 at the bottom, 1 at the top, oldest on the left.
function sentimentSection(timeline) {
  const points = timeline.filter(e => e.kind === 'sentiment' && e.summary !== null)
    .map(e => ({ at: e.at, score: Number(e.summary) })).filter(p => Number.isFinite(p.score));
  if (!points.length) return section('contact-sentiment', t('ct_sentiment'), el('p', {}, t('ct_noSentiment')));
  const w = 240, h = 60, pad = 6;
  const x = i => points.length === 1 ? w / 2 : pad + i * (w - 2 * pad) / (points.length - 1);
  const y = s => pad + (1 - Math.max(-1, Math.min(1, s))) / 2 * (h - 2 * pad);
  const last = points[points.length - 1].score.toFixed(2);
  const chart = svg('svg', { id: 'sentiment-chart', viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: 'img', 'aria-label': t('ct_sentimentLabel', points.length, last), class: 'spark' });
  chart.append(svg('line', { x1: 0, x2: w, y1: y(0), y2: y(0), class: 'zero' }));
  chart.append(svg('polyline', { points: points.map((p, i) => `${x(i)},${y(p.score)}`).join(' '), class: 'trend' }));
  points.forEach((p, i) => {
    const dot = svg('circle', { cx: x(i), cy: y(p.score), r: 3, class: p.score < 0 ? 'neg' : 'pos' });
    const title = svg('title', {});
    title.textContent = `${time(p.at)}: ${p.score.toFixed(2)}`;
    dot.append(title);
    chart.append(dot);
  });
  return section('contact-sentiment', t('ct_sentiment'), chart);
}

function notesSection(c, writable) {
  const notes = c.timeline.filter(e => e.kind === 'note').reverse();
  const list = el('ul', { id: 'notes', className: 'notes' },
    notes.length ? notes.map(n => el('li', {}, el('p', {}, n.summary ?? '—'), el('small', {}, time(n.at)))) : el('li', { className: 'empty' }, t('ct_noNotes')));
  if (!writable) return section('contact-notes', t('ct_notes'), list);
  const text = el('textarea', { id: 'note-text', maxLength: 16384, required: true });
  const form = el('form', { className: 'note-form', onsubmit: e => {
    e.preventDefault();
    if (!text.value.trim()) return;
    write(c.id, 'mutation($k: ID!, $t: String!) { addNote(contactId: $k, text: $t) { position } }', { k: c.id, t: text.value }, t('ct_noteAdded'));
  } },
  el('label', { attrs: { for: 'note-text' } }, t('ct_noteLabel')), text,
  el('button', { id: 'note-add', type: 'submit' }, t('ct_addNote')));
  return section('contact-notes', t('ct_notes'), list, form);
}

function opportunitiesSection(opportunities) {
  const list = el('ul', { id: 'contact-opportunities', className: 'plain' },
    opportunities.length ? opportunities.map(o => el('li', { attrs: { 'data-id': o.id, 'data-outcome': o.outcome } },
      el('strong', {}, o.title), ' · ', o.stage, ' · ', money(o.valueMinor, o.currency), ' · ', word('ct_outcome', o.outcome)))
      : el('li', { className: 'empty' }, t('ct_noOpportunities')));
  return section('contact-opps', t('ct_opportunities'), list, el('a', { href: '#/pipeline' }, t('ct_toPipeline')));
}

function timelineSection(timeline) {
  return section('contact-timeline', t('ct_timeline'),
    el('ol', { id: 'timeline', className: 'timeline' }, [...timeline].reverse().map(e =>
      el('li', { attrs: { 'data-kind': e.kind } },
        el('time', { attrs: { datetime: e.at } }, time(e.at)), ' ',
        el('strong', {}, word('ct_kinds', e.kind)),
        e.summary ? [' · ', e.summary] : null))));
}

function eraseSection(c) {
  const dialog = el('dialog', { id: 'erase-dialog', attrs: { 'aria-labelledby': 'erase-title' } },
    el('h2', { id: 'erase-title' }, t('ct_eraseTitle')),
    el('ul', { id: 'erase-what' }, t('ct_eraseWhat').map(line => el('li', {}, line))),
    el('div', { className: 'actions' },
      el('button', { id: 'erase-confirm', type: 'button', className: 'danger', onclick: () => {
        dialog.close();
        write(c.id, 'mutation($k: ID!) { eraseContact(contactId: $k) { position } }', { k: c.id }, t('ct_erasedDone'));
      } }, t('ct_eraseConfirm')),
      el('button', { id: 'erase-cancel', type: 'button', className: 'secondary', onclick: () => dialog.close() }, t('ct_cancel'))));
  return el('section', { id: 'contact-erase', className: 'panel' },
    el('button', { id: 'erase', type: 'button', className: 'danger', onclick: () => dialog.showModal() }, t('ct_erase')),
    dialog);
}
