//! Identity images a deployment keeps. By default none are kept: the
//! stills go from the visitor's browser to the advisor's over the data link
//! and nowhere else. A deployment that sets `LIVECARD_RETAIN_IDENTITY_IMAGES`
//! (and has an `identity_image_key` in its secrets) lets the advisor keep the
//! stills of a consented check: each is sealed (AES-256-GCM, bound to its
//! session and record) before it reaches the store, kept for that
//! retention, and erased with the visitor's other data (`docs/privacy.md`).
//!
//! - `POST /api/v1/me/conversations/{id}/identity-images?kind=document|face`,
//!   the JPEG as the body: the advisor who has the conversation, while the
//!   visitor's consent to the check holds.
//! - `GET /api/v1/me/conversations/{id}/identity-images`: what is kept.
//! - `GET /api/v1/me/conversations/{id}/identity-images/{image}`: one image.

use super::me::signed_in;
use crate::Push;
use crate::http_util::{ApiError, json, query, query_param, response};
use crate::{App, Request, Response};
use http::{HeaderValue, StatusCode, header};
use livecard_core::identity_images::{
    ImageKind, MAX_IMAGE_BYTES, MAX_IMAGES_PER_CHECK, check_image, open, seal,
};
use livecard_core::ids::RandomId;
use livecard_core::session::IdentityState;
use livecard_store::{IdentityImage, Store};
use serde_json::json;

/// The path's last segment for the images of a conversation.
pub const SEGMENT: &str = "identity-images";

fn not_kept() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "not_kept",
        "this deployment keeps no identity images (LIVECARD_RETAIN_IDENTITY_IMAGES)",
    )
}

/// Is this the upload route? (It alone takes a body larger than JSON's.)
pub fn is_upload(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["api", "v1", "me", "conversations", _, SEGMENT]
    )
}

/// The largest body the upload route takes.
pub const MAX_UPLOAD_BYTES: usize = MAX_IMAGE_BYTES;

impl<S: Store, P: Push> App<S, P> {
    /// The key and the retention, when this deployment keeps identity
    /// images.
    pub fn identity_images_kept(
        &self,
    ) -> Option<(&[u8; livecard_core::identity_images::KEY_LEN], u64)> {
        Some((
            self.secrets.identity_image_key.as_ref()?,
            self.config.identity_image_retention_ms?,
        ))
    }
}

/// `POST …/identity-images?kind=document|face`: keeps one still of the
/// check under way.
pub async fn keep<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let me = signed_in(app, request, true).await?.advisor.id;
    let (key, retention) = app.identity_images_kept().ok_or_else(not_kept)?;
    let stored = super::console::conversation(app, &me, id, false).await?;
    let session = &stored.session;
    if session.connected_advisor() != Some(&me) {
        return Err(ApiError::not_found("no such conversation"));
    }
    let check = session
        .identity
        .as_ref()
        .filter(|c| c.state == IdentityState::Consented)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "not_consented",
                "images are kept only while the visitor's consent to a check holds",
            )
        })?;
    let kind = query_param(&query(request), "kind")
        .and_then(ImageKind::parse)
        .ok_or_else(|| ApiError::bad_request("kind is document or face"))?;
    if kind == ImageKind::Face && !check.face {
        return Err(ApiError::bad_request(
            "this check did not ask for a photo of the face",
        ));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !content_type.eq_ignore_ascii_case("image/jpeg") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the image as Content-Type: image/jpeg",
        ));
    }
    let image = request.body();
    if image.len() > MAX_IMAGE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("an identity image is at most {MAX_IMAGE_BYTES} bytes"),
        ));
    }
    check_image(image).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let number = u32::try_from(session.identity_history.len())
        .unwrap_or(u32::MAX)
        .saturating_add(1);
    let now = app.now();
    let kept = app.store.identity_images(id, now).await?;
    if kept.iter().filter(|i| i.check == number).count() >= MAX_IMAGES_PER_CHECK {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many",
            format!("at most {MAX_IMAGES_PER_CHECK} images per identity check"),
        ));
    }
    let record = IdentityImage {
        id: RandomId::from_bytes(app.random_bytes()).to_string(),
        check: number,
        kind,
        bytes: image.len() as u64,
        advisor: me,
        at: now,
        expires_at: now.saturating_add(retention),
    };
    let sealed = seal(key, app.random_bytes(), id, &record.id, image)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    app.store.put_identity_image(id, &record, &sealed).await?;
    tracing::info!(
        check = record.check,
        kind = kind.as_str(),
        bytes = record.bytes,
        "identity image kept, sealed"
    );
    Ok(json(StatusCode::CREATED, &record))
}

/// `GET …/identity-images`: the images kept of a conversation.
pub async fn list<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
) -> Result<Response, ApiError> {
    let me = signed_in(app, request, false).await?.advisor.id;
    super::console::conversation(app, &me, id, false).await?;
    let images = app.store.identity_images(id, app.now()).await?;
    Ok(json(
        StatusCode::OK,
        &json!({
            "kept": app.identity_images_kept().is_some(),
            "images": images,
        }),
    ))
}

/// `GET …/identity-images/{image}`: one image, opened.
pub async fn image<S: Store, P: Push>(
    app: &App<S, P>,
    request: &Request,
    id: &str,
    image: &str,
) -> Result<Response, ApiError> {
    let me = signed_in(app, request, false).await?.advisor.id;
    super::console::conversation(app, &me, id, false).await?;
    let missing = || ApiError::not_found("no such image");
    if RandomId::parse(image).is_err() {
        return Err(missing());
    }
    let (key, _) = app.identity_images_kept().ok_or_else(missing)?;
    let (record, sealed) = app
        .store
        .identity_image(id, image, app.now())
        .await?
        .ok_or_else(missing)?;
    let bytes = open(key, id, &record.id, &sealed).map_err(|err| {
        tracing::error!(error = %err, "a kept identity image does not open");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "sealed",
            "the image does not open with this deployment's key",
        )
    })?;
    let mut out = response(StatusCode::OK, "image/jpeg", bytes);
    let headers = out.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "inline; filename=\"identity-{}-{}.jpg\"",
        record.check,
        record.kind.as_str()
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(out)
}
