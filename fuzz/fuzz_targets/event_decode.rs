//! Stored event payloads: `[type][version u16 big-endian][payload JSON]`, where the
//! type byte picks a known event type (or, past the list, the text up to the first NUL).
//! Beyond not panicking: a decoded event is of the type asked for, and its own payload
//! decodes back to it.
#![no_main]

use laras_domain::event::decode;
use libfuzzer_sys::fuzz_target;

const TYPES: &[&str] = &[
    "PartnerOnboarded",
    "ApprovalModeSet",
    "FollowUpPolicySet",
    "InDoubtPolicySet",
    "ChannelConnected",
    "ChannelDisconnected",
    "ChannelNeedsReauthorisation",
    "ChannelConnectRefused",
    "WitnessRegistered",
    "ChannelAccountClaimed",
    "ChannelAccountReleased",
    "KnowledgeArticlePublished",
    "KnowledgeArticleRetired",
    "ContactIdentified",
    "IdentitiesMerged",
    "OptedOut",
    "OptedIn",
    "NoteAdded",
    "ContactErased",
    "ConversationOpened",
    "InboundMessageReceived",
    "PublicCommentReceived",
    "EchoRecorded",
    "MessageReacted",
    "CustomerIdentityChanged",
    "ThreadControlChanged",
    "SentimentScored",
    "DraftProposed",
    "DraftDeclined",
    "DraftEdited",
    "DraftApproved",
    "DraftRejected",
    "ReplySendRequested",
    "ReplySent",
    "ReplySendFailed",
    "SendAttemptStarted",
    "SendAttemptFailed",
    "SendHeldInDoubt",
    "InDoubtResendApproved",
    "DeliveryStatusChanged",
    "SendRefused",
    "WindowClosedByPlatform",
    "ConversationStatusChanged",
    "ConversationAssigned",
    "FollowUpSkipped",
    "OpportunityOpened",
    "OpportunityStageChanged",
    "OpportunityValueChanged",
    "OpportunityWon",
    "OpportunityLost",
    "SigningKeyRotated",
    "ProcessSkippedEvent",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let Some((version, mut payload)) = rest.split_first_chunk::<2>() else { return };
    let owned;
    let event_type = match TYPES.get(pick as usize) {
        Some(t) => *t,
        None => {
            let end = payload.iter().position(|&b| b == 0).unwrap_or(payload.len());
            owned = String::from_utf8_lossy(&payload[..end]).into_owned();
            payload = payload.get(end + 1..).unwrap_or_default();
            &owned
        }
    };
    let Ok(event) = decode(event_type, u16::from_be_bytes(*version), payload) else { return };
    assert_eq!(event.event_type(), event_type);
    let again = decode(event_type, event.event_version(), &event.encode_payload());
    assert_eq!(again.as_ref(), Ok(&event), "an event's own payload does not decode back to it");
});
