//! `livecard-http`: the HTTP API function (pages, widget, JSON API).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    livecard_lambda::host::serve(|host, event, _context| async move {
        Ok::<_, lambda_runtime::Error>(livecard_lambda::http_api::handle(&host, event).await)
    })
    .await
}
