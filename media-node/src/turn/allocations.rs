//! Allocations: granting one (the shell opens the relay socket), refreshing
//! and releasing it, and the per-user quota.

use super::*;

impl TurnServer {
    pub(super) fn allocate(
        &mut self,
        now: UnixMillis,
        five: FiveTuple,
        m: &Message,
    ) -> ClientOut<'static> {
        if let Some(id) = self.by_five.get(&five) {
            if let Some(a) = self.allocations.get(id)
                && a.allocate_txn == m.transaction_id.0
            {
                // A retransmission: the same answer again.
                return ClientOut::Reply(a.allocate_reply.clone());
            }
            let existing = self
                .by_five
                .get(&five)
                .and_then(|id| self.allocations.get(id));
            return match self.authenticate(m, now, &five, existing) {
                Ok(auth) => {
                    ClientOut::Reply(self.refuse(m, 437, "allocation_mismatch", Some(&auth.key)))
                }
                Err(reply) => ClientOut::Reply(reply),
            };
        }
        if let Some(txn) = self.pending.get(&five) {
            // Still binding: a retransmission waits for the first answer.
            if *txn == m.transaction_id.0 {
                return ClientOut::None;
            }
        }
        let auth = match self.authenticate(m, now, &five, None) {
            Ok(auth) => auth,
            Err(reply) => return ClientOut::Reply(reply),
        };
        let key = Some(&auth.key);
        match wire::requested_transport(m) {
            Some(17) => {}
            Some(_) => return ClientOut::Reply(self.refuse(m, 442, "unsupported_transport", key)),
            None => return ClientOut::Reply(self.refuse(m, 400, "no_transport", key)),
        }
        // No REQUESTED-ADDRESS-FAMILY asks for IPv4 (RFC 8656 §7.2); a
        // family the node has no relay address for is 440, not 508.
        // ADDITIONAL-ADDRESS-FAMILY (IPv6 only, never with the former) asks
        // for an IPv6 relay besides the IPv4 one.
        let (family_v6, also_v6) = match (wire::requested_family(m), wire::additional_family(m)) {
            (Ok(None) | Ok(Some(1)), Ok(None)) => (false, false),
            (Ok(Some(2)), Ok(None)) => (true, false),
            (Ok(None), Ok(Some(2))) => (false, true),
            // Both attributes, a malformed additional one, or IPv4 as the
            // additional family: 400.
            (Ok(Some(_)), Ok(Some(_))) | (_, Err(_)) | (_, Ok(Some(1))) => {
                return ClientOut::Reply(self.refuse(m, 400, "bad_request", key));
            }
            // An unknown or malformed family.
            _ => return ClientOut::Reply(self.refuse(m, 440, "address_family", key)),
        };
        if !self.settings.families.relays(family_v6) {
            return ClientOut::Reply(self.refuse(m, 440, "address_family", key));
        }
        let additional_refused = also_v6 && !self.settings.families.v6;
        let also_v6 = also_v6 && !additional_refused;
        // EVEN-PORT is honoured; reserving the next port (R bit, RFC 8656
        // §7.2) is not offered, which the RFC answers with 508.
        let even_port = match wire::even_port(m) {
            Ok(None) => false,
            Ok(Some(false)) => true,
            Ok(Some(true)) => return ClientOut::Reply(self.refuse(m, 508, "reservation", key)),
            Err(_) => return ClientOut::Reply(self.refuse(m, 400, "bad_request", key)),
        };
        if m.contains(stun::attributes::ATTR_RESERVATION_TOKEN) {
            return ClientOut::Reply(self.refuse(m, 508, "reservation", key));
        }
        if self.draining {
            return ClientOut::Reply(self.refuse(m, 508, "draining", key));
        }
        let held = self.allocations.len() + self.pending.len();
        if held >= self.settings.limits.allocations as usize {
            return ClientOut::Reply(self.refuse(m, 508, "capacity", key));
        }
        let mine = self.per_user.get(&auth.username).copied().unwrap_or(0);
        if mine >= self.settings.limits.allocations_per_user {
            return ClientOut::Reply(self.refuse(m, 486, "quota_user", key));
        }
        let lifetime_s = self.granted_lifetime(wire::lifetime(m));
        *self.per_user.entry(auth.username.clone()).or_insert(0) += 1;
        self.pending.insert(five, m.transaction_id.0);
        ClientOut::Allocate(PendingAllocation {
            five,
            family_v6,
            also_v6,
            additional_refused,
            even_port,
            username: auth.username,
            key: auth.key,
            lifetime_s,
            transaction_id: m.transaction_id.0,
        })
    }

    pub(super) fn granted_lifetime(&self, requested: Option<u32>) -> u32 {
        let limits = &self.settings.limits;
        requested
            .unwrap_or(limits.default_lifetime_s)
            .min(limits.max_lifetime_s)
            .max(limits.default_lifetime_s.min(limits.max_lifetime_s))
    }

    /// The relay socket is bound (`relay` is the address clients are told;
    /// `relay6` the IPv6 one of a dual-stack allocation, `None` when it
    /// was not asked for or could not be bound): the allocation exists, and
    /// this is the answer.
    /// The id the next [`TurnServer::allocated`] gives.
    pub fn next_allocation_id(&self) -> AllocId {
        self.next_id
    }

    pub fn allocated(
        &mut self,
        now: UnixMillis,
        pending: PendingAllocation,
        relay: SocketAddr,
        relay6: Option<SocketAddr>,
    ) -> (AllocId, Vec<u8>) {
        self.pending.remove(&pending.five);
        let id = self.next_id;
        self.next_id += 1;
        let mut m = Message::new();
        m.typ = stun::message::MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST);
        m.transaction_id = stun::agent::TransactionId(pending.transaction_id);
        let relay6 = relay6.filter(|_| pending.also_v6);
        let mut attrs = vec![Attr::XorRelayed(relay)];
        attrs.extend(relay6.map(Attr::XorRelayed));
        attrs.push(Attr::Lifetime(pending.lifetime_s));
        // The second family not allocated: 440 when the node has no IPv6
        // relay, 508 when its socket could not be bound (RFC 8656 §7.2).
        if pending.additional_refused {
            attrs.push(Attr::AddressError(2, 440));
        } else if pending.also_v6 && relay6.is_none() {
            attrs.push(Attr::AddressError(2, 508));
        }
        attrs.push(Attr::XorMapped(pending.five.client));
        attrs.push(Attr::Software(&self.settings.software));
        let reply = wire::success(&m, &attrs, Some(&pending.key));
        let rate = self.settings.limits.bandwidth_bytes_per_s;
        let bucket = || {
            rate.map(|rate| Bucket {
                tokens: rate as f64,
                at: now,
            })
        };
        self.allocations.insert(
            id,
            Allocation {
                five: pending.five,
                username: pending.username,
                key: pending.key,
                relay,
                relay6,
                expires: now + u64::from(pending.lifetime_s) * 1000,
                permissions: HashMap::default(),
                channel_peer: HashMap::default(),
                peer_channel: HashMap::default(),
                to_peer: bucket(),
                to_client: bucket(),
                allocate_txn: pending.transaction_id,
                allocate_reply: reply.clone(),
            },
        );
        self.by_five.insert(pending.five, id);
        self.metrics.allocations_created.inc();
        self.metrics.allocations.set(self.allocations.len() as i64);
        (id, reply)
    }

    /// No relay socket could be bound: the slot is given back, and this is
    /// the answer (508).
    pub fn allocation_failed(&mut self, pending: PendingAllocation) -> Vec<u8> {
        self.pending.remove(&pending.five);
        self.release_user(&pending.username);
        self.metrics.refuse("no_relay_port");
        let mut m = Message::new();
        m.typ = stun::message::MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST);
        m.transaction_id = stun::agent::TransactionId(pending.transaction_id);
        wire::error(&m, ErrorReply::new(508), &[], Some(&pending.key))
    }

    pub(super) fn release_user(&mut self, username: &str) {
        if let Some(count) = self.per_user.get_mut(username) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_user.remove(username);
            }
        }
    }

    pub(super) fn remove(&mut self, id: AllocId) -> Option<Allocation> {
        let a = self.allocations.remove(&id)?;
        self.by_five.remove(&a.five);
        let username = a.username.clone();
        self.release_user(&username);
        self.metrics.allocations.set(self.allocations.len() as i64);
        Some(a)
    }

    /// The client's allocation and its checked credentials, or the answer:
    /// 437 when it has none (once the credentials check out), else the
    /// authentication's refusal.
    pub(super) fn on_allocation(
        &self,
        now: UnixMillis,
        five: &FiveTuple,
        m: &Message,
    ) -> Result<(AllocId, Authed), Vec<u8>> {
        let Some(id) = self.by_five.get(five).copied() else {
            return Err(match self.authenticate(m, now, five, None) {
                Ok(auth) => self.refuse(m, 437, "allocation_mismatch", Some(&auth.key)),
                Err(reply) => reply,
            });
        };
        let auth = self.authenticate(m, now, five, self.allocations.get(&id))?;
        Ok((id, auth))
    }

    pub(super) fn refresh(&mut self, now: UnixMillis, five: FiveTuple, m: &Message) -> Vec<u8> {
        let (id, auth) = match self.on_allocation(now, &five, m) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        let requested = wire::lifetime(m);
        let granted = if requested == Some(0) {
            self.remove(id);
            // The shell closes its relay sockets (`take_released`).
            self.released.push(id);
            0
        } else {
            let granted = self.granted_lifetime(requested);
            if let Some(a) = self.allocations.get_mut(&id) {
                a.expires = now + u64::from(granted) * 1000;
            }
            granted
        };
        wire::success(
            m,
            &[
                Attr::Lifetime(granted),
                Attr::Software(&self.settings.software),
            ],
            Some(&auth.key),
        )
    }
}
