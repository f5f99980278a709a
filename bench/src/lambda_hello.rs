//! The peer of the cold-start bench: a hello-world `lambda_runtime` function,
//! built the same way as livecard's functions.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            Ok::<_, lambda_runtime::Error>(
                serde_json::json!({"statusCode": 200, "body": "hello", "echo": event.payload}),
            )
        },
    ))
    .await
}
