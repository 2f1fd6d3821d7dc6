// The console's words in English and Indonesian; the browser's language picks, the
// switch in the bar overrides for this tab.
const words = {
  en: {
    language: 'Language', signIn: 'Sign in', signOut: 'Sign out', apiKey: 'API key',
    keyHint: 'Your key stays in this tab only; closing the tab signs you out.',
    badKey: 'That key was refused.', inbox: 'Inbox', status: 'Status', channel: 'Channel', all: 'All',
    open: 'Open', awaiting_approval: 'Awaiting approval', pending: 'Pending', snoozed: 'Snoozed', resolved: 'Resolved',
    whatsapp: 'WhatsApp', instagram: 'Instagram', messenger: 'Messenger', threads: 'Threads',
    unread: n => `${n} unread`, drafts: n => `${n} draft${n === 1 ? '' : 's'} waiting`,
    windowCloses: t => `window closes ${t}`, windowClosed: 'window closed', upset: 'upset customer',
    empty: 'No conversations.', notFound: 'Conversation not found.', back: '← Inbox',
    draftAwaiting: 'Draft awaiting approval', approve: 'Approve and send', reject: 'Reject',
    reply: 'Reply', send: 'Send', replyLabel: 'Your reply',
    privateReply: 'Your private reply to the comment (one only)', publicReply: 'Your public reply under the comment', checking: 'Checking whether this reply can go out…',
    willSend: 'This reply will go out now.', wontSend: 'This reply would not go out:',
    readOnly: 'Your key is read-only (auditor): you can read conversations but not reply or approve.',
    live: 'Live', offline: 'Live updates paused; reconnecting…', sent: 'Sent.', approved: 'Approved; sending.',
    rejected: 'Rejected.', loading: 'Loading…', role: r => `role ${r}`,
    reasons: {
      opted_out: 'the customer has opted out of messages on this channel.',
      contact_erased: 'the customer was erased.',
      no_customer_message: 'the customer has not written yet, so there is no window to reply in.',
      template_required: 'the 24-hour window is closed; WhatsApp needs an approved template.',
      automated_outside_window: 'the 24-hour window is closed for automated replies.',
      human_agent_window_closed: 'the 7-day human-agent window is closed.',
      window_closed: 'the messaging window is closed.',
      comment_already_answered: 'this Instagram comment already had its one private reply.',
      comment_reply_window_expired: 'private replies to a comment are allowed for 7 days only.',
      unknown_comment: 'the comment is not known on this conversation.',
      approval_required: 'the Partner requires approval first.',
      channel_disconnected: 'the channel is not connected.',
      channel_needs_reauthorisation: 'the channel needs re-authorisation (reconnect it in settings).',
      invalid_text: 'write a reply first (up to 4,096 characters).',
    },
  },
  id: {
    language: 'Bahasa', signIn: 'Masuk', signOut: 'Keluar', apiKey: 'Kunci API',
    keyHint: 'Kunci hanya disimpan di tab ini; menutup tab berarti keluar.',
    badKey: 'Kunci itu ditolak.', inbox: 'Kotak masuk', status: 'Status', channel: 'Kanal', all: 'Semua',
    open: 'Terbuka', awaiting_approval: 'Menunggu persetujuan', pending: 'Tertunda', snoozed: 'Ditunda', resolved: 'Selesai',
    whatsapp: 'WhatsApp', instagram: 'Instagram', messenger: 'Messenger', threads: 'Threads',
    unread: n => `${n} belum dibaca`, drafts: n => `${n} draf menunggu`,
    windowCloses: t => `jendela tutup ${t}`, windowClosed: 'jendela tertutup', upset: 'pelanggan kecewa',
    empty: 'Belum ada percakapan.', notFound: 'Percakapan tidak ditemukan.', back: '← Kotak masuk',
    draftAwaiting: 'Draf menunggu persetujuan', approve: 'Setujui dan kirim', reject: 'Tolak',
    reply: 'Balas', send: 'Kirim', replyLabel: 'Balasan Anda',
    privateReply: 'Balasan pribadi Anda untuk komentar (hanya satu kali)', publicReply: 'Balasan publik Anda di bawah komentar', checking: 'Memeriksa apakah balasan ini bisa terkirim…',
    willSend: 'Balasan ini akan langsung terkirim.', wontSend: 'Balasan ini tidak akan terkirim:',
    readOnly: 'Kunci Anda hanya-baca (auditor): Anda bisa membaca percakapan, tetapi tidak bisa membalas atau menyetujui.',
    live: 'Langsung', offline: 'Pembaruan langsung terhenti; menyambung ulang…', sent: 'Terkirim.',
    approved: 'Disetujui; sedang dikirim.', rejected: 'Ditolak.', loading: 'Memuat…', role: r => `peran ${r}`,
    reasons: {
      opted_out: 'pelanggan sudah berhenti berlangganan pesan di kanal ini.',
      contact_erased: 'data pelanggan sudah dihapus.',
      no_customer_message: 'pelanggan belum menulis, jadi belum ada jendela untuk membalas.',
      template_required: 'jendela 24 jam sudah tertutup; WhatsApp memerlukan templat yang disetujui.',
      automated_outside_window: 'jendela 24 jam sudah tertutup untuk balasan otomatis.',
      human_agent_window_closed: 'jendela agen manusia 7 hari sudah tertutup.',
      window_closed: 'jendela pesan sudah tertutup.',
      comment_already_answered: 'komentar Instagram ini sudah mendapat satu balasan pribadinya.',
      comment_reply_window_expired: 'balasan pribadi untuk komentar hanya boleh dalam 7 hari.',
      unknown_comment: 'komentar tidak dikenal di percakapan ini.',
      approval_required: 'Partner mewajibkan persetujuan terlebih dahulu.',
      channel_disconnected: 'kanal tidak terhubung.',
      channel_needs_reauthorisation: 'kanal perlu diotorisasi ulang (hubungkan lagi di pengaturan).',
      invalid_text: 'tulis balasan dulu (paling banyak 4.096 karakter).',
    },
  },
};

let lang = (navigator.language || 'en').toLowerCase().startsWith('id') ? 'id' : 'en';

/// A page module adds its own words (`{ en: {...}, id: {...} }`), so pages do not share
/// one table to edit.
export function extend(more) {
  for (const [l, table] of Object.entries(more)) {
    if (!words[l]) continue;
    const { reasons, ...rest } = table;
    Object.assign(words[l], rest);
    if (reasons) Object.assign(words[l].reasons, reasons);
  }
}

export function language() { return lang; }
export function setLanguage(l) { lang = words[l] ? l : 'en'; document.documentElement.lang = lang; }

/// The word for `key`; functions take their arguments.
export function t(key, ...args) {
  const w = words[lang][key] ?? words.en[key] ?? key;
  return typeof w === 'function' ? w(...args) : w;
}

export function reason(code) {
  return words[lang].reasons[code] ?? words.en.reasons[code] ?? null;
}

/// A server time (RFC 3339) in the reader's own zone and language.
export function time(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return formatter().format(d);
}

// One formatter per language: making one per row costs more than the row itself.
const formatters = new Map();
function formatter() {
  if (!formatters.has(lang)) {
    formatters.set(lang, new Intl.DateTimeFormat(lang === 'id' ? 'id-ID' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' }));
  }
  return formatters.get(lang);
}

// ISO 4217 exponents that are not 2; amounts arrive in minor units as decimal strings.
const EXPONENT = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, UGX: 0, BHD: 3, KWD: 3, OMR: 3, JOD: 3, TND: 3 };

/// An amount in minor units (a decimal string, possibly past 2^53) in the reader's language.
export function money(minor, currency) {
  if (minor === null || minor === undefined || !currency) return '—';
  const exp = EXPONENT[currency] ?? 2;
  let n;
  try { n = BigInt(minor); } catch { return `${minor} ${currency}`; }
  const scale = 10n ** BigInt(exp);
  const whole = n / scale;
  const frac = n % scale;
  // Whole amounts (most rupiah prices) are shown without ",00".
  const value = Number(whole) + (exp ? Number(frac) / Number(scale) : 0);
  try {
    return new Intl.NumberFormat(lang === 'id' ? 'id-ID' : 'en-GB', {
      style: 'currency', currency, minimumFractionDigits: frac === 0n ? 0 : exp, maximumFractionDigits: exp,
    }).format(value);
  } catch {
    return `${value} ${currency}`;
  }
}
