//! `livecard-forward`: the forwarder, triggered by the table's DynamoDB
//! stream when deliveries are made (the sweep also forwards, for retries
//! that come due).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    livecard_lambda::host::serve(|host, _event, context| async move {
        livecard_lambda::host::forward(&host, context.deadline).await
    })
    .await
}
