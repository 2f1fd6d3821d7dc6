// Audit (`#/audit`, `#/audit/<event id or leaf number>`): the latest signed tree head
// with its witnesses' cosignatures, and any event's inclusion proof checked here, in
// the browser, with WebCrypto: the leaf and node hashes of RFC 9162 as
// docs/audit-format.md §7 defines them, and Ed25519 over the exact bytes of §7.2. The
// server's answers are inputs to the check, never its result.
import { gql } from './api.js';
import { t, extend, time } from './i18n.js';
import { el, replace } from './views.js';
import { state, main, say, route } from './page.js';
import { fromHex, toHex, leafOf, rootFromPath, treeHeadBytes, keyIdOf, ed25519 } from './proof.js';

extend({
  en: {
    audit: 'Audit', treeHead: 'Latest signed tree head', noHead: 'No tree head has been signed yet.',
    treeSize: 'Events in the tree', rootHash: 'Root hash', signedAt: 'Signed at', keyId: 'Key id', signature: 'Signature',
    publicKey: 'Public key (Ed25519, hex)',
    keyNote: 'This key comes from this server, which proves integrity, not origin: compare it with the key you obtained out of band (laras keys, or from the Partner), or paste that key here.',
    freshHead: 'Sign a new head now', cosignatures: 'Witness cosignatures', noCosignatures: 'No witness has cosigned this tree state.',
    cosignedAt: 'cosigned', cosignatureValid: 'signature valid', cosignatureInvalid: 'signature INVALID',
    eventProof: 'Check that an event is in the log',
    eventInput: 'Event: its number in the log (leaf index, from 0) or its event id', getProof: 'Get the proof',
    event: 'Event', stream: 'Stream', leafIndex: 'Leaf index',
    leafHash: 'Leaf hash, SHA-256(0x00 ‖ SHA-256(envelope)), hex', path: 'Audit path, leaf to root, one hash per line',
    check: 'Check in this browser', valid: 'Valid: the event is in the log the signed head commits to.',
    invalid: 'Invalid:', stepFailed: 'failed', stepOk: 'ok',
    stepKey: 'The public key has the head\'s key id', stepBytes: 'The signed bytes are the head\'s fields (audit format §7.2)',
    stepHeadSig: 'The head\'s Ed25519 signature verifies', stepLeaf: 'The envelope\'s canonical bytes hash to the leaf hash',
    stepRoot: 'The leaf and the path give the head\'s root (RFC 9162 §2.1.3.2)', stepEnvelopeSig: 'The envelope\'s own signature verifies',
    stepPartner: 'The envelope is this Partner\'s',
    noEd25519: 'This browser cannot check Ed25519 signatures (WebCrypto).', notInLog: 'No such event in this Partner\'s log.',
    offline: 'Check it offline', offlineIntro: 'An auditor checks the whole log without trusting this page or this server:',
    cmdKeys: 'On the server: the signing keys, to compare with the one above', cmdExport: 'On the server: export this Partner\'s audit bundle',
    cmdVerify: 'Anywhere: verify the bundle against the key and the head you saved', cmdLog: 'On the server: verify the whole log (every Partner)',
    saveHead: 'Save this head as head.json', proofLink: 'proof',
  },
  id: {
    audit: 'Audit', treeHead: 'Kepala pohon bertanda tangan terbaru', noHead: 'Belum ada kepala pohon yang ditandatangani.',
    treeSize: 'Peristiwa dalam pohon', rootHash: 'Hash akar', signedAt: 'Ditandatangani', keyId: 'ID kunci', signature: 'Tanda tangan',
    publicKey: 'Kunci publik (Ed25519, hex)',
    keyNote: 'Kunci ini berasal dari server ini, jadi membuktikan keutuhan, bukan asal: bandingkan dengan kunci yang Anda peroleh dari jalur lain (laras keys, atau dari Partner), atau tempel kunci itu di sini.',
    freshHead: 'Tandatangani kepala baru sekarang', cosignatures: 'Tanda tangan saksi', noCosignatures: 'Belum ada saksi yang menandatangani keadaan pohon ini.',
    cosignedAt: 'ditandatangani', cosignatureValid: 'tanda tangan sah', cosignatureInvalid: 'tanda tangan TIDAK SAH',
    eventProof: 'Periksa bahwa suatu peristiwa ada di log',
    eventInput: 'Peristiwa: nomornya di log (indeks daun, dari 0) atau ID peristiwanya', getProof: 'Ambil bukti',
    event: 'Peristiwa', stream: 'Aliran', leafIndex: 'Indeks daun',
    leafHash: 'Hash daun, SHA-256(0x00 ‖ SHA-256(amplop)), hex', path: 'Jalur audit, dari daun ke akar, satu hash per baris',
    check: 'Periksa di peramban ini', valid: 'Sah: peristiwa ini ada di log yang dijamin kepala bertanda tangan.',
    invalid: 'Tidak sah:', stepFailed: 'gagal', stepOk: 'ok',
    stepKey: 'Kunci publik memiliki ID kunci kepala', stepBytes: 'Byte yang ditandatangani adalah isian kepala (format audit §7.2)',
    stepHeadSig: 'Tanda tangan Ed25519 kepala sah', stepLeaf: 'Byte kanonik amplop menghasilkan hash daun',
    stepRoot: 'Daun dan jalur menghasilkan akar kepala (RFC 9162 §2.1.3.2)', stepEnvelopeSig: 'Tanda tangan amplop itu sendiri sah',
    stepPartner: 'Amplop ini milik Partner ini',
    noEd25519: 'Peramban ini tidak bisa memeriksa tanda tangan Ed25519 (WebCrypto).', notInLog: 'Tidak ada peristiwa itu di log Partner ini.',
    offline: 'Periksa secara luring', offlineIntro: 'Auditor memeriksa seluruh log tanpa memercayai halaman atau server ini:',
    cmdKeys: 'Di server: kunci penanda tangan, untuk dibandingkan dengan yang di atas', cmdExport: 'Di server: ekspor bundel audit Partner ini',
    cmdVerify: 'Di mana saja: verifikasi bundel dengan kunci dan kepala yang Anda simpan', cmdLog: 'Di server: verifikasi seluruh log (semua Partner)',
    saveHead: 'Simpan kepala ini sebagai head.json', proofLink: 'bukti',
  },
});

const HEAD = `query($fresh: Boolean!) { treeHead(fresh: $fresh) { treeSize rootHash timestamp timestampMs keyId signature signedBytes checkpoint
  cosignatures { witnessName witnessKey treeSize rootHash timestamp signature } } signingKeys { keyId publicKey validFromMs validUntilMs } }`;
const ENVELOPE = 'query($from: Int!) { envelopes(from: $from, first: 1) { leafIndex position eventId streamId eventType recordedAt keyId signature canonicalBytes } }';
const PROOF = 'query($e: ID!, $n: Int!) { inclusionProof(eventId: $e, treeSize: $n) { leafIndex treeSize leafHash path } }';

route(/^#\/audit$/, () => renderAudit(null));
route(/^#\/audit\/([^/]+)$/, which => renderAudit(which));

// ---- the page -----------------------------------------------------------------------

let view = null;

async function renderAudit(which) {
  const heading = el('h1', { id: 'audit-title', tabIndex: -1 }, t('audit'));
  replace(main, heading, el('p', {}, t('loading')));
  let data;
  try {
    data = await gql(HEAD, { fresh: false });
  } catch (e) {
    say(e.message);
    return;
  }
  const headBox = el('section', { id: 'head', attrs: { 'aria-labelledby': 'head-title' } });
  const proofBox = el('section', { id: 'proof', attrs: { 'aria-labelledby': 'proof-title' } });
  view = { head: data.treeHead, keys: data.signingKeys, headBox, proofBox, trustKey: null };
  replace(main, heading, headBox, proofBox, offlineSection(data.signingKeys, data.treeHead));
  showHead();
  showProofForm(which ?? '');
  if (which) await lookUp(which);
}

function keyFor(keyId) { return view.keys.find(k => k.keyId === keyId) ?? null; }

function showHead() {
  const h = view.head;
  const title = el('h2', { id: 'head-title' }, t('treeHead'));
  const fresh = el('button', { type: 'button', id: 'fresh-head', className: 'secondary', onclick: async () => {
    try {
      const data = await gql(HEAD, { fresh: true });
      view.head = data.treeHead;
      view.keys = data.signingKeys;
      showHead();
    } catch (e) { say(e.message); }
  } }, t('freshHead'));
  if (!h) { replace(view.headBox, title, el('p', { id: 'no-head' }, t('noHead')), fresh); return; }
  const key = keyFor(h.keyId);
  const trust = el('input', { id: 'trust-key', className: 'mono', spellcheck: false, autocomplete: 'off',
    value: view.trustKey ?? key?.publicKey ?? '', attrs: { 'aria-describedby': 'trust-key-note' },
    oninput: () => { view.trustKey = trust.value.trim(); } });
  const cosigs = el('ul', { id: 'cosignatures', className: 'plain' });
  replace(view.headBox, title,
    el('dl', { id: 'head-fields', className: 'fields' },
      el('dt', {}, t('treeSize')), el('dd', { id: 'head-size' }, String(h.treeSize)),
      el('dt', {}, t('rootHash')), el('dd', { id: 'head-root', className: 'mono' }, h.rootHash),
      el('dt', {}, t('signedAt')), el('dd', {}, el('time', { attrs: { datetime: h.timestamp } }, time(h.timestamp))),
      el('dt', {}, t('keyId')), el('dd', { id: 'head-key-id', className: 'mono' }, h.keyId),
      el('dt', {}, t('signature')), el('dd', { id: 'head-signature', className: 'mono' }, h.signature)),
    el('label', { attrs: { for: 'trust-key' } }, t('publicKey')), trust,
    el('p', { id: 'trust-key-note', className: 'note' }, t('keyNote')),
    el('div', { className: 'actions' }, fresh, saveHeadLink(h)),
    el('h3', {}, t('cosignatures')), cosigs);
  if (!h.cosignatures.length) replace(cosigs, el('li', { id: 'no-cosignatures' }, t('noCosignatures')));
  else showCosignatures(h, cosigs);
}

/// The head as `laras audit verify --known-head` reads it (a GraphQL TreeHead).
function saveHeadLink(h) {
  const known = { treeSize: h.treeSize, rootHash: h.rootHash, timestampMs: h.timestampMs, keyId: h.keyId, signature: h.signature };
  const url = URL.createObjectURL(new Blob([JSON.stringify(known, null, 2)], { type: 'application/json' }));
  return el('a', { href: url, download: 'head.json', id: 'save-head' }, t('saveHead'));
}

/// §8: each cosignature is over "cosignature/v1\ntime <ts>\n" ‖ the checkpoint body.
async function showCosignatures(h, list) {
  const items = [];
  for (const c of h.cosignatures) {
    let ok = false;
    try {
      const message = new TextEncoder().encode(`cosignature/v1\ntime ${c.timestamp}\n${h.checkpoint}`);
      ok = await ed25519(fromHex(c.witnessKey), fromHex(c.signature), message);
    } catch { ok = false; }
    items.push(el('li', { className: `cosignature ${ok ? 'ok' : 'bad'}`, attrs: { 'data-valid': String(ok) } },
      el('strong', {}, c.witnessName), ' · ', el('span', { className: 'mono' }, c.witnessKey.slice(0, 16), '…'), ' · ',
      t('cosignedAt'), ' ', time(new Date(c.timestamp * 1000).toISOString()), ' · ',
      ok ? t('cosignatureValid') : t('cosignatureInvalid')));
  }
  replace(list, items);
}

function showProofForm(value) {
  const input = el('input', { id: 'proof-event', value, autocomplete: 'off', spellcheck: false, required: true });
  const form = el('form', { id: 'proof-form', className: 'inline', onsubmit: async e => {
    e.preventDefault();
    const which = input.value.trim();
    if (!which) return;
    // The address names the event, so a check can be linked to and reloaded.
    history.replaceState(null, '', `#/audit/${encodeURIComponent(which)}`);
    await lookUp(which);
  } },
  el('label', { attrs: { for: 'proof-event' } }, t('eventInput')), input,
  el('button', { type: 'submit', id: 'proof-get' }, t('getProof')));
  view.proofForm = form;
  view.proofDetails = el('div', { id: 'proof-details' });
  replace(view.proofBox, el('h2', { id: 'proof-title' }, t('eventProof')), form, view.proofDetails);
}

async function envelopeAt(leafIndex) {
  const { envelopes } = await gql(ENVELOPE, { from: leafIndex });
  const found = envelopes[0];
  return found && found.leafIndex === leafIndex ? found : null;
}

/// The event (by leaf number or id), its envelope and its proof in a head that covers it.
async function lookUp(which) {
  replace(view.proofDetails, el('p', {}, t('loading')));
  try {
    let envelope;
    let proof;
    if (/^\d+$/.test(which)) {
      envelope = await envelopeAt(Number(which));
      if (!envelope) { notInLog(); return; }
      await coverLeaf(envelope.leafIndex);
      proof = (await gql(PROOF, { e: envelope.eventId, n: view.head.treeSize })).inclusionProof;
    } else {
      try {
        proof = (await gql(PROOF, { e: which, n: view.head?.treeSize ?? 0 })).inclusionProof;
      } catch (e) {
        if (e.code !== 'BAD_INPUT') throw e;
        // The event may be newer than the latest head: sign one that covers it.
        await coverLeaf(Number.MAX_SAFE_INTEGER);
        proof = (await gql(PROOF, { e: which, n: view.head.treeSize })).inclusionProof;
      }
      envelope = await envelopeAt(proof.leafIndex);
      if (!envelope) { notInLog(); return; }
    }
    showProof(envelope, proof);
  } catch (e) {
    if (e.code === 'NOT_FOUND' || e.code === 'BAD_INPUT') notInLog();
    else say(e.message);
  }
}

function notInLog() { replace(view.proofDetails, el('p', { id: 'proof-missing', attrs: { role: 'alert' } }, t('notInLog'))); }

async function coverLeaf(leafIndex) {
  if (view.head && leafIndex < view.head.treeSize) return;
  const data = await gql(HEAD, { fresh: true });
  view.head = data.treeHead;
  view.keys = data.signingKeys;
  showHead();
}

function showProof(envelope, proof) {
  const leaf = el('input', { id: 'proof-leaf', className: 'mono', value: proof.leafHash, spellcheck: false, autocomplete: 'off' });
  const path = el('textarea', { id: 'proof-path', className: 'mono', rows: Math.max(2, proof.path.length), spellcheck: false,
    value: proof.path.join('\n') });
  const result = el('div', { id: 'proof-result', attrs: { 'aria-live': 'polite' } });
  const check = el('button', { type: 'button', id: 'proof-check', onclick: () => runCheck(envelope, proof, leaf.value, path.value, result) }, t('check'));
  replace(view.proofDetails,
    el('dl', { className: 'fields' },
      el('dt', {}, t('event')), el('dd', { id: 'proof-event-id', className: 'mono' }, envelope.eventId, ' · ', envelope.eventType),
      el('dt', {}, t('stream')), el('dd', { className: 'mono' }, envelope.streamId),
      el('dt', {}, t('leafIndex')), el('dd', { id: 'proof-leaf-index' }, String(proof.leafIndex), ' / ', String(proof.treeSize)),
      el('dt', {}, t('signedAt')), el('dd', {}, time(envelope.recordedAt))),
    el('label', { attrs: { for: 'proof-leaf' } }, t('leafHash')), leaf,
    el('label', { attrs: { for: 'proof-path' } }, t('path')), path,
    el('div', { className: 'actions' }, check),
    result);
  runCheck(envelope, proof, leaf.value, path.value, result);
}

/// Every step, each from bytes this page holds; the verdict is valid only if all pass.
async function runCheck(envelope, proof, leafText, pathText, result) {
  const h = view.head;
  const steps = [];
  const step = async (name, f) => {
    let ok = false;
    let detail = '';
    try { ok = await f(); } catch (e) { detail = e.message; }
    steps.push({ name, ok, detail });
  };
  if (!crypto.subtle || !h) {
    replace(result, el('p', { className: 'verdict bad', attrs: { 'data-valid': 'false' } }, t('noEd25519')));
    return;
  }
  const trustHex = view.trustKey ?? keyFor(h.keyId)?.publicKey ?? '';
  await step('stepKey', async () => (await keyIdOf(fromHex(trustHex))) === h.keyId);
  const signed = treeHeadBytes(state.me.partnerId, h);
  await step('stepBytes', async () => toHex(signed) === h.signedBytes);
  await step('stepHeadSig', async () => {
    try { return await ed25519(fromHex(trustHex), fromHex(h.signature), signed); } catch (e) {
      if (e.name === 'NotSupportedError') throw new Error(t('noEd25519'));
      throw e;
    }
  });
  const canonical = fromHex(envelope.canonicalBytes);
  // Canonical bytes: "LARASEV1" ‖ event_id (16) ‖ partner_id (16) ‖ … (§1.1).
  await step('stepPartner', async () => toHex(canonical.slice(24, 40)) === state.me.partnerId.replaceAll('-', ''));
  await step('stepLeaf', async () => toHex(await leafOf(canonical)) === leafText.trim().toLowerCase());
  await step('stepRoot', async () => {
    const path = pathText.split(/\s+/).filter(Boolean).map(fromHex);
    const root = await rootFromPath(proof.leafIndex, h.treeSize, fromHex(leafText), path);
    return root !== null && toHex(root) === h.rootHash;
  });
  await step('stepEnvelopeSig', async () => {
    const key = keyFor(envelope.keyId);
    return key !== null && ed25519(fromHex(key.publicKey), fromHex(envelope.signature), canonical);
  });
  const failed = steps.filter(s => !s.ok);
  const ok = failed.length === 0;
  replace(result,
    el('p', { id: 'proof-verdict', className: `verdict ${ok ? 'ok' : 'bad'}`, attrs: { 'data-valid': String(ok), role: 'status' } },
      ok ? t('valid') : [t('invalid'), ' ', failed.map(s => t(s.name)).join('; ')]),
    el('ol', { id: 'proof-steps', className: 'steps' }, steps.map(s => el('li', { className: s.ok ? 'ok' : 'bad', attrs: { 'data-step': s.name, 'data-ok': String(s.ok) } },
      `${t(s.name)}: ${s.ok ? t('stepOk') : t('stepFailed')}`, s.detail ? ` (${s.detail})` : ''))));
}

function offlineSection(keys, head) {
  const partner = state.me?.partnerId ?? '<partner id>';
  // `--trust-key` takes the Partner's first signing key: the one the key history starts from.
  const first = keys[0]?.publicKey ?? '<first public key>';
  const witnesses = [...new Set((head?.cosignatures ?? []).map(c => c.witnessKey))].map(k => ` --witness-key ${k}`).join('');
  const commands = [
    ['cmdKeys', 'laras keys'],
    ['cmdExport', `laras export --partner ${partner} --out bundle/`],
    ['cmdVerify', `laras audit verify bundle/ --trust-key ${first} --known-head head.json${witnesses}`],
    ['cmdLog', 'laras verify'],
  ];
  return el('section', { id: 'offline', attrs: { 'aria-labelledby': 'offline-title' } },
    el('h2', { id: 'offline-title' }, t('offline')),
    el('p', {}, t('offlineIntro')),
    el('dl', { className: 'commands' }, commands.map(([word, command]) => [el('dt', {}, t(word)), el('dd', {}, el('code', {}, command))])));
}
