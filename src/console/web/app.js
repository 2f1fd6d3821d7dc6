// The console: sign-in, the inbox and one conversation, routed by the address's hash
// (`#/c/<conversationId>`), live through the inboxChanges subscription.
import { gql, live, signIn, signOut, signedIn } from './api.js';
import { t, setLanguage, language, time, reason } from './i18n.js';
import { el, replace, debounce } from './views.js';
import { state, main, say, canWrite, route as addRoute, resolve, conversationChanged } from './page.js';
// Each page module adds its routes to page.js when imported; list new ones here.
import './contact.js';
import './pipeline.js';
import './segments.js';
import './knowledge.js';

const who = document.getElementById('who');
const signOutButton = document.getElementById('signout');
const langSelect = document.getElementById('lang');
const nav = document.getElementById('nav');

const ME = 'query { me { role partnerId keyId } partner { name } }';
const INBOX = `query Inbox($filter: InboxFilter!, $after: String) {
  inbox(filter: $filter, first: 200, after: $after) {
    edges { node { conversationId contactId contactName channel status lastMessage lastMessageAt lastDirection
                   unread windowClosesAt upset draftsWaiting assignee } }
    pageInfo { hasNextPage endCursor } } }`;
const CONVERSATION = `query Conversation($id: ID!) { conversation(id: $id) {
  summary { conversationId contactId contactName channel status windowClosesAt upset }
  items { position kind reference text at actor
    ... on Draft { draftId state proposedBy { kind model confidence } }
    ... on Reply { delivery error { explanation } } } } }`;
const CHECK = `query Check($c: ID!, $text: String!, $to: ReplyTo) { replyCheck(conversationId: $c, text: $text, to: $to) { allowed reason explanation } }`;
/// At most this many conversations are shown; past it the filters narrow the list.
const INBOX_CAP = 5000;

addRoute(/^#\/c\/([^/]+)$/, id => renderConversation(id));

function route() {
  const m = /^#\/c\/([^/]+)$/.exec(location.hash);
  if (m) return { page: 'conversation', id: decodeURIComponent(m[1]) };
  return resolve(location.hash) ? { page: 'other' } : { page: 'inbox' };
}

/// The pages in the bar, in order: the hash they open and the word (i18n key) naming them.
const PAGES = [
  ['#/', 'inbox'],
  ['#/pipeline', 'pipeline'],
  ['#/segments', 'segments'],
  ['#/knowledge', 'knowledge'],
];

function renderNav() {
  nav.hidden = !signedIn();
  const here = location.hash || '#/';
  replace(nav, PAGES.map(([href, word]) => el('a', { href, attrs: { 'aria-current': here === href ? 'page' : null } }, t(word))));
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
  live('subscription { inboxChanges { conversationId } }', data => changed(data.inboxChanges.conversationId), up => {
    state.live = up;
    say(up ? t('live') : t('offline'));
  });
  render();
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
      el('h1', {}, t('inbox')),
      el('div', { className: 'filters' },
        filterSelect('filter-status', t('status'), 'status', statuses),
        filterSelect('filter-channel', t('channel'), 'channel', channels)),
      inboxList);
  }
  let rows;
  try {
    rows = await loadInbox();
  } catch (e) {
    say(e.message);
    return;
  }
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
          c.upset ? el('span', { className: 'upset' }, t('upset')) : null)),
      el('a', { className: 'to-contact', href: `#/contact/${encodeURIComponent(c.contactId)}`,
        attrs: { 'aria-label': t('contactOf', c.contactName ?? '—') } }, t('contact')));
  });
  replace(list, items.length ? items : el('li', { className: 'empty' }, t('empty')));
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
    data = await gql(CONVERSATION, { id });
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
  threadOf = { id, thread, drafts };
  replace(main,
    el('a', { href: '#/' }, t('back')),
    el('h1', { id: 'contact-name' }, el('a', { href: `#/contact/${encodeURIComponent(c.summary.contactId)}`,
      attrs: { title: t('contactOf', c.summary.contactName ?? '—') } }, c.summary.contactName ?? '—')),
    el('p', { className: 'meta' }, t(c.summary.channel.toLowerCase()), ' · ', t(c.summary.status.toLowerCase()),
      c.summary.windowClosesAt ? [' · ', t('windowCloses', time(c.summary.windowClosesAt))] : null),
    thread, drafts,
    canWrite() ? replyBox(id, replyTarget(c.summary.channel, c.items)) : el('p', { id: 'read-only' }, t('readOnly')));
  fillThread(c.items);
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

function fillThread(items) {
  const { id, thread, drafts } = threadOf;
  const bubbles = [];
  const waiting = [];
  for (const item of items) {
    if (item.kind === 'DRAFT') {
      if (item.state === 'PROPOSED') waiting.push(draftCard(id, item));
      continue;
    }
    const out = item.kind === 'REPLY' || item.kind === 'ECHO';
    const kind = item.kind.toLowerCase();
    bubbles.push(el('li', { className: `item ${out ? 'out' : 'in'} kind-${kind}`, attrs: { 'data-kind': kind } },
      item.text ?? '',
      el('small', {}, time(item.at), item.delivery ? ` · ${item.delivery.toLowerCase()}` : '',
        item.error ? ` · ${item.error.explanation}` : '')));
  }
  replace(thread, bubbles);
  replace(drafts, waiting);
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
    refreshThread(conversationId);
  };
  return el('div', { className: 'draft', attrs: { 'data-draft': draftId } },
    el('strong', {}, t('draftAwaiting')),
    // Who proposed it: the AI worker's model and confidence (names, not words to translate).
    item.proposedBy?.kind === 'AI_WORKER'
      ? el('small', { className: 'draft-author' }, `AI · ${item.proposedBy.model} · ${Math.round(item.proposedBy.confidence * 100)}%`)
      : null,
    el('p', { className: 'draft-text' }, item.text ?? ''),
    canWrite() ? el('div', { className: 'actions' },
      el('button', { className: 'approve', type: 'button', onclick: () => decide(
        'mutation($c: ID!, $d: ID!) { approveDraft(conversationId: $c, draftId: $d) { position } }', t('approved')) }, t('approve')),
      el('button', { className: 'reject secondary', type: 'button', onclick: () => decide(
        'mutation($c: ID!, $d: ID!) { rejectDraft(conversationId: $c, draftId: $d) { position } }', t('rejected')) }, t('reject')))
      : null);
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
  el('label', { attrs: { for: 'reply-text' } }, to ? t(to.commentId ? 'privateReply' : 'publicReply') : t('replyLabel')), text, check, send);
}

signOutButton.addEventListener('click', () => {
  signOut();
  state.me = null;
  state.partner = null;
  location.hash = '#/';
  say('');
  render();
});
langSelect.value = language();
setLanguage(language());
langSelect.addEventListener('change', () => { setLanguage(langSelect.value); render(); });
window.addEventListener('hashchange', render);
render();
