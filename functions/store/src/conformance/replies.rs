//! Saved replies.

use super::*;
use livecard_core::replies::{MAX_REPLIES, ReplyScope, SavedReply};

fn reply(shortcut: &str, text: &str, by: &str) -> SavedReply {
    SavedReply::new(shortcut, text, &aid(by), T0).unwrap_or_else(|e| panic!("{e}"))
}

/// Each scope is its own: an advisor's replies are theirs alone, a save
/// under a used shortcut replaces, a full scope refuses new shortcuts but
/// not replacements, and a delete says whether there was one.
pub async fn saved_replies<S: Store>(store: &S) {
    let anna = ReplyScope::Advisor(aid("anna"));
    let ben = ReplyScope::Advisor(aid("ben"));
    let shared = ReplyScope::Shared;
    assert!(ok(store.list_replies(&anna).await, "list").is_empty());
    assert!(ok(
        store.put_reply(&anna, &reply("hi", "Hello!", "anna")).await,
        "put"
    ));
    assert!(ok(
        store
            .put_reply(&anna, &reply("bye", "Goodbye.", "anna"))
            .await,
        "put"
    ));
    assert!(ok(
        store
            .put_reply(&shared, &reply("hi", "Good day, team.", "ben"))
            .await,
        "put shared"
    ));
    let mine = ok(store.list_replies(&anna).await, "list");
    let shortcuts: Vec<&str> = mine.iter().map(|r| r.shortcut.as_str()).collect();
    assert_eq!(shortcuts, ["bye", "hi"], "by shortcut");
    assert!(
        ok(store.list_replies(&ben).await, "list").is_empty(),
        "Anna's are hers"
    );
    let team = ok(store.list_replies(&shared).await, "list");
    assert_eq!(team, vec![reply("hi", "Good day, team.", "ben")]);

    assert!(ok(
        store
            .put_reply(&anna, &reply("hi", "Hi there!", "anna"))
            .await,
        "replace"
    ));
    let mine = ok(store.list_replies(&anna).await, "list");
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().any(|r| r.text == "Hi there!"));

    assert!(ok(store.delete_reply(&anna, "bye").await, "delete"));
    assert!(!ok(store.delete_reply(&anna, "bye").await, "delete again"));
    assert_eq!(ok(store.list_replies(&anna).await, "list").len(), 1);

    for i in 0..MAX_REPLIES {
        assert!(ok(
            store
                .put_reply(&ben, &reply(&format!("r{i}"), "Text", "ben"))
                .await,
            "fill"
        ));
    }
    assert!(
        !ok(
            store
                .put_reply(&ben, &reply("one-more", "Text", "ben"))
                .await,
            "full"
        ),
        "a full scope refuses a new shortcut"
    );
    assert!(
        ok(
            store.put_reply(&ben, &reply("r7", "Changed", "ben")).await,
            "replace in full"
        ),
        "but replaces one it has"
    );
    assert_eq!(
        ok(store.list_replies(&ben).await, "list").len(),
        MAX_REPLIES
    );
}
