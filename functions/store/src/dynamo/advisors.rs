//! Advisors, their presence, their load and their sign-in epoch.

use super::*;
use crate::AdvisorStore;

pub(super) fn presence_attrs(channel: Channel) -> (String, String, String) {
    let c = channel.as_str();
    (format!("pst_{c}"), format!("pver_{c}"), format!("psrc_{c}"))
}

pub(super) fn advisor_record(item: &Item) -> Result<AdvisorRecord, StoreError> {
    let advisor: Advisor = json(item, "profile")?;
    let load = Load {
        active: u16::try_from(get_n(item, "active")?.unwrap_or(0)).unwrap_or(u16::MAX),
        idle_since: get_n(item, "idle_since")?.unwrap_or(0),
    };
    let mut presence = Presence {
        heartbeat_until: get_n(item, "hb_until")?,
        ..Presence::default()
    };
    for channel in Channel::ALL {
        let (st, ver, src) = presence_attrs(channel);
        if item.contains_key(&st) {
            let state = get_s(item, &st)?.parse().map_err(|()| {
                StoreError::Corrupt(format!("attribute {st} is not a presence state"))
            })?;
            let source = get_s(item, &src)?.parse().map_err(|()| {
                StoreError::Corrupt(format!("attribute {src} is not a presence source"))
            })?;
            let version = get_n(item, &ver)?.unwrap_or(0);
            *presence.slot(channel) = Some(ChannelPresence {
                state,
                version,
                source,
            });
        }
    }
    Ok(AdvisorRecord {
        advisor,
        presence,
        load,
        session_epoch: get_n(item, "session_epoch")?.unwrap_or(0),
    })
}

impl AdvisorStore for DynamoStore {
    async fn put_advisor(&self, advisor: &Advisor) -> Result<(), StoreError> {
        self.update_item(keys::advisor(&advisor.id), keys::PROFILE)
            .update_expression("SET #profile = :profile, #g = :g, #gs = :gs, #cap = :cap")
            .expression_attribute_names("#profile", "profile")
            .expression_attribute_names("#cap", "capacity")
            .expression_attribute_values(":cap", n(u64::from(advisor.capacity)))
            .expression_attribute_names("#g", "gsi1pk")
            .expression_attribute_names("#gs", "gsi1sk")
            .expression_attribute_values(":profile", s(to_json(advisor)?))
            .expression_attribute_values(":g", s(keys::ADVISORS))
            .expression_attribute_values(":gs", s(advisor.id.as_str()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get_advisor(&self, id: &AdvisorId) -> Result<Option<AdvisorRecord>, StoreError> {
        self.get_item(keys::advisor(id), keys::PROFILE)
            .await?
            .map(|item| advisor_record(&item))
            .transpose()
    }

    async fn list_advisors(&self, page: &PageRequest) -> Result<Page<AdvisorRecord>, StoreError> {
        let (items, next) = self.query_gsi(keys::ADVISORS, page, true).await?;
        let items = items.iter().map(advisor_record).collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    async fn claim_capacity(&self, id: &AdvisorId) -> Result<Claim, StoreError> {
        let result = self
            .update_item(keys::advisor(id), keys::PROFILE)
            .update_expression("SET #active = if_not_exists(#active, :zero) + :one")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#active) OR #active < #cap)",
            )
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#active", "active")
            .expression_attribute_names("#cap", "capacity")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        Ok(match conditional(result)? {
            Some(_) => Claim::Claimed,
            None if self.advisor_exists(id).await? => Claim::Full,
            None => Claim::UnknownAdvisor,
        })
    }

    async fn release_capacity(&self, id: &AdvisorId, now: UnixMillis) -> Result<bool, StoreError> {
        let result = self
            .update_item(keys::advisor(id), keys::PROFILE)
            .update_expression("SET #active = #active - :one, #idle = :now")
            .condition_expression("#active > :zero")
            .expression_attribute_names("#active", "active")
            .expression_attribute_names("#idle", "idle_since")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn update_presence(
        &self,
        id: &AdvisorId,
        update: &PresenceUpdate,
    ) -> Result<PresenceWrite, StoreError> {
        let mut sets = Vec::new();
        let mut conditions = vec!["attribute_exists(#pk)".to_owned()];
        let mut request = self
            .update_item(keys::advisor(id), keys::PROFILE)
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_values(":v", n(update.version))
            .expression_attribute_values(":src", s(update.source.as_str()));
        for (i, (channel, state)) in update.states.iter().enumerate() {
            let (st, ver, src) = presence_attrs(*channel);
            sets.push(format!("#st{i} = :st{i}, #ver{i} = :v, #src{i} = :src"));
            conditions.push(format!("(attribute_not_exists(#ver{i}) OR #ver{i} < :v)"));
            request = request
                .expression_attribute_names(format!("#st{i}"), st)
                .expression_attribute_names(format!("#ver{i}"), ver)
                .expression_attribute_names(format!("#src{i}"), src)
                .expression_attribute_values(format!(":st{i}"), s(state.as_str()));
        }
        if let Some(until) = update.heartbeat_until {
            sets.push("#hb = :hb".to_owned());
            request = request
                .expression_attribute_names("#hb", "hb_until")
                .expression_attribute_values(":hb", n(until));
        }
        let result = request
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(conditions.join(" AND "))
            .send()
            .await;
        Ok(match conditional(result)? {
            Some(_) => PresenceWrite::Applied,
            None if self.advisor_exists(id).await? => PresenceWrite::Stale,
            None => PresenceWrite::UnknownAdvisor,
        })
    }

    async fn heartbeat(&self, id: &AdvisorId, until: UnixMillis) -> Result<bool, StoreError> {
        let result = self
            .update_item(keys::advisor(id), keys::PROFILE)
            .update_expression("SET #hb = :hb")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#hb) OR #hb < :hb)",
            )
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#hb", "hb_until")
            .expression_attribute_values(":hb", n(until))
            .send()
            .await;
        match conditional(result)? {
            Some(_) => Ok(true),
            // Not newer than the stored deadline: fine, if the advisor exists.
            None => self.advisor_exists(id).await,
        }
    }

    async fn reset_presence(&self, id: &AdvisorId) -> Result<bool, StoreError> {
        let mut request = self
            .update_item(keys::advisor(id), keys::PROFILE)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#hb", "hb_until");
        let mut removed = vec!["#hb".to_owned()];
        for (i, channel) in Channel::ALL.iter().enumerate() {
            let (st, ver, src) = presence_attrs(*channel);
            removed.extend([format!("#st{i}"), format!("#ver{i}"), format!("#src{i}")]);
            request = request
                .expression_attribute_names(format!("#st{i}"), st)
                .expression_attribute_names(format!("#ver{i}"), ver)
                .expression_attribute_names(format!("#src{i}"), src);
        }
        let result = request
            .update_expression(format!("REMOVE {}", removed.join(", ")))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    async fn end_sessions(&self, id: &AdvisorId) -> Result<Option<u64>, StoreError> {
        let result = self
            .update_item(keys::advisor(id), keys::PROFILE)
            .update_expression("ADD #epoch :one")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#epoch", "session_epoch")
            .expression_attribute_values(":one", n(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        let Some(out) = conditional(result)? else {
            return Ok(None);
        };
        let epoch = get_n(&returned(out.attributes)?, "session_epoch")?
            .ok_or_else(|| StoreError::Corrupt("no session epoch came back".into()))?;
        Ok(Some(epoch))
    }
}
