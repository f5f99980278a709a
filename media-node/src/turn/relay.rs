//! Relaying: permissions, channel bindings, and data between a client and
//! its peers, under the peer policy and the bandwidth cap.

use super::*;

impl TurnServer {
    pub(super) fn check_peer(&self, peer: SocketAddr) -> Result<(), &'static str> {
        self.settings
            .policy
            .check(peer.ip())
            .map_err(|denied| denied_reason(denied.as_str()))
    }

    pub(super) fn create_permission(
        &mut self,
        now: UnixMillis,
        five: FiveTuple,
        m: &Message,
    ) -> Vec<u8> {
        let (id, auth) = match self.on_allocation(now, &five, m) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        let peers = match wire::peer_addresses(m) {
            Ok(peers) if !peers.is_empty() => peers,
            _ => return self.refuse(m, 400, "no_peer", Some(&auth.key)),
        };
        // All or nothing: one refused address refuses the request. The
        // policy comes first, so a denied address is always a 403.
        for peer in &peers {
            if let Err(reason) = self.check_peer(*peer) {
                return self.refuse(m, 403, reason, Some(&auth.key));
            }
        }
        let relays_to = |peer: &SocketAddr| {
            self.allocations
                .get(&id)
                .is_some_and(|a| a.relays_to(*peer))
        };
        if !peers.iter().all(relays_to) {
            return self.refuse(m, 443, "peer_family", Some(&auth.key));
        }
        if let Some(a) = self.allocations.get_mut(&id) {
            for peer in peers {
                a.permissions
                    .insert(peer.ip(), now + PERMISSION_LIFETIME_MS);
            }
        }
        wire::success(
            m,
            &[Attr::Software(&self.settings.software)],
            Some(&auth.key),
        )
    }

    pub(super) fn channel_bind(
        &mut self,
        now: UnixMillis,
        five: FiveTuple,
        m: &Message,
    ) -> Vec<u8> {
        let (id, auth) = match self.on_allocation(now, &five, m) {
            Ok(found) => found,
            Err(reply) => return reply,
        };
        let key = Some(&auth.key);
        let Some(number) = wire::channel_number(m) else {
            return self.refuse(m, 400, "no_channel", key);
        };
        if !CHANNELS.contains(&number) {
            return self.refuse(m, 400, "bad_channel", key);
        }
        let peer = match wire::peer_addresses(m) {
            Ok(peers) if peers.len() == 1 => peers[0],
            _ => return self.refuse(m, 400, "no_peer", key),
        };
        if let Err(reason) = self.check_peer(peer) {
            return self.refuse(m, 403, reason, key);
        }
        if !self.allocations.get(&id).is_some_and(|a| a.relays_to(peer)) {
            return self.refuse(m, 443, "peer_family", key);
        }
        let Some(a) = self.allocations.get_mut(&id) else {
            return wire::error(m, ErrorReply::new(437), &[], key);
        };
        // A channel is bound to one peer and a peer to one channel, until
        // the binding expires.
        let live = |until: UnixMillis| until > now;
        if let Some((bound, until)) = a.channel_peer.get(&number)
            && *bound != peer
            && live(*until)
        {
            self.metrics.refuse("channel_in_use");
            return wire::error(m, ErrorReply::new(400), &[], key);
        }
        if let Some(other) = a.peer_channel.get(&peer) {
            let other_live = a
                .channel_peer
                .get(other)
                .is_some_and(|(_, until)| live(*until));
            if *other != number && other_live {
                self.metrics.refuse("peer_has_channel");
                return wire::error(m, ErrorReply::new(400), &[], key);
            }
        }
        if let Some((old_peer, _)) = a
            .channel_peer
            .insert(number, (peer, now + CHANNEL_LIFETIME_MS))
            && old_peer != peer
        {
            a.peer_channel.remove(&old_peer);
        }
        a.peer_channel.insert(peer, number);
        a.permissions
            .insert(peer.ip(), now + PERMISSION_LIFETIME_MS);
        wire::success(m, &[Attr::Software(&self.settings.software)], key)
    }

    pub(super) fn send_indication<'a>(
        &mut self,
        now: UnixMillis,
        five: FiveTuple,
        m: &Message,
        packet: &'a [u8],
    ) -> ClientOut<'a> {
        let Some(id) = self.by_five.get(&five).copied() else {
            self.metrics.drop_packet("no_allocation");
            return ClientOut::None;
        };
        let (Ok(peers), Some(range)) = (wire::peer_addresses(m), wire::data_range(packet)) else {
            self.metrics.drop_packet("bad_indication");
            return ClientOut::None;
        };
        let Some(peer) = peers.first().copied() else {
            self.metrics.drop_packet("bad_indication");
            return ClientOut::None;
        };
        self.forward_to_peer(now, id, peer, &packet[range])
    }

    pub(super) fn channel_data_from_client<'a>(
        &mut self,
        now: UnixMillis,
        five: FiveTuple,
        packet: &'a [u8],
    ) -> ClientOut<'a> {
        let Some((number, data)) = wire::channel_data(packet) else {
            self.metrics.drop_packet("bad_channel_data");
            return ClientOut::None;
        };
        let Some(id) = self.by_five.get(&five).copied() else {
            self.metrics.drop_packet("no_allocation");
            return ClientOut::None;
        };
        let peer = match self
            .allocations
            .get(&id)
            .and_then(|a| a.channel_peer.get(&number))
        {
            Some((peer, until)) if *until > now => *peer,
            _ => {
                self.metrics.drop_packet("no_channel");
                return ClientOut::None;
            }
        };
        self.forward_to_peer(now, id, peer, data)
    }

    pub(super) fn forward_to_peer<'a>(
        &mut self,
        now: UnixMillis,
        id: AllocId,
        peer: SocketAddr,
        data: &'a [u8],
    ) -> ClientOut<'a> {
        let rate = self.settings.limits.bandwidth_bytes_per_s;
        let Some(a) = self.allocations.get_mut(&id) else {
            return ClientOut::None;
        };
        if !a.permitted(peer.ip(), now) {
            self.metrics.drop_packet("no_permission");
            return ClientOut::None;
        }
        if let (Some(rate), Some(bucket)) = (rate, a.to_peer.as_mut())
            && !bucket.take(now, rate, data.len())
        {
            self.metrics.drop_packet("bandwidth");
            return ClientOut::None;
        }
        self.metrics.relayed("to_peer", data.len());
        ClientOut::ToPeer {
            alloc: id,
            peer,
            data,
        }
    }
}
