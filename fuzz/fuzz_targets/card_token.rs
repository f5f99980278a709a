//! Card tokens: any text a link can carry, and any payload behind a valid
//! MAC (what a leaked signing key would let through): never a panic, and a
//! token that verifies re-signs to the same claims.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecard_core::card::{Keyring, MAC_LEN, TOKEN_VERSION};
use livecard_core::encoding::{b64url, hmac_sha256};

const NOW: u64 = 1_795_392_000_000;
const KEY: [u8; 32] = [1; 32];

fuzz_target!(|data: &[u8]| {
    let Ok(ring) = Keyring::new("k1", vec![("k1".into(), KEY.to_vec())]) else {
        return;
    };
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = ring.verify(token, NOW);
    }
    // The payload decoder, reached past the MAC.
    let signed = format!("{TOKEN_VERSION}.k1.{}", b64url(data));
    let mac = hmac_sha256(&KEY, signed.as_bytes());
    let token = format!("{signed}.{}", b64url(&mac[..MAC_LEN]));
    if let Ok(claims) = ring.verify(&token, NOW) {
        let again = ring.sign(&claims);
        assert_eq!(ring.verify(&again, NOW).ok(), Some(claims));
    }
});
