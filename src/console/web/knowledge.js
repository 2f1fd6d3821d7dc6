// Knowledge (`#/knowledge`): the articles the AI worker grounds its drafts in (the
// owner publishes and retires them), and "Ask Laras": the draft the worker would
// propose to a question, with its confidence and articles; nothing is sent or recorded.
import { gql } from './api.js';
import { t, extend, time } from './i18n.js';
import { el, replace } from './views.js';
import { main, say, canWrite, isOwner, route } from './page.js';

extend({
  en: {
    knowledge: 'Knowledge', kn_articles: 'Articles', kn_retired: 'Retired articles', kn_none: 'No articles yet.',
    kn_noRetired: 'None retired.', kn_retire: 'Retire', kn_retireLabel: title => `Retire “${title}”`, kn_retiredDone: 'Article retired.',
    kn_published: at => `published ${at}`, kn_retiredAt: at => `retired ${at}`,
    kn_new: 'Publish an article', kn_kind: 'Kind', kn_title: 'Title', kn_body: 'Text', kn_tags: 'Tags (comma-separated)',
    kn_publish: 'Publish', kn_publishedDone: 'Article published.',
    kn_kinds: { FAQ: 'FAQ', POLICY: 'Policy', PRODUCT: 'Product' },
    kn_ask: 'Ask Laras', kn_askHint: 'Type a customer\'s question to see the draft Laras would propose. Nothing is sent or recorded.',
    kn_question: 'Customer question', kn_askButton: 'Ask', kn_asking: 'Asking…',
    kn_draft: 'Laras would propose', kn_confidence: p => `confidence ${p}%`, kn_model: m => `model ${m}`,
    kn_from: 'From these articles', kn_cited: 'cited', kn_score: s => `match ${s}`, kn_noArticles: 'No article matched.',
    kn_declined: {
      off_topic: 'No draft: the question is outside the business, so a person answers.',
      low_confidence: 'No draft: the articles do not support an answer well enough, so a person answers.',
      generator_unavailable: 'No draft: the draft generator is unavailable, so a person answers.',
      opt_out_keyword: 'No draft: that is an opt-out keyword; the customer would be opted out.',
      opt_in_keyword: 'No draft: that is an opt-in keyword; the customer would be opted in again.',
    },
    kn_readOnly: 'Your key is read-only: you can read the articles but not change them or ask Laras.',
  },
  id: {
    knowledge: 'Pengetahuan', kn_articles: 'Artikel', kn_retired: 'Artikel yang ditarik', kn_none: 'Belum ada artikel.',
    kn_noRetired: 'Tidak ada yang ditarik.', kn_retire: 'Tarik', kn_retireLabel: title => `Tarik “${title}”`, kn_retiredDone: 'Artikel ditarik.',
    kn_published: at => `diterbitkan ${at}`, kn_retiredAt: at => `ditarik ${at}`,
    kn_new: 'Terbitkan artikel', kn_kind: 'Jenis', kn_title: 'Judul', kn_body: 'Isi', kn_tags: 'Tag (pisahkan dengan koma)',
    kn_publish: 'Terbitkan', kn_publishedDone: 'Artikel diterbitkan.',
    kn_kinds: { FAQ: 'Tanya jawab', POLICY: 'Kebijakan', PRODUCT: 'Produk' },
    kn_ask: 'Tanya Laras', kn_askHint: 'Ketik pertanyaan pelanggan untuk melihat draf yang akan diusulkan Laras. Tidak ada yang dikirim atau dicatat.',
    kn_question: 'Pertanyaan pelanggan', kn_askButton: 'Tanya', kn_asking: 'Menanyakan…',
    kn_draft: 'Laras akan mengusulkan', kn_confidence: p => `keyakinan ${p}%`, kn_model: m => `model ${m}`,
    kn_from: 'Dari artikel berikut', kn_cited: 'dikutip', kn_score: s => `kecocokan ${s}`, kn_noArticles: 'Tidak ada artikel yang cocok.',
    kn_declined: {
      off_topic: 'Tidak ada draf: pertanyaan di luar bisnis, jadi orang yang menjawab.',
      low_confidence: 'Tidak ada draf: artikel tidak cukup mendukung jawaban, jadi orang yang menjawab.',
      generator_unavailable: 'Tidak ada draf: pembuat draf tidak tersedia, jadi orang yang menjawab.',
      opt_out_keyword: 'Tidak ada draf: itu kata kunci berhenti berlangganan; pelanggan akan diberhentikan.',
      opt_in_keyword: 'Tidak ada draf: itu kata kunci berlangganan; pelanggan akan berlangganan lagi.',
    },
    kn_readOnly: 'Kunci Anda hanya-baca: Anda bisa membaca artikel, tetapi tidak bisa mengubahnya atau bertanya ke Laras.',
  },
});

const ARTICLES = `query Articles($min: Int) { articles(includeRetired: true, minPosition: $min) {
  id kind title body tags publishedAt retiredAt } }`;
const ASK = `query Ask($q: String!) { askLaras(question: $q) {
  text confidence model declined articles { id kind title score cited } } }`;

route(/^#\/knowledge$/, () => render());

const kindWord = kind => t('kn_kinds')[kind] ?? kind;

async function render(minPosition) {
  if (minPosition === undefined) replace(main, el('p', {}, t('loading')));
  let articles;
  try {
    articles = (await gql(ARTICLES, { min: minPosition ?? null })).articles;
  } catch (e) {
    say(e.message);
    return;
  }
  if (location.hash !== '#/knowledge') return;
  const live = articles.filter(a => !a.retiredAt);
  const retired = articles.filter(a => a.retiredAt);
  replace(main,
    el('h1', {}, t('knowledge')),
    canWrite() ? askSection() : el('p', { id: 'read-only' }, t('kn_readOnly')),
    el('section', { className: 'panel', attrs: { 'aria-labelledby': 'articles-h' } },
      el('h2', { id: 'articles-h' }, t('kn_articles')),
      el('ul', { id: 'articles', className: 'articles' }, live.length ? live.map(articleItem) : el('li', { className: 'empty' }, t('kn_none')))),
    isOwner() ? publishForm() : null,
    el('section', { className: 'panel', attrs: { 'aria-labelledby': 'retired-h' } },
      el('h2', { id: 'retired-h' }, t('kn_retired')),
      el('ul', { id: 'articles-retired', className: 'articles' }, retired.length ? retired.map(articleItem) : el('li', { className: 'empty' }, t('kn_noRetired')))));
}

function articleItem(a) {
  return el('li', { className: 'article', attrs: { 'data-article': a.id } },
    el('h3', {}, a.title),
    el('p', { className: 'muted' }, kindWord(a.kind), ' · ', t('kn_published', time(a.publishedAt)),
      a.retiredAt ? [' · ', t('kn_retiredAt', time(a.retiredAt))] : null,
      a.tags.length ? [' · ', a.tags.map(tag => `#${tag}`).join(' ')] : null),
    el('p', { className: 'body' }, a.body),
    isOwner() && !a.retiredAt ? el('button', { type: 'button', className: 'retire secondary', attrs: { 'aria-label': t('kn_retireLabel', a.title) }, onclick: async () => {
      try {
        const { retireArticle } = await gql('mutation($a: ID!) { retireArticle(articleId: $a) { position } }', { a: a.id });
        say(t('kn_retiredDone'));
        await render(retireArticle.position ?? undefined);
      } catch (e) {
        say(e.message);
      }
    } }, t('kn_retire')) : null);
}

function publishForm() {
  const kind = el('select', { id: 'article-kind' }, ['FAQ', 'POLICY', 'PRODUCT'].map(k => el('option', { value: k }, kindWord(k))));
  const title = el('input', { id: 'article-title', maxLength: 300, required: true });
  const body = el('textarea', { id: 'article-body', maxLength: 65536, required: true });
  const tags = el('input', { id: 'article-tags', maxLength: 2000 });
  return el('section', { className: 'panel', attrs: { 'aria-labelledby': 'publish-h' } },
    el('h2', { id: 'publish-h' }, t('kn_new')),
    el('form', { id: 'article-form', className: 'stack', onsubmit: async e => {
      e.preventDefault();
      if (!title.value.trim() || !body.value.trim()) return;
      const words = tags.value.split(',').map(s => s.trim()).filter(Boolean);
      try {
        const { publishArticle } = await gql(
          'mutation($k: ArticleKind!, $t: String!, $b: String!, $g: [String!]!) { publishArticle(kind: $k, title: $t, body: $b, tags: $g) { position } }',
          { k: kind.value, t: title.value, b: body.value, g: words });
        say(t('kn_publishedDone'));
        await render(publishArticle.position ?? undefined);
      } catch (err) {
        say(err.message);
      }
    } },
    el('label', { attrs: { for: 'article-kind' } }, t('kn_kind')), kind,
    el('label', { attrs: { for: 'article-title' } }, t('kn_title')), title,
    el('label', { attrs: { for: 'article-body' } }, t('kn_body')), body,
    el('label', { attrs: { for: 'article-tags' } }, t('kn_tags')), tags,
    el('button', { id: 'article-publish', type: 'submit' }, t('kn_publish'))));
}

function askSection() {
  const question = el('textarea', { id: 'ask-question', maxLength: 4096, required: true });
  const result = el('div', { id: 'ask-result', attrs: { 'aria-live': 'polite' } });
  const button = el('button', { id: 'ask-button', type: 'submit' }, t('kn_askButton'));
  let asked = 0;
  return el('section', { className: 'panel ask', attrs: { 'aria-labelledby': 'ask-h' } },
    el('h2', { id: 'ask-h' }, t('kn_ask')),
    el('p', { className: 'muted' }, t('kn_askHint')),
    el('form', { className: 'stack', onsubmit: async e => {
      e.preventDefault();
      if (!question.value.trim()) return;
      const mine = ++asked;
      button.disabled = true;
      replace(result, el('p', {}, t('kn_asking')));
      try {
        const { askLaras } = await gql(ASK, { q: question.value });
        if (mine === asked) showPreview(result, askLaras);
      } catch (err) {
        replace(result, el('p', { className: 'error' }, err.message));
      } finally {
        button.disabled = false;
      }
    } },
    el('label', { attrs: { for: 'ask-question' } }, t('kn_question')), question, button),
    result);
}

function showPreview(result, p) {
  const articles = p.articles.length
    ? el('ul', { id: 'ask-articles', className: 'plain' }, p.articles.map(a => el('li', { attrs: { 'data-article': a.id, 'data-cited': a.cited ? 'yes' : 'no' } },
      el('strong', {}, a.title), ' · ', kindWord(a.kind), ' · ', t('kn_score', a.score.toFixed(2)), a.cited ? [' · ', t('kn_cited')] : null)))
    : el('p', { id: 'ask-articles' }, t('kn_noArticles'));
  const draft = p.text !== null
    ? [el('h3', {}, t('kn_draft')),
      el('blockquote', { id: 'ask-draft', className: 'draft-text' }, p.text),
      el('p', { className: 'muted' },
        el('span', { id: 'ask-confidence', attrs: { 'data-confidence': String(p.confidence) } }, t('kn_confidence', Math.round((p.confidence ?? 0) * 100))),
        p.model ? [' · ', t('kn_model', p.model)] : null)]
    : el('p', { id: 'ask-declined', attrs: { 'data-reason': p.declined ?? '' } }, t('kn_declined')[p.declined] ?? p.declined ?? '');
  replace(result, draft, el('h3', {}, t('kn_from')), articles);
}
