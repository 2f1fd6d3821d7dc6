// The sales pipeline (`#/pipeline`): open deals in a column per stage with the weighted
// forecast; each card moves to another stage, is won or is lost, with buttons and a
// select (so the board works by keyboard; there is no drag).
import { gql } from './api.js';
import { t, extend, money } from './i18n.js';
import { el, replace } from './views.js';
import { main, say, canWrite, route } from './page.js';

extend({
  en: {
    pipeline: 'Pipeline', pl_forecast: 'Weighted forecast', pl_openValue: 'open value', pl_won: n => `${n} won`,
    pl_lost: n => `${n} lost`, pl_wonValue: 'Won', pl_empty: 'No open deals.', pl_stageMeta: (p, n) => `${p}% · ${n} open`,
    pl_moveTo: 'Move to', pl_move: 'Move', pl_win: 'Won', pl_lose: 'Lost…', pl_reason: 'Why was it lost?',
    pl_confirmLose: 'Mark lost', pl_cancel: 'Cancel', pl_contact: 'Contact', pl_moved: s => `Moved to ${s}.`,
    pl_wonDone: 'Marked won.', pl_lostDone: 'Marked lost.', pl_board: 'Open deals by stage', pl_nothing: 'No forecast yet.',
    pl_actions: title => `Actions for ${title}`,
  },
  id: {
    pipeline: 'Pipeline', pl_forecast: 'Perkiraan tertimbang', pl_openValue: 'nilai terbuka', pl_won: n => `${n} menang`,
    pl_lost: n => `${n} kalah`, pl_wonValue: 'Menang', pl_empty: 'Tidak ada peluang terbuka.', pl_stageMeta: (p, n) => `${p}% · ${n} terbuka`,
    pl_moveTo: 'Pindah ke', pl_move: 'Pindahkan', pl_win: 'Menang', pl_lose: 'Kalah…', pl_reason: 'Mengapa kalah?',
    pl_confirmLose: 'Tandai kalah', pl_cancel: 'Batal', pl_contact: 'Kontak', pl_moved: s => `Dipindah ke ${s}.`,
    pl_wonDone: 'Ditandai menang.', pl_lostDone: 'Ditandai kalah.', pl_board: 'Peluang terbuka per tahap', pl_nothing: 'Belum ada perkiraan.',
    pl_actions: title => `Tindakan untuk ${title}`,
  },
});

const PIPELINE = `query Pipeline($min: Int) { pipeline(minPosition: $min) {
  stages { name probabilityPct openCount totals { currency valueMinor weightedMinor } }
  forecast { currency valueMinor weightedMinor } won { currency valueMinor } wonCount lostCount
  opportunities { id: opportunityId contactId title stage valueMinor currency outcome } } }`;

route(/^#\/pipeline$/, () => render());

const totals = list => list.map(m => money(m.weightedMinor, m.currency)).join(' + ');

async function render(minPosition) {
  if (minPosition === undefined) replace(main, el('p', {}, t('loading')));
  let data;
  try {
    data = await gql(PIPELINE, { min: minPosition ?? null });
  } catch (e) {
    say(e.message);
    return;
  }
  if (location.hash !== '#/pipeline') return;
  const p = data.pipeline;
  const open = p.opportunities.filter(o => o.outcome === 'OPEN');
  const stages = p.stages.map(s => s.name);
  const forecast = p.forecast.length
    ? p.forecast.map(m => `${money(m.weightedMinor, m.currency)} (${t('pl_openValue')} ${money(m.valueMinor, m.currency)})`).join(' · ')
    : t('pl_nothing');
  replace(main,
    el('h1', {}, t('pipeline')),
    el('p', { id: 'forecast', className: 'forecast' }, el('strong', {}, `${t('pl_forecast')}: `), forecast),
    el('p', { id: 'closed', className: 'muted' }, t('pl_won', p.wonCount),
      p.won.length ? ` (${p.won.map(m => money(m.valueMinor, m.currency)).join(' + ')})` : '', ' · ', t('pl_lost', p.lostCount)),
    el('div', { id: 'board', className: 'board', attrs: { role: 'list', 'aria-label': t('pl_board') } },
      p.stages.map((s, i) => {
        const cards = open.filter(o => o.stage === s.name);
        return el('section', { className: 'stage', attrs: { role: 'listitem', 'data-stage': s.name, 'aria-labelledby': `stage-${i}` } },
          el('h2', { id: `stage-${i}` }, s.name),
          el('p', { className: 'muted' }, t('pl_stageMeta', s.probabilityPct, s.openCount), s.totals.length ? [' · ', totals(s.totals)] : null),
          el('ul', { className: 'cards' }, cards.length ? cards.map(o => card(o, stages)) : el('li', { className: 'empty' }, t('pl_empty'))));
      })));
}

async function act(mutation, variables, done) {
  try {
    const answer = await gql(mutation, variables);
    say(done);
    await render(Object.values(answer)[0]?.position ?? undefined);
  } catch (e) {
    say(e.message);
  }
}

function card(o, stages) {
  const head = [
    el('strong', { className: 'title' }, o.title),
    el('span', { className: 'value' }, money(o.valueMinor, o.currency)),
    el('a', { href: `#/contact/${encodeURIComponent(o.contactId)}` }, t('pl_contact')),
  ];
  if (!canWrite()) return el('li', { className: 'opp', attrs: { 'data-id': o.id } }, head);
  const selectId = `move-${o.id}`;
  const select = el('select', { id: selectId, className: 'move-to' },
    stages.filter(s => s !== o.stage).map(s => el('option', { value: s }, s)));
  const reasonId = `reason-${o.id}`;
  const reason = el('input', { id: reasonId, className: 'lose-reason', maxLength: 500, required: true });
  const loseForm = el('form', { className: 'lose', hidden: true, onsubmit: e => {
    e.preventDefault();
    if (!reason.value.trim()) return;
    act('mutation($o: ID!, $r: String!) { loseOpportunity(opportunityId: $o, reason: $r) { position } }', { o: o.id, r: reason.value }, t('pl_lostDone'));
  } },
  el('label', { attrs: { for: reasonId } }, t('pl_reason')), reason,
  el('div', { className: 'actions' },
    el('button', { type: 'submit', className: 'confirm-lose' }, t('pl_confirmLose')),
    el('button', { type: 'button', className: 'secondary', onclick: () => { loseForm.hidden = true; } }, t('pl_cancel'))));
  return el('li', { className: 'opp', attrs: { 'data-id': o.id } }, head,
    el('div', { className: 'actions', attrs: { role: 'group', 'aria-label': t('pl_actions', o.title) } },
      el('label', { attrs: { for: selectId } }, t('pl_moveTo'), ' ', select),
      el('button', { type: 'button', className: 'move secondary', disabled: stages.length < 2, onclick: () => act(
        'mutation($o: ID!, $s: String!) { moveOpportunity(opportunityId: $o, stage: $s) { position } }',
        { o: o.id, s: select.value }, t('pl_moved', select.value)) }, t('pl_move')),
      el('button', { type: 'button', className: 'win', onclick: () => act(
        'mutation($o: ID!) { winOpportunity(opportunityId: $o) { position } }', { o: o.id }, t('pl_wonDone')) }, t('pl_win')),
      el('button', { type: 'button', className: 'lose-open secondary', onclick: () => { loseForm.hidden = false; reason.focus(); } }, t('pl_lose'))),
    loseForm);
}
