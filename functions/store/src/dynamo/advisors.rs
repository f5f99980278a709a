//! Advisors, their presence, their load and their sign-in epoch.

use super::*;
use crate::AdvisorStore;

/// One source's entry for one channel: its signal, version and expiry.
fn entry_attrs(source: PresenceSource, channel: Channel) -> [String; 3] {
    let (src, ch) = (source.as_str(), channel.as_str());
    [
        format!("pres_{src}_{ch}"),
        format!("pver_{src}_{ch}"),
        format!("pexp_{src}_{ch}"),
    ]
}

/// The attributes presence was kept in before sources were told apart
/// (one state, version and source per channel); read, never written.
fn legacy_attrs(channel: Channel) -> [String; 3] {
    let c = channel.as_str();
    [format!("pst_{c}"), format!("pver_{c}"), format!("psrc_{c}")]
}

fn presence_of(item: &Item) -> Result<Presence, StoreError> {
    let mut presence = Presence {
        heartbeat_until: get_n(item, "hb_until")?,
        ..Presence::default()
    };
    for source in PresenceSource::ALL {
        for channel in Channel::ALL {
            let [sig, ver, exp] = entry_attrs(source, channel);
            if !item.contains_key(&sig) {
                continue;
            }
            let signal = get_s(item, &sig)?
                .parse()
                .map_err(|()| StoreError::Corrupt(format!("attribute {sig} is not a signal")))?;
            let update = PresenceUpdate {
                source,
                states: vec![(channel, signal)],
                version: get_n(item, &ver)?.unwrap_or(0),
                expires_at: get_n(item, &exp)?,
                heartbeat_until: None,
            };
            presence.apply(&update);
        }
    }
    // Presence stored before sources were told apart: a console or manual
    // state becomes a manual one lasting the longest a manual state may, a
    // synced one the webhook's. An entry written since takes precedence.
    for channel in Channel::ALL {
        let [st, ver, src] = legacy_attrs(channel);
        if !item.contains_key(&st) {
            continue;
        }
        let state: PresenceState = get_s(item, &st)?
            .parse()
            .map_err(|()| StoreError::Corrupt(format!("attribute {st} is not a presence state")))?;
        let version = get_n(item, &ver)?.unwrap_or(0);
        let (source, expires_at) = match get_s(item, &src)? {
            "sync" => (PresenceSource::Webhook, None),
            "console" | "manual" => (
                PresenceSource::Manual,
                Some(version.saturating_add(MAX_MANUAL_MS)),
            ),
            other => {
                return Err(StoreError::Corrupt(format!(
                    "attribute {src} names no presence source: {other}"
                )));
            }
        };
        if presence.entry(source, channel).is_none() {
            presence.apply(&PresenceUpdate {
                source,
                states: vec![(channel, state.into())],
                version,
                expires_at,
                heartbeat_until: None,
            });
        }
    }
    Ok(presence)
}

pub(super) fn advisor_record(item: &Item) -> Result<AdvisorRecord, StoreError> {
    let advisor: Advisor = json(item, "profile")?;
    let load = Load {
        active: u16::try_from(get_n(item, "active")?.unwrap_or(0)).unwrap_or(u16::MAX),
        idle_since: get_n(item, "idle_since")?.unwrap_or(0),
    };
    let effective = match item.get("eff") {
        Some(_) => Some(json(item, "eff")?),
        None => None,
    };
    Ok(AdvisorRecord {
        presence: presence_of(item)?,
        effective,
        advisor,
        load,
        session_epoch: get_n(item, "session_epoch")?.unwrap_or(0),
    })
}

impl DynamoStore {
    /// Stores the effective presence computed after source write `rev`,
    /// unless one computed after a later write is already there.
    async fn store_effective(
        &self,
        id: &AdvisorId,
        rev: u64,
        effective: &PresenceView,
    ) -> Result<(), StoreError> {
        let result = self
            .update_item(keys::advisor(id), keys::PROFILE)
            .update_expression("SET #eff = :eff, #effrev = :rev")
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#effrev) OR #effrev < :rev)",
            )
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#eff", "eff")
            .expression_attribute_names("#effrev", "eff_rev")
            .expression_attribute_values(":eff", s(to_json(effective)?))
            .expression_attribute_values(":rev", n(rev))
            .send()
            .await;
        // A later write stored its own: nothing to do.
        conditional(result)?;
        Ok(())
    }
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
        policy: &PresencePolicy,
        now: UnixMillis,
    ) -> Result<PresenceWrite, StoreError> {
        // One conditional write of the source's entries (newer versions
        // only, per channel), counting the write in `prev`; what was there
        // before comes back, so the presence after it is known exactly.
        let mut sets = vec!["#prev = if_not_exists(#prev, :zero) + :one".to_owned()];
        let mut removes = Vec::new();
        let mut conditions = vec!["attribute_exists(#pk)".to_owned()];
        let mut request = self
            .update_item(keys::advisor(id), keys::PROFILE)
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#prev", "prev")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":v", n(update.version));
        for (i, (channel, signal)) in update.states.iter().enumerate() {
            let [sig, ver, exp] = entry_attrs(update.source, *channel);
            sets.push(format!("#sig{i} = :sig{i}, #ver{i} = :v"));
            conditions.push(format!("(attribute_not_exists(#ver{i}) OR #ver{i} < :v)"));
            request = request
                .expression_attribute_names(format!("#sig{i}"), sig)
                .expression_attribute_names(format!("#ver{i}"), ver)
                .expression_attribute_names(format!("#exp{i}"), exp)
                .expression_attribute_values(format!(":sig{i}"), s(signal.as_str()));
            match update.expires_at {
                Some(_) => sets.push(format!("#exp{i} = :exp")),
                None => removes.push(format!("#exp{i}")),
            }
        }
        if let Some(at) = update.expires_at {
            request = request.expression_attribute_values(":exp", n(at));
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let result = request
            .update_expression(expression)
            .condition_expression(conditions.join(" AND "))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await;
        let Some(out) = conditional(result)? else {
            return Ok(if self.advisor_exists(id).await? {
                PresenceWrite::Stale
            } else {
                PresenceWrite::UnknownAdvisor
            });
        };
        let old = returned(out.attributes)?;
        let record = advisor_record(&old)?;
        let rev = get_n(&old, "prev")?.unwrap_or(0) + 1;
        // The item as the write left it, read the way every read reads it.
        let mut new = old;
        for (channel, signal) in &update.states {
            let [sig, ver, exp] = entry_attrs(update.source, *channel);
            new.insert(sig, s(signal.as_str()));
            new.insert(ver, n(update.version));
            match update.expires_at {
                Some(at) => new.insert(exp, n(at)),
                None => new.remove(&exp),
            };
        }
        let mut after = presence_of(&new)?;
        if let Some(until) = update.heartbeat_until {
            self.heartbeat(id, until).await?;
            after.extend_heartbeat(until);
        }
        let change = PresenceChange {
            before: PresenceView::of(&record.advisor, &record.presence, policy, now),
            after: PresenceView::of(&record.advisor, &after, policy, now),
        };
        self.store_effective(id, rev, &change.after).await?;
        Ok(PresenceWrite::Applied(change))
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
        let Some(item) = self.get_item(keys::advisor(id), keys::PROFILE).await? else {
            return Ok(false);
        };
        // Every presence attribute there is, the legacy ones included.
        let names: Vec<&String> = item
            .keys()
            .filter(|k| {
                ["pres_", "pver_", "pexp_", "pst_", "psrc_"]
                    .iter()
                    .any(|p| k.starts_with(p))
                    || ["hb_until", "eff"].contains(&k.as_str())
            })
            .collect();
        let mut request = self
            .update_item(keys::advisor(id), keys::PROFILE)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#prev", "prev")
            .expression_attribute_values(":one", n(1));
        let mut removed = Vec::new();
        for (i, name) in names.iter().enumerate() {
            removed.push(format!("#r{i}"));
            request = request.expression_attribute_names(format!("#r{i}"), name.as_str());
        }
        let mut expression = "ADD #prev :one".to_owned();
        if !removed.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
        }
        let result = request.update_expression(expression).send().await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use livecard_core::presence::Signal;

    #[test]
    fn presence_stored_before_sources_were_told_apart_reads_as_sources() {
        let item = Item::from([
            ("pst_chat".to_owned(), s("available")),
            ("pver_chat".to_owned(), n(1_000)),
            ("psrc_chat".to_owned(), s("console")),
            ("pst_audio".to_owned(), s("busy")),
            ("pver_audio".to_owned(), n(2_000)),
            ("psrc_audio".to_owned(), s("sync")),
            // Written since: the new form wins for video.
            ("pst_video".to_owned(), s("away")),
            ("pver_video".to_owned(), n(3_000)),
            ("psrc_video".to_owned(), s("manual")),
            ("pres_manual_video".to_owned(), s("offline")),
            ("pver_manual_video".to_owned(), n(4_000)),
            ("pexp_manual_video".to_owned(), n(9_000)),
            ("hb_until".to_owned(), n(5_000)),
        ]);
        let p = presence_of(&item).expect("presence");
        let entry = |source, channel| p.entry(source, channel).copied();
        assert_eq!(
            entry(PresenceSource::Manual, Channel::Chat),
            Some(livecard_core::presence::Entry {
                signal: Signal::Available,
                version: 1_000,
                expires_at: Some(1_000 + MAX_MANUAL_MS),
            })
        );
        assert_eq!(
            entry(PresenceSource::Webhook, Channel::Audio).map(|e| (e.signal, e.expires_at)),
            Some((Signal::Busy, None))
        );
        assert_eq!(
            entry(PresenceSource::Manual, Channel::Video).map(|e| (e.signal, e.version)),
            Some((Signal::Offline, 4_000))
        );
        assert_eq!(p.heartbeat_until, Some(5_000));
        let bad = Item::from([("pres_teams_chat".to_owned(), s("sleepy"))]);
        assert!(matches!(presence_of(&bad), Err(StoreError::Corrupt(_))));
    }
}
