//! `livecard-sweep`: the scheduled sweep (EventBridge, every minute).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    livecard_lambda::host::serve(|host, _event, context| async move {
        livecard_lambda::host::sweep(&host, context.deadline).await
    })
    .await
}
