//! Contact commands: opt-outs, notes, merges, erasure.

use crate::error::CommandError;
use crate::ledger::{Committed, Decided, EventIds, Ledger};
use crate::meta::CommandMeta;
use laras_domain::aggregate::contact::*;
use laras_domain::aggregate::Decide;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{OptScope, OptSignal};
use laras_domain::ids::{ContactId, NoteId, PartnerId};
use laras_domain::stream::StreamId;
use uuid::Uuid;

impl Ledger {
    pub async fn opt_out(
        &self,
        partner: PartnerId,
        contact: ContactId,
        channel: Option<ChannelKind>,
        scope: OptScope,
        signal: OptSignal,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command = OptOut { channel, scope, signal };
        self.execute::<Contact, _>(partner, StreamId::contact(contact), &command, meta).await
    }

    pub async fn opt_in(
        &self,
        partner: PartnerId,
        contact: ContactId,
        channel: Option<ChannelKind>,
        signal: OptSignal,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command = OptIn { channel, signal };
        self.execute::<Contact, _>(partner, StreamId::contact(contact), &command, meta).await
    }

    pub async fn add_note(
        &self,
        partner: PartnerId,
        contact: ContactId,
        text: &str,
        meta: &CommandMeta,
    ) -> Result<(NoteId, Committed), CommandError> {
        laras_domain::error::require_text("note", text, 16 * 1024)?;
        let note_id = NoteId(Uuid::now_v7());
        // Seal only for a contact of this partner; a foreign id must not create a key.
        self.load_owned::<Contact>(partner, &StreamId::contact(contact)).await?;
        let command = AddNote { note_id, body: self.seal(partner, contact, text)? };
        let committed = self.execute::<Contact, _>(partner, StreamId::contact(contact), &command, meta).await?;
        Ok((note_id, committed))
    }

    /// Erases a contact: records `ContactErased`, then destroys its data keys. An erase
    /// intent recorded first lets [`Ledger::finish_pending_erasures`] complete it after a crash.
    pub async fn erase_contact(
        &self,
        partner: PartnerId,
        contact: ContactId,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.load_owned::<Contact>(partner, &StreamId::contact(contact)).await?;
        self.keys.begin_erasure(contact)?;
        match self.execute::<Contact, _>(partner, StreamId::contact(contact), &EraseContact, meta).await {
            Ok(committed) => {
                let destroyed = self.keys.destroy_contact_keys(contact)?;
                tracing::info!(destroyed, "contact erased");
                Ok(committed)
            }
            Err(e) => {
                self.keys.abandon_erasure(contact)?;
                Err(e)
            }
        }
    }

    /// Completes erasures that a crash interrupted between the event and the key destruction.
    pub async fn finish_pending_erasures(&self) -> Result<usize, CommandError> {
        let mut finished = 0;
        for contact in self.keys.pending_erasures()? {
            let state = self.load::<Contact>(&StreamId::contact(contact)).await?.state;
            if state.erased {
                self.keys.destroy_contact_keys(contact)?;
                finished += 1;
            } else {
                self.keys.abandon_erasure(contact)?;
            }
        }
        Ok(finished)
    }

    /// Merges `absorbed` into `survivor`: both streams record it, atomically.
    pub async fn merge_contacts(
        &self,
        partner: PartnerId,
        survivor: ContactId,
        absorbed: ContactId,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let command = MergeIdentities { survivor, absorbed };
        self.with_retry(|| async {
            let now = self.clock.now();
            let s_stream = StreamId::contact(survivor);
            let a_stream = StreamId::contact(absorbed);
            let s = self.load_owned::<Contact>(partner, &s_stream).await?;
            let a = self.load_owned::<Contact>(partner, &a_stream).await?;
            let on_survivor = command.decide(&s.state, now)?;
            let on_absorbed = command.decide(&a.state, now)?;
            let decided = vec![Decided::new(s_stream, &s, on_survivor), Decided::new(a_stream, &a, on_absorbed)];
            self.commit(partner, decided, meta, &EventIds::Fresh).await
        })
        .await
    }
}
