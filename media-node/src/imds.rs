//! The node's public address and id from the EC2 instance metadata service
//! (IMDSv2: a session token first, then the values), for nodes on EC2 with a
//! public IP (`external_ip = "imds"`, docs/media-node.md). A plain HTTP/1.1
//! exchange: the service is link-local and answers small bodies with a
//! Content-Length.

use std::net::IpAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The metadata service's address.
pub const DEFAULT_ENDPOINT: &str = "169.254.169.254:80";
const TIMEOUT: Duration = Duration::from_secs(2);
const MAX_RESPONSE: usize = 8 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    #[error("the instance metadata service at {0} cannot be reached: {1}")]
    Unreachable(String, String),
    #[error("the instance metadata service answered {0} for {1}")]
    Status(u16, &'static str),
    #[error("the instance metadata service's answer for {0} is not usable")]
    Malformed(&'static str),
}

async fn request(
    endpoint: &str,
    method: &str,
    path: &'static str,
    header: (&str, &str),
) -> Result<String, ImdsError> {
    let exchange = async {
        let mut stream = TcpStream::connect(endpoint).await?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 169.254.169.254\r\n{}: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            header.0, header.1
        );
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            if n == 0 || response.len() + n > MAX_RESPONSE {
                break;
            }
            response.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| ImdsError::Unreachable(endpoint.into(), "timed out".into()))?
        .map_err(|err| ImdsError::Unreachable(endpoint.into(), err.to_string()))?;
    let text = String::from_utf8(response).map_err(|_| ImdsError::Malformed(path))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(ImdsError::Malformed(path))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(ImdsError::Malformed(path))?;
    if status != 200 {
        return Err(ImdsError::Status(status, path));
    }
    Ok(body.trim().to_owned())
}

/// The instance's public IPv4 address and its instance id.
pub async fn discover(endpoint: &str) -> Result<(IpAddr, String), ImdsError> {
    const TOKEN: &str = "/latest/api/token";
    const IP: &str = "/latest/meta-data/public-ipv4";
    const ID: &str = "/latest/meta-data/instance-id";
    let token = request(
        endpoint,
        "PUT",
        TOKEN,
        ("X-aws-ec2-metadata-token-ttl-seconds", "60"),
    )
    .await?;
    if token.is_empty() || token.len() > 512 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ImdsError::Malformed(TOKEN));
    }
    let ip: IpAddr = request(endpoint, "GET", IP, ("X-aws-ec2-metadata-token", &token))
        .await?
        .parse()
        .map_err(|_| ImdsError::Malformed(IP))?;
    let id = request(endpoint, "GET", ID, ("X-aws-ec2-metadata-token", &token)).await?;
    let id_ok =
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(ImdsError::Malformed(ID));
    }
    Ok((ip, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A loopback stand-in for the metadata service: IMDSv2 rules (a PUT
    /// for the token, the token on every read).
    async fn fake_imds(public_ip: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = vec![0u8; 2048];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let (status, body) = if request.starts_with("PUT /latest/api/token ") {
                    ("200 OK", "AQAEAFakeToken==")
                } else if !request.contains("X-aws-ec2-metadata-token: AQAEAFakeToken==") {
                    ("401 Unauthorized", "")
                } else if request.starts_with("GET /latest/meta-data/public-ipv4 ") {
                    ("200 OK", public_ip)
                } else if request.starts_with("GET /latest/meta-data/instance-id ") {
                    ("200 OK", "i-0123456789abcdef0")
                } else {
                    ("404 Not Found", "")
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_the_public_address_and_id_with_a_session_token() {
        let endpoint = fake_imds("203.0.113.25").await;
        let (ip, id) = discover(&endpoint).await.expect("discovered");
        assert_eq!(ip.to_string(), "203.0.113.25");
        assert_eq!(id, "i-0123456789abcdef0");
    }

    #[tokio::test]
    async fn an_instance_without_a_public_address_is_a_clear_error() {
        let endpoint = fake_imds("").await;
        let err = discover(&endpoint).await.expect_err("no public address");
        assert!(err.to_string().contains("public-ipv4"), "{err}");
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").to_string()
        };
        let err = discover(&closed).await.expect_err("unreachable");
        assert!(err.to_string().contains("cannot be reached"), "{err}");
    }
}
