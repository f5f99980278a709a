//! A second peer of the cold-start bench: the AWS SDK work that any function
//! with a secret and a DynamoDB table does, and nothing of livecard.
//!
//! At a cold start it builds the SDK with the functions' own set-up ([`Aws`]:
//! Lambda's environment credentials and region, the same HTTPS client,
//! retries and timeouts), a Secrets Manager client and a DynamoDB client,
//! and reads one secret. Each invocation writes one item (what a `$connect`
//! stores). No warm-up read, no parsing of the secret, no handlers: the
//! least the SDK costs, to set beside hello-world and livecard's functions.

use aws_sdk_dynamodb::types::AttributeValue;
use livecard_lambda::aws::Aws;
use livecard_lambda::env::Settings;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The functions' own configuration and SDK set-up (and nothing else of
    // theirs).
    let settings = Settings::from_env()?;
    let aws = Aws::from_env()?;
    let secrets = aws.secrets_manager();
    let dynamodb = aws.dynamodb();
    let secret = secrets
        .get_secret_value()
        .secret_id(&settings.secrets_arn)
        .send()
        .await?;
    let secret_bytes = secret.secret_string().map_or(0, str::len);
    let (dynamodb, table) = (&dynamodb, settings.table.as_str());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            dynamodb
                .put_item()
                .table_name(table)
                .item(
                    "pk",
                    AttributeValue::S(format!("floor#{}", event.context.request_id)),
                )
                .item("sk", AttributeValue::S("connection".into()))
                .item("secret_bytes", AttributeValue::N(secret_bytes.to_string()))
                .send()
                .await?;
            Ok::<_, lambda_runtime::Error>(serde_json::json!({"statusCode": 200}))
        },
    ))
    .await
}
