-- Read models of the ledger. Every row is derived from events; `checkpoint` holds the
-- position of the last event applied, written in the same transaction as the rows.
CREATE TABLE IF NOT EXISTS checkpoint (name TEXT PRIMARY KEY, position INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS pipeline_stages (
    partner_id TEXT NOT NULL, ord INTEGER NOT NULL, name TEXT NOT NULL, probability_pct INTEGER NOT NULL,
    PRIMARY KEY (partner_id, name));

CREATE TABLE IF NOT EXISTS contacts (
    contact_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, display_name TEXT, channels TEXT NOT NULL DEFAULT '',
    opted_out TEXT, erased INTEGER NOT NULL DEFAULT 0, first_seen INTEGER NOT NULL, last_interaction INTEGER);
CREATE INDEX IF NOT EXISTS contacts_partner ON contacts (partner_id);

CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, contact_id TEXT NOT NULL, channel TEXT NOT NULL,
    thread TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'open', snoozed_until INTEGER,
    last_text TEXT, last_at INTEGER NOT NULL, last_direction TEXT, unread INTEGER NOT NULL DEFAULT 0,
    last_inbound_at INTEGER, closed_by_platform_at INTEGER, assignee TEXT,
    drafts_waiting INTEGER NOT NULL DEFAULT 0, sentiment TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS conversations_inbox ON conversations (partner_id, last_at DESC, conversation_id DESC);
CREATE INDEX IF NOT EXISTS conversations_contact ON conversations (contact_id);

-- Messages, comments, echoes, drafts and sends of a conversation, in log order.
CREATE TABLE IF NOT EXISTS items (
    position INTEGER PRIMARY KEY, partner_id TEXT NOT NULL, conversation_id TEXT NOT NULL, contact_id TEXT NOT NULL,
    kind TEXT NOT NULL, ref TEXT NOT NULL, text TEXT, at INTEGER NOT NULL, actor TEXT NOT NULL,
    state TEXT, platform_message_id TEXT, error_code INTEGER, error_title TEXT, draft_ref TEXT);
CREATE INDEX IF NOT EXISTS items_conversation ON items (conversation_id, position);
-- Updates by draft, send or platform message id search one conversation's rows via items_conversation.
CREATE INDEX IF NOT EXISTS items_contact ON items (contact_id);

-- Who proposed each draft (the AI worker with its model, articles and confidence, or a
-- person), as the JSON of the event's `DraftAuthor`.
CREATE TABLE IF NOT EXISTS drafts (
    conversation_id TEXT NOT NULL, draft_id TEXT NOT NULL, partner_id TEXT NOT NULL, author TEXT NOT NULL,
    PRIMARY KEY (conversation_id, draft_id));

-- Each requested send's attempts and, when an attempt was in doubt (ADR 010), how that
-- ended: held (for a person), resend_approved, resent (by the Partner's policy, or
-- resent_by_person), resolved (an echo, a status or a person showed it went out).
CREATE TABLE IF NOT EXISTS sends (
    send_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, in_doubt TEXT, evidence TEXT, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sends_in_doubt ON sends (partner_id, in_doubt);

-- What a Partner chose for sends left in doubt, by channel (absent: the channel's default).
CREATE TABLE IF NOT EXISTS in_doubt_policies (
    partner_id TEXT NOT NULL, channel TEXT NOT NULL, policy TEXT NOT NULL, PRIMARY KEY (partner_id, channel));

-- The current reaction on a message (inbound by its id, ours by its platform message id).
CREATE TABLE IF NOT EXISTS reactions (
    conversation_id TEXT NOT NULL, message_ref TEXT NOT NULL, emoji TEXT, at INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, message_ref));

CREATE TABLE IF NOT EXISTS timeline (
    position INTEGER PRIMARY KEY, partner_id TEXT NOT NULL, contact_id TEXT NOT NULL, at INTEGER NOT NULL,
    kind TEXT NOT NULL, summary TEXT, ref TEXT);
CREATE INDEX IF NOT EXISTS timeline_contact ON timeline (contact_id, position);

CREATE TABLE IF NOT EXISTS opportunities (
    opportunity_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, contact_id TEXT NOT NULL, title TEXT NOT NULL,
    stage TEXT NOT NULL, value_minor INTEGER NOT NULL, currency TEXT NOT NULL, outcome TEXT NOT NULL DEFAULT 'open',
    opened_at INTEGER NOT NULL, stage_since INTEGER NOT NULL, closed_at INTEGER);
CREATE INDEX IF NOT EXISTS opportunities_partner ON opportunities (partner_id, outcome, stage);
CREATE INDEX IF NOT EXISTS opportunities_contact ON opportunities (contact_id);

CREATE TABLE IF NOT EXISTS stage_history (
    opportunity_id TEXT NOT NULL, partner_id TEXT NOT NULL, stage TEXT NOT NULL, entered_at INTEGER NOT NULL,
    left_at INTEGER);
CREATE INDEX IF NOT EXISTS stage_history_partner ON stage_history (partner_id, stage);

CREATE TABLE IF NOT EXISTS segments (
    contact_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, clv_minor INTEGER NOT NULL, currency TEXT,
    won_deals INTEGER NOT NULL, recency_days INTEGER NOT NULL, r INTEGER NOT NULL, f INTEGER NOT NULL,
    m INTEGER NOT NULL, segment TEXT NOT NULL, computed_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS segments_partner ON segments (partner_id, segment);

-- The files of a conversation's messages: pending until the media fetcher records the
-- outcome, then stored (with the media store's object name) or unavailable (with why);
-- erased once the contact is. `message_ref` is the inbound message's channel id.
CREATE TABLE IF NOT EXISTS attachments (
    conversation_id TEXT NOT NULL, message_ref TEXT NOT NULL, attachment INTEGER NOT NULL,
    partner_id TEXT NOT NULL, contact_id TEXT NOT NULL, kind TEXT NOT NULL, mime TEXT,
    size INTEGER, width INTEGER, height INTEGER, duration_ms INTEGER,
    state TEXT NOT NULL, reason TEXT, object TEXT,
    PRIMARY KEY (conversation_id, message_ref, attachment));
CREATE INDEX IF NOT EXISTS attachments_contact ON attachments (contact_id);

-- The Partner's knowledge articles (its own words, not a customer's); `tags` is a JSON array.
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL,
    body TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '[]', published_at INTEGER NOT NULL, retired_at INTEGER);
CREATE INDEX IF NOT EXISTS articles_partner ON articles (partner_id, published_at DESC);
