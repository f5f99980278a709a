//! Live business cards.

use super::advisors::advisor_record;
use super::*;
use crate::CardStore;

pub(super) fn card_from(item: &Item) -> Result<Card, StoreError> {
    let mut card: Card = json(item, "card")?;
    card.revoked_at = get_n(item, "revoked_at")?;
    Ok(card)
}

impl CardStore for DynamoStore {
    async fn put_card(&self, card: &Card) -> Result<Created, StoreError> {
        let id = &card.claims.card_id;
        let stored = Card {
            revoked_at: None,
            ..card.clone()
        };
        let grace = card.expires_at_ms().saturating_add(CARD_GRACE_MS);
        let attributes = [
            ("gsi1pk", s(keys::CARDS)),
            ("gsi1sk", s(format!("{:013}#{id}", card.created_at))),
            ("card", s(to_json(&stored)?)),
            ("advisor", s(card.claims.advisor.as_str())),
        ];
        let mut item = expiring(item(keys::card(id), keys::CARD, attributes), grace);
        if let Some(at) = card.revoked_at {
            item.insert("revoked_at".to_owned(), n(at));
        }
        self.create(item).await
    }

    async fn get_card(&self, id: &CardId) -> Result<Option<Card>, StoreError> {
        self.get_item(keys::card(id), keys::CARD)
            .await?
            .map(|item| card_from(&item))
            .transpose()
    }

    async fn get_card_and_advisor(
        &self,
        card: &CardId,
        advisor: &AdvisorId,
    ) -> Result<(Option<Card>, Option<AdvisorRecord>), StoreError> {
        let (card_key, advisor_key) = (keys::card(card), keys::advisor(advisor));
        let items = self
            .batch_get(&[
                (card_key.clone(), keys::CARD),
                (advisor_key.clone(), keys::PROFILE),
            ])
            .await?;
        let (mut card, mut advisor) = (None, None);
        for item in &items {
            let pk = get_s(item, "pk")?;
            if pk == card_key {
                card = Some(card_from(item)?);
            } else if pk == advisor_key {
                advisor = Some(advisor_record(item)?);
            }
        }
        Ok((card, advisor))
    }

    async fn list_cards(&self, page: &PageRequest) -> Result<Page<Card>, StoreError> {
        let (items, next) = self.query_gsi(keys::CARDS, page, false).await?;
        let items = items.iter().map(card_from).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn revoke_card(&self, id: &CardId, now: UnixMillis) -> Result<Revocation, StoreError> {
        let result = self
            .update_item(keys::card(id), keys::CARD)
            .update_expression("SET #r = :now")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#r)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#r", "revoked_at")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match conditional(result)? {
            Some(out) => Ok(Revocation::Revoked(card_from(&returned(out.attributes)?)?)),
            None => match self.get_card(id).await? {
                Some(card) => Ok(Revocation::AlreadyRevoked(card)),
                None => Ok(Revocation::NotFound),
            },
        }
    }
}
