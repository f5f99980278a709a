//! Teams push: any body is parsed as Graph notifications or refused, any
//! encrypted content is opened or refused (never a panic), and what Graph
//! seals opens to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livecard_core::presence::teams_push;

const KEY: [u8; 32] = [9; 32];

fuzz_target!(|data: &[u8]| {
    if let Ok(notifications) = teams_push::parse_notifications(data) {
        for n in &notifications {
            let _ = teams_push::client_state_matches(
                "client-state-0123456789",
                n.client_state.as_deref(),
            );
            if let Some(content) = &n.encrypted_content {
                let _ = content.wrapped_key();
                if let Ok(plain) = content.open(&KEY) {
                    let _ = teams_push::presence_of(&plain);
                }
            }
        }
    }
    let _ = teams_push::presence_of(data);
    let sealed = teams_push::seal(&KEY, data, b"wrapped", "c1");
    assert_eq!(
        sealed.open(&KEY).as_deref(),
        Ok(data),
        "what is sealed opens"
    );
    assert!(sealed.open(&[8; 32]).is_err(), "another key never opens it");
});
