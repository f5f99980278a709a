//! Long-term credentials in the TURN REST API scheme: stateless nonces bound to
//! the client's address, the challenge, and checking a request's integrity.

use super::*;

/// The STUN long-term credential key: MD5(username:realm:password).
pub fn long_term_key(username: &str, realm: &str, password: &str) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.update(b":");
    h.update(password.as_bytes());
    h.finalize().into()
}

impl TurnServer {
    pub(super) fn nonce_mac(&self, expiry_s: u32, client: IpAddr) -> [u8; 8] {
        let mut message = expiry_s.to_be_bytes().to_vec();
        match client {
            IpAddr::V4(ip) => message.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => message.extend_from_slice(&ip.octets()),
        }
        let full = hmac_sha256(&self.settings.nonce_key, &message);
        let mut out = [0; 8];
        out.copy_from_slice(&full[..8]);
        out
    }

    /// A nonce bound to the client's address, valid for [`NONCE_TTL_MS`]:
    /// base64url of the expiry (Unix seconds) and a MAC of it and the address.
    pub(super) fn nonce(&self, now: UnixMillis, client: IpAddr) -> String {
        let expiry_s = u32::try_from((now + NONCE_TTL_MS) / 1000).unwrap_or(u32::MAX);
        let mut bytes = expiry_s.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.nonce_mac(expiry_s, client));
        b64url(&bytes)
    }

    /// `Ok(true)` fresh, `Ok(false)` stale, `Err` not ours.
    pub(super) fn check_nonce(
        &self,
        nonce: &str,
        now: UnixMillis,
        client: IpAddr,
    ) -> Result<bool, ()> {
        if nonce.len() > 32 {
            return Err(());
        }
        let bytes = b64url_decode(nonce).filter(|b| b.len() == 12).ok_or(())?;
        let expiry_s = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if !constant_time_eq(&self.nonce_mac(expiry_s, client), &bytes[4..]) {
            return Err(());
        }
        Ok(u64::from(expiry_s) * 1000 > now)
    }

    pub(super) fn challenge(
        &self,
        m: &Message,
        now: UnixMillis,
        five: &FiveTuple,
        code: u16,
    ) -> Vec<u8> {
        let nonce = self.nonce(now, five.client.ip());
        wire::error(
            m,
            ErrorReply::new(code),
            &[
                Attr::Realm(&self.settings.realm),
                Attr::Nonce(&nonce),
                Attr::Software(&self.settings.software),
            ],
            None,
        )
    }

    pub(super) fn refuse(
        &self,
        m: &Message,
        code: u16,
        reason: &'static str,
        key: Option<&[u8; 16]>,
    ) -> Vec<u8> {
        self.metrics.refuse(reason);
        wire::error(
            m,
            ErrorReply::new(code),
            &[Attr::Software(&self.settings.software)],
            key,
        )
    }

    /// Checks the long-term credentials of a request. `Err` is the answer.
    pub(super) fn authenticate(
        &self,
        m: &Message,
        now: UnixMillis,
        five: &FiveTuple,
        allocation: Option<&Allocation>,
    ) -> Result<Authed, Vec<u8>> {
        let Some(integrity) = wire::integrity_value(m) else {
            // The usual first request: tell the client the realm and a nonce.
            return Err(self.challenge(m, now, five, 401));
        };
        let (Some(username), Some(realm), Some(nonce)) = (
            wire::text(m, stun::attributes::ATTR_USERNAME),
            wire::text(m, stun::attributes::ATTR_REALM),
            wire::text(m, stun::attributes::ATTR_NONCE),
        ) else {
            self.metrics.auth_failed("incomplete");
            return Err(wire::error(m, ErrorReply::new(400), &[], None));
        };
        match self.check_nonce(&nonce, now, five.client.ip()) {
            Ok(true) => {}
            Ok(false) => {
                self.metrics.auth_failed("stale_nonce");
                return Err(self.challenge(m, now, five, 438));
            }
            Err(()) => {
                self.metrics.auth_failed("bad_nonce");
                return Err(self.challenge(m, now, five, 438));
            }
        }
        if realm != self.settings.realm {
            self.metrics.auth_failed("wrong_realm");
            return Err(self.challenge(m, now, five, 401));
        }
        // Requests on an allocation must use its username (441); its key is
        // known, so the password is not recomputed.
        let key = match allocation {
            Some(existing) => {
                if existing.username != username {
                    self.metrics.auth_failed("wrong_credentials");
                    self.metrics.refuse("wrong_credentials");
                    return Err(wire::error(m, ErrorReply::new(441), &[], None));
                }
                if !wire::integrity_ok(&m.raw, &integrity, &existing.key) {
                    self.metrics.auth_failed("bad_integrity");
                    return Err(self.challenge(m, now, five, 401));
                }
                return Ok(Authed {
                    username,
                    key: existing.key,
                });
            }
            None => {
                // New allocations need unexpired credentials. An allocation
                // outlives them (refreshes and permissions go on with the
                // same username), so a call does not drop when its
                // five-minute credentials expire.
                match check_username(&username, now) {
                    Ok(_) => {}
                    Err(TurnError::Expired) => {
                        self.metrics.auth_failed("expired");
                        return Err(self.challenge(m, now, five, 401));
                    }
                    Err(_) => {
                        self.metrics.auth_failed("malformed_username");
                        return Err(self.challenge(m, now, five, 401));
                    }
                }
                // The current secret, then the previous one (rotation).
                let settings = &self.settings;
                std::iter::once(&settings.secret)
                    .chain(settings.previous_secret.as_ref())
                    .map(|secret| {
                        let password = password_for(secret, &username);
                        long_term_key(&username, &settings.realm, &password)
                    })
                    .find(|key| wire::integrity_ok(&m.raw, &integrity, key))
            }
        };
        match key {
            Some(key) => Ok(Authed { username, key }),
            None => {
                self.metrics.auth_failed("bad_integrity");
                Err(self.challenge(m, now, five, 401))
            }
        }
    }
}
