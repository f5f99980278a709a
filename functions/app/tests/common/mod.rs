//! Test support shared by the handler tests: simulated time, repeatable
//! randomness, fixed secrets.
#![allow(dead_code)]

use livecard_app::{Clock, Random, Secrets};
use livecard_core::card::Keyring;
use std::sync::atomic::{AtomicU64, Ordering};

pub const T0: u64 = 1_795_392_000_000;

pub struct SimClock(pub AtomicU64);

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Distinct, repeatable bytes.
pub struct CountingRandom(pub AtomicU64);

impl Random for CountingRandom {
    fn fill(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let n = self
                .0
                .fetch_add(1, Ordering::SeqCst)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let bytes = n.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The admin key of the secrets document (as Terraform makes one).
pub const DOCUMENT_ADMIN_KEY: &str = "lck_generated-by-terraform-0123456789abcdef";

pub fn secrets(signing: &str) -> Secrets {
    Secrets {
        cards: Keyring::new(
            signing,
            vec![("k1".into(), vec![1; 32]), ("k2".into(), vec![2; 32])],
        )
        .expect("keyring"),
        session_key: vec![3; 32],
        visitor_key: vec![4; 32],
        presence_webhook_key: vec![5; 32],
        turn_secret: Some(vec![9; 32]),
        admin_key_sha256: Some(livecard_core::encoding::sha256_hex(
            DOCUMENT_ADMIN_KEY.as_bytes(),
        )),
    }
}

impl SimClock {
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}
