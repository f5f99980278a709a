//! Teams push at the edge: the RSA-OAEP unwrap of a notification's data key
//! with WebCrypto (`crypto.subtle`, SHA-1 as Graph encrypts), the one step
//! of `livecard_app::teams_push` that needs the private key. Everything
//! else (the client state first, the subscription, the signature, the
//! decryption) is the shared handler's.

use livecard_core::presence::teams_push::PushError;
use worker::js_sys::{self, Array, Function, Object, Promise, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;

/// The notification endpoint's path.
pub const PATH: &str = "/api/v1/connectors/teams/notifications";

/// Unwraps `wrapped` with the PKCS#8 private key.
pub async fn unwrap(pkcs8: Vec<u8>, wrapped: Vec<u8>) -> Result<Vec<u8>, PushError> {
    subtle_unwrap(&pkcs8, &wrapped)
        .await
        .map_err(|_| PushError::Decrypt)
}

fn method(target: &JsValue, name: &str) -> Result<Function, JsValue> {
    Reflect::get(target, &name.into())?.dyn_into::<Function>()
}

async fn subtle_unwrap(pkcs8: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    let subtle = Reflect::get(&crypto, &"subtle".into())?;
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"RSA-OAEP".into())?;
    Reflect::set(&algorithm, &"hash".into(), &"SHA-1".into())?;
    let args = Array::new();
    args.push(&"pkcs8".into());
    args.push(&Uint8Array::from(pkcs8));
    args.push(&algorithm);
    args.push(&JsValue::FALSE);
    args.push(&Array::of1(&"decrypt".into()));
    let imported = method(&subtle, "importKey")?.apply(&subtle, &args)?;
    let key = JsFuture::from(imported.dyn_into::<Promise>()?).await?;
    let params = Object::new();
    Reflect::set(&params, &"name".into(), &"RSA-OAEP".into())?;
    let decrypted =
        method(&subtle, "decrypt")?.call3(&subtle, &params, &key, &Uint8Array::from(wrapped))?;
    let plain = JsFuture::from(decrypted.dyn_into::<Promise>()?).await?;
    Ok(Uint8Array::new(&plain).to_vec())
}
