//! `livecard-ws`: the WebSocket API function (`$connect`, `$default`,
//! `$disconnect`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    livecard_lambda::host::serve(|host, event, _context| async move {
        Ok::<_, lambda_runtime::Error>(livecard_lambda::ws_api::handle(&host, event).await)
    })
    .await
}
