//! The JSON bodies of the public API, each read and checked as its handler
//! does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    livecard_app::fuzzing::api_bodies(data);
});
