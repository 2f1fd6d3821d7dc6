// What every page of the console shares: who is signed in, the main area, the status
// line, and the table of routes each page module adds itself to.

export const state = { me: null, partner: null, filter: { status: '', channel: '', assignee: '', search: '' }, live: false };

export const main = document.getElementById('main');
const statusLine = document.getElementById('status');

export function say(text) { statusLine.textContent = text; }

/// An AUDITOR reads everything and changes nothing.
export const canWrite = () => state.me !== null && state.me.role !== 'AUDITOR';
export const isOwner = () => state.me !== null && state.me.role === 'OWNER';
/// Owners and auditors read the audit fields (tree heads, proofs, the audit trail).
export const canAudit = () => state.me !== null && state.me.role !== 'AGENT';

/// Moves focus to the main heading (made focusable without joining the tab order).
export function focusHeading() {
  const heading = main.querySelector('h1');
  if (!heading) return;
  if (!heading.hasAttribute('tabindex')) heading.tabIndex = -1;
  heading.focus();
}

/// `#/<path>` patterns and their renderers, tried in order; the inbox answers the rest.
const routes = [];

/// `pattern` is matched against the hash; its groups are decoded and passed to `render`.
export function route(pattern, render) { routes.push({ pattern, render }); }

export function resolve(hash) {
  for (const { pattern, render } of routes) {
    const m = pattern.exec(hash);
    if (m) return { render, args: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

/// Pages that show live data listen here: called with a conversation id whenever the
/// inboxChanges subscription reports one, whatever page is open.
const watchers = new Set();
export function onConversationChange(f) { watchers.add(f); return () => watchers.delete(f); }
export function conversationChanged(id) { for (const f of watchers) f(id); }
