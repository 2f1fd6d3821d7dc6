// Settings (`#/settings`): the Partner's channels and their approval modes, the
// follow-up policy and the API keys. Everyone may read what their key may read; only
// an owner sees the controls, since every mutation here is owner-only on the server.
import { gql } from './api.js';
import { t, extend } from './i18n.js';
import { el, replace } from './views.js';
import { main, say, isOwner, route } from './page.js';

extend({
  en: {
    settings: 'Settings', channels: 'Channels', account: 'Account', approvalMode: 'Approval mode',
    defaultApproval: 'Default approval mode (channels without their own)', usesDefault: 'default',
    APPROVAL: 'A person approves each draft', AUTOPILOT: 'Autopilot (confident drafts go out)', OFF: 'Off (no drafts)',
    connected: 'Connected', disconnected: 'Disconnected', needs_reauthorisation: 'Needs re-authorisation',
    reauthorise: 'Re-authorise', disconnect: 'Disconnect', connect: 'Connect a channel', connectButton: 'Connect',
    accountId: 'Account id (phone number id, page id, Instagram or Threads account id)', displayName: 'Name shown',
    accessToken: 'Access token (stored sealed, never shown again)', saved: 'Saved.', noChannels: 'No channels connected.',
    followUp: 'Follow-up of open deals', delayHours: 'Hours of silence before a follow-up',
    template: 'WhatsApp template outside the 24-hour window', templateLanguage: 'Template language (e.g. id, en_US)',
    save: 'Save', notSet: 'not set',
    apiKeys: 'API keys', keyLabel: 'Label', keyRole: 'Role', createKey: 'Create key', revoke: 'Revoke',
    revoked: 'Key revoked; it is refused from now on.', noKeys: 'No keys.', thisKey: '(this tab)',
    OWNER: 'Owner', AGENT: 'Agent', AUDITOR: 'Auditor',
    newKeyTitle: 'New key: copy it now',
    newKeyOnce: 'This is the only time the key is shown. Laras keeps only its hash, so it cannot be shown again; if it is lost, revoke it and create another.',
    copy: 'Copy', copied: 'Copied.', storedIt: 'I have stored it',
    ownerOnly: 'Only an owner key can change settings.',
    confirmRevoke: 'Revoke this key? Anyone using it is refused from now on.',
  },
  id: {
    settings: 'Pengaturan', channels: 'Kanal', account: 'Akun', approvalMode: 'Mode persetujuan',
    defaultApproval: 'Mode persetujuan bawaan (kanal tanpa mode sendiri)', usesDefault: 'bawaan',
    APPROVAL: 'Setiap draf disetujui orang', AUTOPILOT: 'Autopilot (draf yang yakin langsung terkirim)', OFF: 'Mati (tanpa draf)',
    connected: 'Terhubung', disconnected: 'Terputus', needs_reauthorisation: 'Perlu otorisasi ulang',
    reauthorise: 'Otorisasi ulang', disconnect: 'Putuskan', connect: 'Hubungkan kanal', connectButton: 'Hubungkan',
    accountId: 'ID akun (ID nomor telepon, ID halaman, ID akun Instagram atau Threads)', displayName: 'Nama tampilan',
    accessToken: 'Token akses (disimpan tersegel, tidak ditampilkan lagi)', saved: 'Tersimpan.', noChannels: 'Belum ada kanal terhubung.',
    followUp: 'Tindak lanjut peluang terbuka', delayHours: 'Jam tanpa balasan sebelum tindak lanjut',
    template: 'Templat WhatsApp di luar jendela 24 jam', templateLanguage: 'Bahasa templat (mis. id, en_US)',
    save: 'Simpan', notSet: 'belum diatur',
    apiKeys: 'Kunci API', keyLabel: 'Label', keyRole: 'Peran', createKey: 'Buat kunci', revoke: 'Cabut',
    revoked: 'Kunci dicabut; mulai sekarang ditolak.', noKeys: 'Belum ada kunci.', thisKey: '(tab ini)',
    OWNER: 'Pemilik', AGENT: 'Agen', AUDITOR: 'Auditor',
    newKeyTitle: 'Kunci baru: salin sekarang',
    newKeyOnce: 'Hanya kali ini kunci ditampilkan. Laras hanya menyimpan hash-nya, jadi kunci tidak bisa ditampilkan lagi; jika hilang, cabut dan buat yang baru.',
    copy: 'Salin', copied: 'Tersalin.', storedIt: 'Sudah saya simpan',
    ownerOnly: 'Hanya kunci pemilik yang bisa mengubah pengaturan.',
    confirmRevoke: 'Cabut kunci ini? Siapa pun yang memakainya akan ditolak.',
  },
});

const CHANNELS = ['WHATSAPP', 'INSTAGRAM', 'MESSENGER', 'THREADS'];
const MODES = ['APPROVAL', 'AUTOPILOT', 'OFF'];
const ROLES = ['OWNER', 'AGENT', 'AUDITOR'];

const PARTNER = `query { me { keyId role } partner { approvalMode
  channels { channel accountId status approvalMode ownApprovalMode }
  followUp { delayHours whatsappTemplate templateLanguage } } }`;
const KEYS = 'query { apiKeys { id role label } }';

route(/^#\/settings$/, () => renderSettings());

/// A secret just created, kept only until the owner dismisses it or leaves the page.
let shownOnce = null;

async function renderSettings() {
  const heading = el('h1', { id: 'settings-title', tabIndex: -1 }, t('settings'));
  replace(main, heading, el('p', {}, t('loading')));
  let data;
  let keys = null;
  try {
    data = await gql(PARTNER);
    if (isOwner()) keys = (await gql(KEYS)).apiKeys;
  } catch (e) {
    say(e.message);
    return;
  }
  replace(main, heading,
    isOwner() ? null : el('p', { id: 'settings-read-only' }, t('ownerOnly')),
    channelsSection(data.partner),
    followUpSection(data.partner.followUp),
    isOwner() ? keysSection(keys, data.me.keyId) : null);
}

/// Runs a mutation, says the outcome and redraws the page from the server's state.
async function change(mutation, variables, done = t('saved')) {
  try {
    const data = await gql(mutation, variables);
    say(done);
    await renderSettings();
    return data;
  } catch (e) {
    say(e.message);
    return null;
  }
}

function modeSelect(id, label, value, onChange) {
  const select = el('select', { id, onchange: () => onChange(select.value) },
    MODES.map(m => el('option', { value: m, selected: m === value }, t(m))));
  return el('label', { attrs: { for: id } }, el('span', { className: 'sr' }, label), select);
}

function channelsSection(partner) {
  const owner = isOwner();
  const rows = partner.channels.map(c => {
    const kind = c.channel.toLowerCase();
    const status = c.status.toLowerCase();
    return el('tr', { className: 'channel-row', attrs: { 'data-channel': c.channel } },
      el('th', { attrs: { scope: 'row' } }, t(kind)),
      el('td', { className: 'account' }, c.accountId),
      el('td', { className: `channel-status ${status}`, attrs: { 'data-status': status } }, t(status)),
      el('td', { className: 'mode', attrs: { 'data-mode': c.approvalMode } },
        owner
          ? modeSelect(`mode-${kind}`, `${t('approvalMode')}: ${t(kind)}`, c.approvalMode,
            mode => change('mutation($m: ApprovalMode!, $c: Channel!) { setApprovalMode(mode: $m, channel: $c) { position } }', { m: mode, c: c.channel }))
          : [t(c.approvalMode), c.ownApprovalMode ? '' : ` (${t('usesDefault')})`]),
      owner ? el('td', { className: 'actions' },
        el('button', { type: 'button', className: 'secondary reauthorise', onclick: () => openConnect(c.channel, c.accountId) }, t('reauthorise')),
        status === 'disconnected' ? null : el('button', { type: 'button', className: 'secondary disconnect', onclick: () => change(
          'mutation($c: Channel!) { disconnectChannel(channel: $c) { position } }', { c: c.channel }) }, t('disconnect'))) : null);
  });
  const table = rows.length
    ? el('table', { id: 'channels', className: 'table' },
      el('thead', {}, el('tr', {}, el('th', { attrs: { scope: 'col' } }, t('channel')), el('th', { attrs: { scope: 'col' } }, t('account')),
        el('th', { attrs: { scope: 'col' } }, t('status')), el('th', { attrs: { scope: 'col' } }, t('approvalMode')),
        owner ? el('th', { attrs: { scope: 'col' } }, el('span', { className: 'sr' }, t('channels'))) : null)),
      el('tbody', {}, rows))
    : el('p', {}, t('noChannels'));
  return el('section', { className: 'settings', attrs: { 'aria-labelledby': 'channels-title' } },
    el('h2', { id: 'channels-title' }, t('channels')),
    table,
    el('div', { className: 'field' },
      owner
        ? modeSelect('mode-default', t('defaultApproval'), partner.approvalMode,
          mode => change('mutation($m: ApprovalMode!) { setApprovalMode(mode: $m) { position } }', { m: mode }))
        : null,
      owner ? el('span', { attrs: { 'aria-hidden': 'true' } }, t('defaultApproval')) : el('p', { id: 'mode-default-text' }, t('defaultApproval'), ': ', t(partner.approvalMode))),
    owner ? connectForm() : null);
}

let connectFields = null;

function openConnect(channel, accountId) {
  if (!connectFields) return;
  connectFields.channel.value = channel;
  connectFields.account.value = accountId;
  connectFields.details.open = true;
  connectFields.token.focus();
}

function connectForm() {
  const channel = el('select', { id: 'connect-channel' }, CHANNELS.map(c => el('option', { value: c }, t(c.toLowerCase()))));
  const account = el('input', { id: 'connect-account', required: true, autocomplete: 'off', spellcheck: false });
  const name = el('input', { id: 'connect-name', autocomplete: 'off' });
  const token = el('input', { id: 'connect-token', type: 'password', required: true, autocomplete: 'off', spellcheck: false });
  const form = el('form', { id: 'connect-form', className: 'stack', onsubmit: async e => {
    e.preventDefault();
    const variables = { c: channel.value, a: account.value.trim(), n: name.value.trim(), k: token.value.trim() };
    token.value = '';
    await change('mutation($c: Channel!, $a: String!, $n: String!, $k: String!) { connectChannel(channel: $c, accountId: $a, displayName: $n, accessToken: $k) { position } }', variables);
  } },
  el('label', { attrs: { for: 'connect-channel' } }, t('channel')), channel,
  el('label', { attrs: { for: 'connect-account' } }, t('accountId')), account,
  el('label', { attrs: { for: 'connect-name' } }, t('displayName')), name,
  el('label', { attrs: { for: 'connect-token' } }, t('accessToken')), token,
  el('button', { type: 'submit', id: 'connect-button' }, t('connectButton')));
  const details = el('details', { id: 'connect' }, el('summary', {}, t('connect')), form);
  connectFields = { channel, account, token, details };
  return details;
}

function followUpSection(policy) {
  const owner = isOwner();
  const title = el('h2', { id: 'follow-up-title' }, t('followUp'));
  if (!owner) {
    return el('section', { className: 'settings', attrs: { 'aria-labelledby': 'follow-up-title' } }, title,
      el('dl', { id: 'follow-up' },
        el('dt', {}, t('delayHours')), el('dd', {}, policy.delayHours === null ? t('notSet') : String(policy.delayHours)),
        el('dt', {}, t('template')), el('dd', {}, policy.whatsappTemplate ?? t('notSet')),
        el('dt', {}, t('templateLanguage')), el('dd', {}, policy.templateLanguage ?? t('notSet'))));
  }
  const hours = el('input', { id: 'follow-up-hours', type: 'number', min: 1, max: 720, required: true, value: policy.delayHours ?? 24 });
  const template = el('input', { id: 'follow-up-template', autocomplete: 'off', value: policy.whatsappTemplate ?? '' });
  const language = el('input', { id: 'follow-up-language', autocomplete: 'off', value: policy.templateLanguage ?? '' });
  return el('section', { className: 'settings', attrs: { 'aria-labelledby': 'follow-up-title' } }, title,
    el('form', { id: 'follow-up', className: 'stack', onsubmit: async e => {
      e.preventDefault();
      const both = template.value.trim() && language.value.trim();
      await change('mutation($h: Int!, $t: String, $l: String) { setFollowUpPolicy(delayHours: $h, whatsappTemplate: $t, templateLanguage: $l) { position } }',
        { h: Number(hours.value), t: both ? template.value.trim() : null, l: both ? language.value.trim() : null });
    } },
    el('label', { attrs: { for: 'follow-up-hours' } }, t('delayHours')), hours,
    el('label', { attrs: { for: 'follow-up-template' } }, t('template')), template,
    el('label', { attrs: { for: 'follow-up-language' } }, t('templateLanguage')), language,
    el('button', { type: 'submit', id: 'follow-up-save' }, t('save'))));
}

function keysSection(keys, myKeyId) {
  const label = el('input', { id: 'key-label', autocomplete: 'off', maxLength: 100 });
  const role = el('select', { id: 'key-role' }, ROLES.map(r => el('option', { value: r, selected: r === 'AGENT' }, t(r))));
  const list = keys.length
    ? el('table', { id: 'api-keys', className: 'table' },
      el('thead', {}, el('tr', {}, el('th', { attrs: { scope: 'col' } }, 'ID'), el('th', { attrs: { scope: 'col' } }, t('keyRole')),
        el('th', { attrs: { scope: 'col' } }, t('keyLabel')), el('th', { attrs: { scope: 'col' } }, el('span', { className: 'sr' }, t('revoke'))))),
      el('tbody', {}, keys.map(k => el('tr', { className: 'api-key', attrs: { 'data-key': k.id } },
        el('td', { className: 'mono' }, k.id, k.id === myKeyId ? ` ${t('thisKey')}` : ''),
        el('td', {}, t(k.role)),
        el('td', {}, k.label),
        el('td', {}, k.id === myKeyId ? null : el('button', { type: 'button', className: 'secondary revoke',
          attrs: { 'aria-label': `${t('revoke')} ${k.id}` },
          onclick: async () => {
            if (!window.confirm(t('confirmRevoke'))) return;
            await change('mutation($k: String!) { revokeApiKey(keyId: $k) }', { k: k.id }, t('revoked'));
          } }, t('revoke')))))))
    : el('p', {}, t('noKeys'));
  const form = el('form', { id: 'key-form', className: 'inline', onsubmit: async e => {
    e.preventDefault();
    try {
      const { createApiKey } = await gql('mutation($r: Role!, $l: String!) { createApiKey(role: $r, label: $l) { id role key } }',
        { r: role.value, l: label.value.trim() });
      shownOnce = createApiKey;
      await renderSettings();
    } catch (err) {
      say(err.message);
    }
  } },
  el('label', { attrs: { for: 'key-role' } }, t('keyRole'), role),
  el('label', { attrs: { for: 'key-label' } }, t('keyLabel'), label),
  el('button', { type: 'submit', id: 'key-create' }, t('createKey')));
  const secret = shownOnce ? newKeyBox(shownOnce) : null;
  // Shown once: a redraw (or coming back to the page) no longer has it.
  shownOnce = null;
  return el('section', { className: 'settings', attrs: { 'aria-labelledby': 'keys-title' } },
    el('h2', { id: 'keys-title', tabIndex: -1 }, t('apiKeys')), secret, list, form);
}

function newKeyBox(created) {
  const value = el('input', { id: 'new-key', readOnly: true, value: created.key, className: 'mono', spellcheck: false,
    attrs: { 'aria-describedby': 'new-key-once', 'aria-labelledby': 'new-key-title' } });
  const box = el('div', { id: 'new-key-box', className: 'once', attrs: { role: 'alert', 'data-key-id': created.id } },
    el('strong', { id: 'new-key-title' }, t('newKeyTitle'), ' (', t(created.role), ')'),
    el('p', { id: 'new-key-once' }, t('newKeyOnce')),
    value,
    el('div', { className: 'actions' },
      el('button', { type: 'button', id: 'new-key-copy', onclick: async () => {
        value.select();
        try { await navigator.clipboard.writeText(created.key); say(t('copied')); } catch { say(''); }
      } }, t('copy')),
      el('button', { type: 'button', id: 'new-key-done', className: 'secondary', onclick: () => {
        // The secret leaves the page: only the key's id stays in the list.
        value.value = '';
        box.remove();
        document.getElementById('keys-title')?.focus();
      } }, t('storedIt'))));
  requestAnimationFrame(() => value.select());
  return box;
}
