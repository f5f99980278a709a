//! Sign-in tokens, API keys and ids claimed once.

use super::*;

pub async fn signin_single_use<S: AuthStore>(store: &S) {
    ok(
        store.put_signin("h1", &aid("anna"), T0 + 1000).await,
        "put sign-in",
    );
    let takes = (0..10).map(|_| async { ok(store.take_signin("h1", T0).await, "racing take") });
    let results = join_all(takes).await;
    let winners: Vec<_> = results.into_iter().flatten().collect();
    assert_eq!(
        winners,
        vec![aid("anna")],
        "a sign-in link worked more than once"
    );
    ok(
        store.put_signin("h2", &aid("anna"), T0 + 1000).await,
        "put sign-in",
    );
    assert_eq!(
        ok(store.take_signin("h2", T0 + 1000).await, "take expired"),
        None,
        "an expired link worked"
    );
    assert_eq!(
        ok(store.take_signin("nope", T0).await, "take unknown"),
        None
    );
}

pub async fn api_keys<S: AuthStore>(store: &S) {
    assert!(!ok(store.api_key_exists("abc").await, "unknown key"));
    assert_eq!(
        ok(store.put_api_key("abc", "first", T0).await, "put key"),
        Created::Created
    );
    assert_eq!(
        ok(store.put_api_key("abc", "again", T0).await, "put key again"),
        Created::AlreadyExists
    );
    assert!(ok(store.api_key_exists("abc").await, "known key"));
}

pub async fn claim_once<S: AuthStore>(store: &S) {
    let claims = (0..10).map(|_| async {
        ok(
            store.claim_once("webhook:msg_1", T0 + 1000).await,
            "racing claim",
        )
    });
    let results = join_all(claims).await;
    assert_eq!(
        results.iter().filter(|c| **c).count(),
        1,
        "one id was claimed more than once"
    );
    assert!(ok(
        store.claim_once("webhook:msg_2", T0 + 1000).await,
        "another id"
    ));
}
