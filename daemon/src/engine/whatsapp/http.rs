//! whatsapp-rust's HTTP client (version fetch, media upload and download) over the daemon's own
//! reqwest, so one connection pool and one TLS stack serve every session.

use std::time::Duration;

use async_trait::async_trait;
use whatsapp_rust::http::{HttpClient, HttpRequest, HttpResponse};

/// Cheap to clone: reqwest shares its pool between clones.
#[derive(Clone)]
pub struct ReqwestHttp {
    client: reqwest::Client,
}

impl ReqwestHttp {
    pub fn new() -> anyhow::Result<ReqwestHttp> {
        // reqwest is built without a bundled provider; ring is the one in the graph.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(20))
            // Media can be large; this only stops a transfer that hangs for good.
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(ReqwestHttp { client })
    }
}

#[async_trait]
impl HttpClient for ReqwestHttp {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())?;
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        // Non-2xx answers are returned, not raised: the library retries on their status.
        let response = builder.send().await?;
        let status_code = response.status().as_u16();
        let body = response.bytes().await?.to_vec();
        Ok(HttpResponse { status_code, body })
    }
}
