//! Cards and their revocation.

use super::*;

pub async fn card_revocation<S: CardStore + AdvisorStore>(store: &S) {
    let c = card(1, T0);
    assert_eq!(ok(store.put_card(&c).await, "put card"), Created::Created);
    assert_eq!(
        ok(store.put_card(&c).await, "put card again"),
        Created::AlreadyExists
    );
    assert_eq!(
        ok(store.get_card(&c.claims.card_id).await, "get card"),
        Some(c.clone())
    );
    // A card page reads the card and its advisor together.
    let both = |card: CardId| async move {
        ok(
            store.get_card_and_advisor(&card, &aid("anna")).await,
            "get card and advisor",
        )
    };
    let (card, record) = both(c.claims.card_id.clone()).await;
    assert_eq!((card, record.is_none()), (Some(c.clone()), true));
    ok(store.put_advisor(&advisor("anna")).await, "put advisor");
    let (card, record) = both(c.claims.card_id.clone()).await;
    assert_eq!(card, Some(c.clone()));
    let record = record.unwrap_or_else(|| panic!("the advisor was not read with the card"));
    assert_eq!(record.advisor, advisor("anna"));
    let (card, record) = both(CardId::from_bytes([98; 16])).await;
    assert_eq!((card, record.is_some()), (None, true), "an unknown card");
    let revoked = ok(store.revoke_card(&c.claims.card_id, T0 + 5).await, "revoke");
    let Revocation::Revoked(card) = revoked else {
        panic!("first revocation gave {revoked:?}")
    };
    assert_eq!(card.revoked_at, Some(T0 + 5));
    let again = ok(
        store.revoke_card(&c.claims.card_id, T0 + 9).await,
        "revoke again",
    );
    assert!(
        matches!(&again, Revocation::AlreadyRevoked(card) if card.revoked_at == Some(T0 + 5)),
        "{again:?}"
    );
    let stored =
        ok(store.get_card(&c.claims.card_id).await, "get").unwrap_or_else(|| panic!("card lost"));
    assert_eq!(stored.revoked_at, Some(T0 + 5));
    let (card, _) = both(c.claims.card_id.clone()).await;
    assert_eq!(
        card.and_then(|c| c.revoked_at),
        Some(T0 + 5),
        "read with its advisor"
    );
    let unknown = CardId::from_bytes([99; 16]);
    assert_eq!(
        ok(store.revoke_card(&unknown, T0).await, "revoke unknown"),
        Revocation::NotFound
    );
    assert_eq!(
        ok(store.get_card(&unknown).await, "get unknown"),
        None,
        "revocation created a card"
    );
}

pub async fn card_revocation_race<S: CardStore + AdvisorStore>(store: &S) {
    let c = card(2, T0);
    ok(store.put_card(&c).await, "put card");
    let revokes = (0..20u64).map(|i| {
        let id = c.claims.card_id.clone();
        async move { ok(store.revoke_card(&id, T0 + i).await, "racing revoke") }
    });
    let results = join_all(revokes).await;
    let winners = results
        .iter()
        .filter(|r| matches!(r, Revocation::Revoked(_)))
        .count();
    assert_eq!(winners, 1, "{winners} concurrent revocations succeeded");
}
