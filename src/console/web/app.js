// The console: sign-in, the inbox and one conversation, routed by the address's hash
// (`#/c/<conversationId>`), live through the inboxChanges subscription.
import { gql, live, signIn, signOut, signedIn } from './api.js';
import { t, setLanguage, language, time, reason, extend } from './i18n.js';
import { el, replace, debounce } from './views.js';
import { state, main, say, canWrite, canAudit, route as addRoute, resolve, conversationChanged, focusHeading } from './page.js';
// Each page module adds its routes to page.js when imported; list new ones here.
import './contact.js';
import './pipeline.js';
import './segments.js';
import './knowledge.js';
import './settings.js';
import './audit.js';

extend({
  en: {
    assignee: 'Assignee', mine: 'Mine', assignedTo: id => `assigned to ${id}…`, assignedToMe: 'assigned to me',
    assignToMe: 'Assign to me', unassign: 'Unassign', unassigned: 'Unassigned.',
    search: 'Search', searchHint: 'Searches messages, comments, replies and notes; the list shows the conversations that match.',
    noHits: 'No conversation matches the search.',
    aiDeclined: why => `The AI worker left this to a person: ${why}.`,
    edit: 'Edit', editDraft: 'The draft\'s text', saveEdit: 'Save the new text', cancel: 'Cancel', draftEdited: 'Draft changed; approve it to send.',
    setStatus: 'Move', snoozeHours: 'Snooze for hours', statusSaved: s => `Now ${s}.`,
    templateTitle: 'Send an approved WhatsApp template instead', templateName: 'Template name', templateLanguage: 'Language code',
    templateParameters: 'Parameters, one a line', templateSend: 'Send the template', templateSent: 'Template sent.',
    templateNeedsName: 'Name the template and its language.', templateText: n => `Template ${n}`,
    onPost: id => `on post ${id}`, reacted: r => `reacted ${r}`, fromArticles: list => `from: ${list}`,
    file_image: 'Photo', file_sticker: 'Sticker', file_audio: 'Voice note or audio', file_video: 'Video', file_document: 'Document',
    filePending: f => `${f}: arriving…`, fileUnavailable: f => `${f}: not available`, fileOpen: (f, mime) => `Open ${f.toLowerCase()} (${mime})`,
    declined_off_topic: 'the question is outside the Partner\'s knowledge', declined_low_confidence: 'its knowledge was not sure enough',
    declined_generator_unavailable: 'the AI generator was unavailable', declined_: 'no reason given',
  },
  id: {
    assignee: 'Penanggung jawab', mine: 'Milik saya', assignedTo: id => `ditangani ${id}…`, assignedToMe: 'ditangani saya',
    assignToMe: 'Tangani sendiri', unassign: 'Lepaskan', unassigned: 'Dilepaskan.',
    search: 'Cari', searchHint: 'Mencari di pesan, komentar, balasan dan catatan; daftar menampilkan percakapan yang cocok.',
    noHits: 'Tidak ada percakapan yang cocok.',
    aiDeclined: why => `Pekerja AI menyerahkan ini ke orang: ${why}.`,
    edit: 'Ubah', editDraft: 'Teks draf', saveEdit: 'Simpan teks baru', cancel: 'Batal', draftEdited: 'Draf diubah; setujui untuk mengirim.',
    setStatus: 'Pindahkan', snoozeHours: 'Tunda selama (jam)', statusSaved: s => `Sekarang ${s}.`,
    templateTitle: 'Kirim templat WhatsApp yang disetujui', templateName: 'Nama templat', templateLanguage: 'Kode bahasa',
    templateParameters: 'Parameter, satu per baris', templateSend: 'Kirim templat', templateSent: 'Templat terkirim.',
    templateNeedsName: 'Isi nama templat dan bahasanya.', templateText: n => `Templat ${n}`,
    onPost: id => `di unggahan ${id}`, reacted: r => `bereaksi ${r}`, fromArticles: list => `dari: ${list}`,
    file_image: 'Foto', file_sticker: 'Stiker', file_audio: 'Pesan suara atau audio', file_video: 'Video', file_document: 'Dokumen',
    filePending: f => `${f}: sedang diambil…`, fileUnavailable: f => `${f}: tidak tersedia`, fileOpen: (f, mime) => `Buka ${f.toLowerCase()} (${mime})`,
    declined_off_topic: 'pertanyaannya di luar pengetahuan Mitra', declined_low_confidence: 'pengetahuannya kurang yakin',
    declined_generator_unavailable: 'generator AI tidak tersedia', declined_: 'tanpa alasan',
  },
});

const who = document.getElementById('who');
const signOutButton = document.getElementById('signout');
const langSelect = document.getElementById('lang');
const nav = document.getElementById('nav');

const ME = 'query { me { role partnerId keyId userId } partner { name } }';
const INBOX = `query Inbox($filter: InboxFilter!, $after: String) {
  inbox(filter: $filter, first: 200, after: $after) {
    edges { node { conversationId contactId contactName channel status lastMessage lastMessageAt lastDirection
                   unread windowClosesAt upset draftsWaiting assignee } }
    pageInfo { hasNextPage endCursor } } }`;
const CONVERSATION = `query Conversation($id: ID!) { conversation(id: $id) {
  summary { conversationId contactId contactName channel status windowClosesAt upset assignee }
  items { position kind reference text at actor
    ... on Draft { draftId state proposedBy { kind model confidence articleIds } }
    ... on Reply { delivery error { explanation } reaction attachments { kind mime state url } }
    ... on InboundMessage { reaction attachments { kind mime state url } }
    ... on Echo { reaction }
    ... on Comment { mediaId }
    ... on DraftDeclined { reason } } } }`;
const SEARCH = `query Search($text: String!, $channel: Channel) {
  search(text: $text, channel: $channel, first: 100) { conversationId snippetHtml } }`;
const TRAIL = `query Trail($c: ID!, $after: Int) { auditTrail(subject: { conversation: $c }, afterVersion: $after, first: 200) {
  entries { position eventId } nextAfterVersion } }`;
const CHECK = `query Check($c: ID!, $text: String!, $to: ReplyTo) { replyCheck(conversationId: $c, text: $text, to: $to) { allowed reason explanation } }`;
/// At most this many conversations are shown; past it the filters narrow the list.
const INBOX_CAP = 5000;

addRoute(/^#\/c\/([^/]+)$/, id => renderConversation(id));

function route() {
  const m = /^#\/c\/([^/]+)$/.exec(location.hash);
  if (m) return { page: 'conversation', id: decodeURIComponent(m[1]) };
  return resolve(location.hash) ? { page: 'other' } : { page: 'inbox' };
}

/// The pages in the bar, in order: the hash they open, the word (i18n key) naming them,
/// and, for pages some roles cannot read, who may see them.
const PAGES = [
  ['#/', 'inbox'],
  ['#/pipeline', 'pipeline'],
  ['#/segments', 'segments'],
  ['#/knowledge', 'knowledge'],
  ['#/settings', 'settings'],
  ['#/audit', 'audit', canAudit],
];

function renderNav() {
  nav.hidden = !signedIn();
  const here = location.hash || '#/';
  const shown = PAGES.filter(([, , may]) => !may || may());
  replace(nav, shown.map(([href, word]) => el('a', { href, attrs: { 'aria-current': here === href || here.startsWith(`${href}/`) ? 'page' : null } }, t(word))));
}

/// A new address: the page is drawn, then focus moves to its heading, so a keyboard or
/// screen-reader user starts at the top of what changed rather than on a stale link.
async function navigate() {
  await render();
  if (signedIn()) focusHeading();
}

function render() {
  document.getElementById('lang-label').textContent = t('language');
  signOutButton.textContent = t('signOut');
  renderNav();
  if (!signedIn()) return renderSignIn();
  showWho();
  const found = resolve(location.hash);
  if (found) return found.render(...found.args);
  return renderInbox();
}

function renderSignIn(error) {
  who.textContent = '';
  signOutButton.hidden = true;
  const input = el('input', { id: 'signin-key', type: 'password', autocomplete: 'off', required: true, spellcheck: false });
  const form = el('form', { className: 'signin', attrs: { 'aria-labelledby': 'signin-title' }, onsubmit: async e => {
    e.preventDefault();
    const secret = input.value.trim();
    input.value = '';
    if (secret) await start(secret);
  } },
  el('h1', { id: 'signin-title' }, t('signIn')),
  el('label', { attrs: { for: 'signin-key' } }, t('apiKey')),
  input,
  el('small', {}, t('keyHint')),
  error ? el('p', { id: 'signin-error', className: 'error', attrs: { role: 'alert' } }, error) : null,
  el('button', { id: 'signin-button', type: 'submit' }, t('signIn')));
  replace(main, form);
  input.focus();
}

async function start(secret) {
  signIn(secret);
  try {
    const data = await gql(ME);
    state.me = data.me;
    state.partner = data.partner;
  } catch (e) {
    signOut();
    return renderSignIn(t('badKey'));
  }
  signOutButton.hidden = false;
  knownAssignees.clear();
  live('subscription { inboxChanges { conversationId } }', data => changed(data.inboxChanges.conversationId), up => {
    state.live = up;
    say(up ? t('live') : t('offline'));
  });
  await navigate();
}

const refreshInbox = debounce(() => { if (route().page === 'inbox') renderInbox(true); }, 150);

function changed(conversationId) {
  conversationChanged(conversationId);
  const r = route();
  if (r.page === 'inbox') refreshInbox();
  else if (r.id === conversationId) refreshThread(conversationId);
}

function showWho() {
  who.replaceChildren();
  if (!state.me || !state.partner) return;
  who.append(state.partner.name, ' · ', t('role', state.me.role));
}

async function loadInbox() {
  const filter = {};
  if (state.filter.status) filter.status = state.filter.status;
  if (state.filter.channel) filter.channel = state.filter.channel;
  if (state.filter.assignee === 'mine') filter.assignee = state.me.userId;
  else if (state.filter.assignee) filter.assignee = state.filter.assignee;
  const rows = [];
  let after = null;
  for (;;) {
    const data = await gql(INBOX, { filter, after });
    for (const edge of data.inbox.edges) rows.push(edge.node);
    const page = data.inbox.pageInfo;
    if (!page.hasNextPage || rows.length >= INBOX_CAP) return rows;
    after = page.endCursor;
  }
}

/// Search narrows the inbox to the conversations with a hit, each with its best passage.
async function searchHits() {
  const text = state.filter.search.trim();
  if (!text) return null;
  const variables = { text };
  if (state.filter.channel) variables.channel = state.filter.channel;
  const { search } = await gql(SEARCH, variables);
  const hits = new Map();
  for (const hit of search) if (hit.conversationId && !hits.has(hit.conversationId)) hits.set(hit.conversationId, hit.snippetHtml);
  return hits;
}

/// A search snippet is HTML-escaped text with `<b>` around the matched words. It is
/// rebuilt as text nodes and <b> elements, so nothing of it is ever parsed as markup.
function snippet(html) {
  const entities = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#x27;': "'", '&#39;': "'", '&#x2F;': '/' };
  const text = s => s.replace(/&(?:lt|gt|amp|quot|#x27|#39|#x2F);/g, e => entities[e]);
  const parts = [];
  let bold = false;
  for (const piece of html.split(/(<b>|<\/b>)/)) {
    if (piece === '<b>') bold = true;
    else if (piece === '</b>') bold = false;
    else if (piece) parts.push(bold ? el('b', {}, text(piece)) : text(piece));
  }
  return el('span', { className: 'snippet' }, parts);
}

/// Assignees seen in the inbox, so the filter can offer them beside "mine".
const knownAssignees = new Set();

function assigneeSelect() {
  const others = [...knownAssignees].filter(a => a !== state.me?.userId);
  return filterSelect('filter-assignee', t('assignee'), 'assignee', [
    ['mine', t('mine')],
    ...others.map(a => [a, t('assignedTo', a.slice(0, 8))]),
  ]);
}

function searchBox() {
  const input = el('input', { id: 'inbox-search', type: 'search', value: state.filter.search, autocomplete: 'off',
    attrs: { 'aria-describedby': 'inbox-search-hint' } });
  const run = debounce(() => { state.filter.search = input.value; renderInbox(true); }, 300);
  input.addEventListener('input', run);
  return el('form', { className: 'search', attrs: { role: 'search' }, onsubmit: e => {
    e.preventDefault();
    state.filter.search = input.value;
    renderInbox(true);
  } },
  el('label', { attrs: { for: 'inbox-search' } }, t('search'), input),
  el('small', { id: 'inbox-search-hint', className: 'sr' }, t('searchHint')));
}

function filterSelect(id, label, name, options) {
  const select = el('select', { id, onchange: () => { state.filter[name] = select.value; renderInbox(); } },
    el('option', { value: '' }, t('all')),
    options.map(([value, text]) => el('option', { value, selected: state.filter[name] === value }, text)));
  return el('label', { attrs: { for: id } }, label, select);
}

let inboxList = null;

async function renderInbox(quiet) {
  showWho();
  const started = performance.now();
  if (!quiet || !inboxList || !main.contains(inboxList)) {
    // Enum values are the API's (SCREAMING_CASE); the words are keyed by their lower case.
    const statuses = ['OPEN', 'AWAITING_APPROVAL', 'PENDING', 'SNOOZED', 'RESOLVED'].map(s => [s, t(s.toLowerCase())]);
    const channels = ['WHATSAPP', 'INSTAGRAM', 'MESSENGER', 'THREADS'].map(c => [c, t(c.toLowerCase())]);
    inboxList = el('ul', { id: 'inbox', className: 'inbox', attrs: { 'aria-label': t('inbox'), 'aria-busy': 'true' } });
    replace(main,
      el('h1', { id: 'inbox-title', tabIndex: -1 }, t('inbox')),
      el('div', { className: 'filters' },
        filterSelect('filter-status', t('status'), 'status', statuses),
        filterSelect('filter-channel', t('channel'), 'channel', channels),
        assigneeSelect(),
        searchBox()),
      inboxList);
  }
  let rows;
  let hits;
  try {
    [rows, hits] = await Promise.all([loadInbox(), searchHits()]);
  } catch (e) {
    say(e.message);
    return;
  }
  const before = knownAssignees.size;
  for (const r of rows) if (r.assignee) knownAssignees.add(r.assignee);
  if (knownAssignees.size !== before && !quiet) {
    const select = document.getElementById('filter-assignee');
    if (select) select.parentElement.replaceWith(assigneeSelect());
  }
  if (hits) rows = rows.filter(r => hits.has(r.conversationId));
  const list = inboxList;
  const now = Date.now();
  const items = rows.map(c => {
    const closes = c.windowClosesAt ? new Date(c.windowClosesAt) : null;
    const window = closes ? (closes.getTime() > now ? t('windowCloses', time(c.windowClosesAt)) : t('windowClosed')) : null;
    return el('li', { className: 'conv', attrs: { 'data-id': c.conversationId } },
      el('a', { href: `#/c/${encodeURIComponent(c.conversationId)}` },
        el('span', { className: 'channel' }, t(c.channel.toLowerCase())),
        el('span', { className: 'contact' }, c.contactName ?? '—'),
        el('span', {}, c.unread > 0 ? el('span', { className: 'badge', attrs: { 'aria-label': t('unread', c.unread) } }, String(c.unread)) : null),
        el('span', { className: 'last' }, c.lastMessage ?? ''),
        el('span', { className: 'meta' },
          el('span', { className: 'conv-status' }, t(c.status.toLowerCase())),
          el('time', { attrs: { datetime: c.lastMessageAt } }, time(c.lastMessageAt)),
          c.draftsWaiting > 0 ? el('span', { className: 'badge drafts' }, t('drafts', c.draftsWaiting)) : null,
          window ? el('span', { className: 'window' }, window) : null,
          c.upset ? el('span', { className: 'upset' }, t('upset')) : null,
          c.assignee ? el('span', { className: 'assignee' }, c.assignee === state.me.userId ? t('assignedToMe') : t('assignedTo', c.assignee.slice(0, 8))) : null),
        hits?.get(c.conversationId) ? snippet(hits.get(c.conversationId)) : null),
      el('a', { className: 'to-contact', href: `#/contact/${encodeURIComponent(c.contactId)}`,
        attrs: { 'aria-label': t('contactOf', c.contactName ?? '—') } }, t('contact')));
  });
  // A live refresh must not drop a keyboard user's place: the focused row keeps focus.
  const focusedRow = list.contains(document.activeElement) ? document.activeElement.closest('li')?.dataset.id : null;
  replace(list, items.length ? items : el('li', { className: 'empty' }, hits ? t('noHits') : t('empty')));
  if (focusedRow) list.querySelector(`li[data-id="${CSS.escape(focusedRow)}"] a`)?.focus();
  list.setAttribute('aria-busy', 'false');
  // Read by the browser tests: how long the last inbox took from request to rendered rows.
  requestAnimationFrame(() => { document.body.dataset.inboxMs = String(performance.now() - started); document.body.dataset.inboxRows = String(rows.length); });
}

let threadOf = null;

async function renderConversation(id) {
  showWho();
  replace(main, el('p', {}, t('loading')));
  let data;
  try {
    [data] = await Promise.all([gql(CONVERSATION, { id }), articleTitles ? null : loadArticleTitles()]);
  } catch (e) {
    if (e.code === 'NOT_FOUND' || e.code === 'BAD_INPUT') {
      replace(main, el('a', { href: '#/' }, t('back')), el('p', { id: 'not-found', attrs: { role: 'alert' } }, t('notFound')));
    } else {
      say(e.message);
    }
    return;
  }
  const c = data.conversation;
  const thread = el('ol', { id: 'thread', className: 'thread', attrs: { 'aria-label': c.summary.contactName ?? '' } });
  const drafts = el('section', { id: 'drafts', attrs: { 'aria-label': t('draftAwaiting') } });
  threadOf = { id, thread, drafts, proofs: canAudit() ? await proofLinks(id) : new Map() };
  const mine = c.summary.assignee === state.me.userId;
  replace(main,
    el('a', { href: '#/' }, t('back')),
    el('h1', { id: 'contact-name', tabIndex: -1 }, el('a', { href: `#/contact/${encodeURIComponent(c.summary.contactId)}`,
      attrs: { title: t('contactOf', c.summary.contactName ?? '—') } }, c.summary.contactName ?? '—')),
    el('p', { className: 'meta' }, t(c.summary.channel.toLowerCase()), ' · ', t(c.summary.status.toLowerCase()),
      c.summary.windowClosesAt ? [' · ', t('windowCloses', time(c.summary.windowClosesAt))] : null,
      c.summary.assignee ? [' · ', el('span', { id: 'assignee' }, mine ? t('assignedToMe') : t('assignedTo', c.summary.assignee.slice(0, 8)))] : null),
    canWrite() ? el('button', { id: 'assign', type: 'button', className: 'secondary', onclick: async () => {
      try {
        await gql('mutation($c: ID!, $me: Boolean!) { assignConversation(conversationId: $c, toMe: $me) { position } }', { c: id, me: !mine });
        say(mine ? t('unassigned') : t('assignedToMe'));
      } catch (e) { say(e.message); }
      await renderConversation(id);
      document.getElementById('assign')?.focus();
    } }, mine ? t('unassign') : t('assignToMe')) : null,
    canWrite() ? statusControl(id, c.summary.status) : null,
    thread, drafts,
    canWrite() ? replyBox(id, replyTarget(c.summary.channel, c.items)) : el('p', { id: 'read-only' }, t('readOnly')));
  fillThread(c.items);
}

/// Position → event id of the conversation's events, so each message links to its
/// inclusion proof on the audit page (owners and auditors read the audit trail).
async function proofLinks(id) {
  const links = new Map();
  let after = null;
  try {
    for (let pages = 0; pages < 10; pages++) {
      const { auditTrail } = await gql(TRAIL, { c: id, after });
      for (const e of auditTrail.entries) links.set(e.position, e.eventId);
      if (auditTrail.nextAfterVersion === null) break;
      after = auditTrail.nextAfterVersion;
    }
  } catch {
    // The links are an aid; the thread is shown without them.
  }
  return links;
}

async function refreshThread(id) {
  if (!threadOf || threadOf.id !== id) return;
  try {
    const data = await gql(CONVERSATION, { id });
    fillThread(data.conversation.items);
  } catch (e) {
    say(e.message);
  }
}

/// A file on a message: shown where the browser can (images, audio, video), a link
/// otherwise; the link is one Laras signed for this Partner (ADR 014), same origin.
function attachment(a) {
  const kind = a.kind.toLowerCase();
  if (a.state !== 'STORED' || !a.url) {
    return el('p', { className: 'attachment pending', attrs: { 'data-state': a.state.toLowerCase() } },
      t(a.state === 'PENDING' ? 'filePending' : 'fileUnavailable', t(`file_${kind}`)));
  }
  const label = t(`file_${kind}`);
  const shown = kind === 'image' || kind === 'sticker'
    ? el('img', { src: a.url, alt: label, loading: 'lazy', className: 'attachment-image' })
    : kind === 'audio' ? el('audio', { src: a.url, controls: true, preload: 'none', attrs: { 'aria-label': label } })
      : kind === 'video' ? el('video', { src: a.url, controls: true, preload: 'none', attrs: { 'aria-label': label } })
        : null;
  return el('div', { className: 'attachment', attrs: { 'data-kind': kind } },
    shown, el('a', { href: a.url, download: '', className: 'attachment-link' }, t('fileOpen', label, a.mime ?? '')));
}

function fillThread(items) {
  const { id, thread, drafts } = threadOf;
  const bubbles = [];
  const waiting = [];
  for (const item of items) {
    if (item.kind === 'DRAFT') {
      if (item.state === 'PROPOSED') waiting.push(draftCard(id, item));
      continue;
    }
    if (item.kind === 'DRAFT_DECLINED') {
      // Not a message: a note that the AI worker left this one to a person, and why.
      bubbles.push(el('li', { className: 'item system', attrs: { 'data-kind': 'draft_declined' } },
        t('aiDeclined', t(`declined_${(item.reason ?? '').toLowerCase()}`)), el('small', {}, time(item.at))));
      continue;
    }
    const out = item.kind === 'REPLY' || item.kind === 'ECHO';
    const kind = item.kind.toLowerCase();
    bubbles.push(el('li', { className: `item ${out ? 'out' : 'in'} kind-${kind}`, attrs: { 'data-kind': kind } },
      item.text ?? '',
      (item.attachments ?? []).map(attachment),
      item.mediaId ? el('small', { className: 'on-post' }, t('onPost', item.mediaId)) : null,
      item.reaction ? el('small', { className: 'reaction' }, t('reacted', item.reaction)) : null,
      el('small', {}, time(item.at), item.delivery ? ` · ${item.delivery.toLowerCase()}` : '',
        item.error ? ` · ${item.error.explanation}` : '',
        threadOf.proofs.has(item.position) ? [' · ', el('a', { className: 'proof-link', href: `#/audit/${threadOf.proofs.get(item.position)}` }, t('proofLink'))] : null)));
  }
  // Live updates redraw the drafts; focus stays on the same draft's same button.
  const active = document.activeElement;
  const focusedDraft = drafts.contains(active) ? [active.closest('.draft')?.dataset.draft, active.className] : null;
  replace(thread, bubbles);
  // A person editing a draft keeps their words: the drafts wait until the edit ends.
  if (drafts.querySelector('.draft-edit:not([hidden])')) return;
  replace(drafts, waiting);
  if (focusedDraft) {
    const card = [...drafts.querySelectorAll('.draft')].find(d => d.dataset.draft === focusedDraft[0]);
    [...(card?.querySelectorAll('button') ?? [])].find(b => b.className === focusedDraft[1])?.focus();
  }
}

/// Moves the conversation in the inbox: open, pending, resolved, or snoozed for a while.
function statusControl(conversationId, current) {
  const select = el('select', { id: 'status-select' },
    ['OPEN', 'PENDING', 'RESOLVED', 'SNOOZED'].map(s => el('option', { value: s, selected: s === current }, t(s.toLowerCase()))));
  const hours = el('input', { id: 'snooze-hours', type: 'number', min: 1, max: 8784, value: 24, hidden: current !== 'SNOOZED' });
  const hoursLabel = el('label', { attrs: { for: 'snooze-hours' }, hidden: current !== 'SNOOZED' }, t('snoozeHours'));
  select.addEventListener('change', () => { hours.hidden = hoursLabel.hidden = select.value !== 'SNOOZED'; });
  const save = el('button', { id: 'status-save', type: 'button', className: 'secondary', onclick: async () => {
    const status = select.value;
    const until = status === 'SNOOZED' ? Date.now() + Number(hours.value) * 3600_000 : null;
    try {
      await gql('mutation($c: ID!, $s: InboxStatus!, $u: Int) { setConversationStatus(conversationId: $c, status: $s, snoozedUntilMs: $u) { position } }',
        { c: conversationId, s: status, u: until });
      say(t('statusSaved', t(status.toLowerCase())));
    } catch (e) { say(e.message); }
    await renderConversation(conversationId);
    document.getElementById('status-select')?.focus();
  } }, t('setStatus'));
  return el('div', { className: 'actions status-control' },
    el('label', { attrs: { for: 'status-select' } }, t('status')), select, hoursLabel, hours, save);
}

/// Article titles by id, for naming the knowledge a draft came from.
let articleTitles = null;
async function loadArticleTitles() {
  articleTitles = new Map();
  try {
    const { articles } = await gql('query { articles(includeRetired: true) { id title } }');
    articleTitles = new Map(articles.map(a => [a.id, a.title]));
  } catch (e) { /* drafts name their articles by id instead */ }
}

function draftCard(conversationId, item) {
  const draftId = item.draftId;
  const decide = async (mutation, done) => {
    try {
      await gql(mutation, { c: conversationId, d: draftId });
      say(done);
    } catch (e) {
      say(e.message);
    }
    await refreshThread(conversationId);
    // The decided draft's buttons are gone; focus goes back to the top, not to nowhere.
    if (!main.contains(document.activeElement)) focusHeading();
  };
  return el('div', { className: 'draft', attrs: { 'data-draft': draftId } },
    el('strong', {}, t('draftAwaiting')),
    // Who proposed it: the AI worker's model and confidence (names, not words to translate).
    item.proposedBy?.kind === 'AI_WORKER'
      ? el('small', { className: 'draft-author' }, `AI · ${item.proposedBy.model} · ${Math.round(item.proposedBy.confidence * 100)}%`,
        item.proposedBy.articleIds.length
          ? [' · ', t('fromArticles', item.proposedBy.articleIds.map(id => articleTitles?.get(id) ?? id.slice(0, 8)).join(', '))]
          : null)
      : null,
    el('p', { className: 'draft-text' }, item.text ?? ''),
    canWrite() ? draftEditor(conversationId, draftId, item.text ?? '') : null,
    canWrite() ? el('div', { className: 'actions' },
      el('button', { className: 'approve', type: 'button', onclick: () => decide(
        'mutation($c: ID!, $d: ID!) { approveDraft(conversationId: $c, draftId: $d) { position } }', t('approved')) }, t('approve')),
      el('button', { className: 'reject secondary', type: 'button', onclick: () => decide(
        'mutation($c: ID!, $d: ID!) { rejectDraft(conversationId: $c, draftId: $d) { position } }', t('rejected')) }, t('reject')))
      : null);
}

/// Edit before approving: the new text replaces the draft's, and approving sends that.
function draftEditor(conversationId, draftId, current) {
  const box = el('textarea', { className: 'draft-edit-text', maxLength: 4096, value: current, attrs: { 'aria-label': t('editDraft') } });
  const form = el('form', { className: 'draft-edit stack', hidden: true, onsubmit: async e => {
    e.preventDefault();
    try {
      await gql('mutation($c: ID!, $d: ID!, $t: String!) { editDraft(conversationId: $c, draftId: $d, text: $t) { position } }',
        { c: conversationId, d: draftId, t: box.value });
      say(t('draftEdited'));
      form.hidden = true;
    } catch (err) { say(err.message); }
    await refreshThread(conversationId);
  } },
  box, el('div', { className: 'actions' },
    el('button', { className: 'save-edit', type: 'submit' }, t('saveEdit')),
    el('button', { className: 'cancel-edit secondary', type: 'button', onclick: () => { form.hidden = true; toggle.hidden = false; toggle.focus(); } }, t('cancel'))));
  const toggle = el('button', { className: 'edit secondary', type: 'button', onclick: () => { form.hidden = false; toggle.hidden = true; box.focus(); } }, t('edit'));
  return el('div', {}, toggle, form);
}

/// Where a reply goes: under a public comment the customer's last word was, a private
/// reply (Instagram, Messenger) or a public one (Threads); otherwise the conversation.
function replyTarget(channel, items) {
  const last = [...items].reverse().find(i => i.kind === 'INBOUND' || i.kind === 'COMMENT');
  if (!last || last.kind !== 'COMMENT') return null;
  return channel === 'THREADS' ? { threadsReplyId: last.reference } : { commentId: last.reference };
}

function replyBox(conversationId, to) {
  const text = el('textarea', { id: 'reply-text', maxLength: 4096 });
  const check = el('p', { id: 'reply-check', className: 'check', attrs: { 'aria-live': 'polite' } });
  const send = el('button', { id: 'reply-send', type: 'submit', disabled: true }, t('send'));
  const template = templatePicker(conversationId, text, to);
  let asked = 0;
  const ask = debounce(async () => {
    const mine = ++asked;
    if (!text.value.trim()) { check.textContent = ''; send.disabled = true; return; }
    try {
      const { replyCheck } = await gql(CHECK, { c: conversationId, text: text.value, to });
      if (mine !== asked) return;
      check.className = `check ${replyCheck.allowed ? 'allowed' : 'refused'}`;
      const code = replyCheck.reason?.toLowerCase() ?? '';
      check.dataset.reason = code;
      check.textContent = replyCheck.allowed ? t('willSend')
        : `${t('wontSend')} ${reason(code) ?? replyCheck.explanation ?? ''}`;
      send.disabled = !replyCheck.allowed;
      template.show(code === 'template_required');
    } catch (e) {
      check.textContent = e.message;
    }
  }, 250);
  text.addEventListener('input', () => { send.disabled = true; check.textContent = t('checking'); ask(); });
  return el('form', { className: 'reply', attrs: { 'aria-label': t('reply') }, onsubmit: async e => {
    e.preventDefault();
    send.disabled = true;
    try {
      await gql('mutation($c: ID!, $t: String!, $to: ReplyTo) { reply(conversationId: $c, text: $t, to: $to) { position } }', { c: conversationId, t: text.value, to });
      text.value = '';
      check.textContent = '';
      say(t('sent'));
    } catch (err) {
      check.textContent = err.message;
    }
    refreshThread(conversationId);
  } },
  el('label', { attrs: { for: 'reply-text' } }, to ? t(to.commentId ? 'privateReply' : 'publicReply') : t('replyLabel')), text, check, send,
  template.node);
}

/// Outside WhatsApp's 24-hour window only an approved template may go out: name it (the
/// Partner's follow-up template is offered), give its parameters, and send that instead.
function templatePicker(conversationId, text, to) {
  const name = el('input', { id: 'template-name', maxLength: 512, autocomplete: 'off' });
  const lang = el('input', { id: 'template-language', maxLength: 16, autocomplete: 'off', size: 6 });
  const params = el('textarea', { id: 'template-parameters', maxLength: 4096 });
  const result = el('p', { id: 'template-result', attrs: { 'aria-live': 'polite' } });
  const sendTemplate = el('button', { id: 'template-send', type: 'button', onclick: async () => {
    if (!name.value.trim() || !lang.value.trim()) { result.textContent = t('templateNeedsName'); return; }
    sendTemplate.disabled = true;
    const parameters = params.value.split('\n').map(p => p.trim()).filter(p => p);
    try {
      await gql('mutation($c: ID!, $t: String!, $to: ReplyTo, $tpl: TemplateInput) { reply(conversationId: $c, text: $t, to: $to, template: $tpl) { position } }',
        { c: conversationId, t: text.value.trim() || t('templateText', name.value.trim()), to, tpl: { name: name.value.trim(), language: lang.value.trim(), parameters } });
      text.value = '';
      result.textContent = t('templateSent');
      box.hidden = true;
    } catch (err) {
      result.textContent = err.message;
    }
    sendTemplate.disabled = false;
    refreshThread(conversationId);
  } }, t('templateSend'));
  const box = el('fieldset', { id: 'template-picker', className: 'stack', hidden: true },
    el('legend', {}, t('templateTitle')),
    el('label', { attrs: { for: 'template-name' } }, t('templateName')), name,
    el('label', { attrs: { for: 'template-language' } }, t('templateLanguage')), lang,
    el('label', { attrs: { for: 'template-parameters' } }, t('templateParameters')), params,
    sendTemplate);
  let offered = false;
  const show = async yes => {
    box.hidden = !yes;
    if (!yes || offered) return;
    offered = true;
    try {
      const { partner } = await gql('query { partner { followUp { whatsappTemplate templateLanguage } } }');
      if (!name.value) name.value = partner.followUp?.whatsappTemplate ?? '';
      if (!lang.value) lang.value = partner.followUp?.templateLanguage ?? '';
    } catch (e) { /* the fields stay empty for the person to fill */ }
  };
  return { node: el('div', {}, box, result), show };
}

signOutButton.addEventListener('click', () => {
  signOut();
  state.me = null;
  state.partner = null;
  articleTitles = null;
  location.hash = '#/';
  say('');
  render();
});
langSelect.value = language();
setLanguage(language());
langSelect.addEventListener('change', () => { setLanguage(langSelect.value); render(); });
window.addEventListener('hashchange', navigate);
render();
