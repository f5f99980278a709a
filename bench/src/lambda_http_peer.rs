//! `lambda-http-peer`: livecard's HTTP function written the other way, with
//! `lambda_http` (the AWS runtime's own API Gateway adapter) in place of
//! livecard's hand-written one (`livecard_lambda::http_api`), for the cold
//! start comparison in `scripts/bench-lambda.sh` (`docs/lambda.md` says why
//! livecard keeps its own). Same cold start (`Host::from_env`), same
//! handlers; only the event and response conversion differ.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, RequestExt, service_fn};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let host = Arc::new(livecard_lambda::host::Host::from_env().await?);
    lambda_http::run(service_fn(move |request: lambda_http::Request| {
        let host = host.clone();
        async move {
            let source_ip = match request.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
                _ => None,
            };
            let (parts, body) = request.into_parts();
            let body = match body {
                Body::Empty => bytes::Bytes::new(),
                Body::Text(text) => bytes::Bytes::from(text),
                Body::Binary(data) => bytes::Bytes::from(data),
                _ => bytes::Bytes::new(),
            };
            let mut request = http::Request::from_parts(parts, body);
            if let Some(ip) = source_ip {
                request
                    .extensions_mut()
                    .insert(livecard_app::ClientAddr(ip));
            }
            let response = host.app.handle(request).await;
            let (parts, body) = response.into_parts();
            Ok::<_, Error>(http::Response::from_parts(parts, Body::from(body.to_vec())))
        }
    }))
    .await
}
