//! Media: fetching the files applications ask to send (with limits and a `file://` policy),
//! saving received files under MEDIA_DIR, and signing links to them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("'{0}' is not a valid URL; use an http:// or https:// URL")]
    InvalidUrl(String),
    #[error("{0}")]
    Refused(String),
    #[error("the file at {url} is larger than the limit of {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("cannot fetch {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{0}")]
    WrongKind(String),
    #[error("cannot save media: {0}")]
    Io(String),
}

/// A file fetched for sending.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Bytes,
    pub mimetype: String,
    /// The last path segment of the URL, when it has one.
    pub file_name: Option<String>,
}

pub struct MediaStore {
    dir: PathBuf,
    max_bytes: u64,
    file_root: Option<PathBuf>,
    http: reqwest::Client,
    link_key: [u8; 32],
}

/// Installs rustls's ring provider once per process; reqwest is built without its own.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl MediaStore {
    pub fn new(config: &Config, link_key: [u8; 32]) -> Result<MediaStore, MediaError> {
        install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(config.media_fetch_timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("wagw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| MediaError::Io(format!("cannot build the HTTP client: {e}")))?;
        Ok(MediaStore {
            dir: config.media_dir.clone(),
            max_bytes: config.media_max_bytes,
            file_root: config.file_url_root.clone(),
            http,
            link_key,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Fetches `url` for sending. `file://` is for admin only, and only under WAGW_FILE_URL_ROOT.
    pub async fn fetch(&self, url: &str, admin: bool) -> Result<Fetched, MediaError> {
        let parsed =
            url::Url::parse(url.trim()).map_err(|_| MediaError::InvalidUrl(url.to_string()))?;
        let file_name = parsed
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|s| !s.is_empty())
            .map(percent_decode);
        match parsed.scheme() {
            "http" | "https" => self.fetch_http(parsed, file_name).await,
            "file" => self.fetch_file(&parsed, admin, file_name).await,
            _ => Err(MediaError::InvalidUrl(url.to_string())),
        }
    }

    async fn fetch_http(
        &self,
        url: url::Url,
        file_name: Option<String>,
    ) -> Result<Fetched, MediaError> {
        let shown = url.to_string();
        let unreachable = |reason: String| MediaError::Unreachable {
            url: shown.clone(),
            reason,
        };
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        if !response.status().is_success() {
            return Err(unreachable(format!(
                "the server answered {}",
                response.status()
            )));
        }
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes)
        {
            return Err(MediaError::TooLarge {
                url: shown,
                limit: self.max_bytes,
            });
        }
        let mimetype = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty() && v != "application/octet-stream");
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| unreachable(describe(&e)))?;
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(MediaError::TooLarge {
                    url: shown,
                    limit: self.max_bytes,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let mimetype = mimetype.unwrap_or_else(|| guess_mimetype(file_name.as_deref(), &body));
        Ok(Fetched {
            bytes: Bytes::from(body),
            mimetype,
            file_name,
        })
    }

    async fn fetch_file(
        &self,
        url: &url::Url,
        admin: bool,
        file_name: Option<String>,
    ) -> Result<Fetched, MediaError> {
        if !admin {
            return Err(MediaError::Refused(
                "file:// URLs are for admin only; send an http(s) URL".into(),
            ));
        }
        let Some(root) = &self.file_root else {
            return Err(MediaError::Refused(
                "file:// URLs are disabled; set WAGW_FILE_URL_ROOT to allow a directory".into(),
            ));
        };
        let path = url
            .to_file_path()
            .map_err(|()| MediaError::InvalidUrl(url.to_string()))?;
        let refused = || {
            MediaError::Refused(format!(
                "{} is not under WAGW_FILE_URL_ROOT",
                path.display()
            ))
        };
        let real = tokio::fs::canonicalize(&path)
            .await
            .map_err(|_| refused())?;
        let root = tokio::fs::canonicalize(root)
            .await
            .map_err(|e| MediaError::Io(e.to_string()))?;
        if !real.starts_with(&root) {
            return Err(refused());
        }
        let meta = tokio::fs::metadata(&real)
            .await
            .map_err(|e| MediaError::Io(e.to_string()))?;
        if meta.len() > self.max_bytes {
            return Err(MediaError::TooLarge {
                url: url.to_string(),
                limit: self.max_bytes,
            });
        }
        let body = tokio::fs::read(&real)
            .await
            .map_err(|e| MediaError::Io(e.to_string()))?;
        let mimetype = guess_mimetype(file_name.as_deref(), &body);
        Ok(Fetched {
            bytes: Bytes::from(body),
            mimetype,
            file_name,
        })
    }

    /// Saves a received file as `{id}.{ext}` (0600) and returns that file name.
    pub async fn save(
        &self,
        id: &str,
        mimetype: &str,
        file_name: Option<&str>,
        bytes: &[u8],
    ) -> Result<String, MediaError> {
        let safe_id: String = id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(64)
            .collect();
        if safe_id.is_empty() {
            return Err(MediaError::Io(format!(
                "message id '{id}' cannot name a file"
            )));
        }
        let name = format!("{safe_id}.{}", extension_for(mimetype, file_name));
        let path = self.dir.join(&name);
        let bytes = bytes.to_vec();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let tmp = path.with_extension("part");
            let written = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .and_then(|mut file| {
                    file.write_all(&bytes)?;
                    file.sync_all()
                })
                .and_then(|()| std::fs::rename(&tmp, &path));
            if written.is_err() {
                // A full disk leaves a partial file behind; never keep half a file.
                let _ = std::fs::remove_file(&tmp);
            }
            written
        })
        .await
        .map_err(|e| MediaError::Io(e.to_string()))?
        .map_err(|e| MediaError::Io(format!("{}: {e}", self.dir.display())))?;
        Ok(name)
    }

    /// The path of a saved file, or `None` for a name that could escape MEDIA_DIR.
    pub fn path_of(&self, file: &str) -> Option<PathBuf> {
        let valid = !file.is_empty()
            && file.len() <= 128
            && !file.starts_with('.')
            && file
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-');
        valid.then(|| self.dir.join(file))
    }

    fn link_mac(&self, file: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.link_key).expect("any key length");
        mac.update(format!("{file}\n{expires}").as_bytes());
        mac
    }

    /// A signature for `file` valid until `expires` (Unix seconds).
    pub fn sign(&self, file: &str, expires: i64) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.link_mac(file, expires).finalize().into_bytes())
    }

    pub fn verify(&self, file: &str, expires: i64, signature: &str) -> bool {
        if expires < crate::store::now() {
            return false;
        }
        let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        self.link_mac(file, expires).verify_slice(&raw).is_ok()
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else if error.is_redirect() {
        "too many redirects".into()
    } else {
        let mut text = error.to_string();
        if let Some(source) = std::error::Error::source(error) {
            text = format!("{text}: {source}");
        }
        text
    }
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={segment}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| segment.to_string())
}

/// Identifies common formats by their first bytes, then by file name.
pub fn guess_mimetype(file_name: Option<&str>, body: &[u8]) -> String {
    let sniffed = if body.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if body.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if body.len() >= 12 && &body[..4] == b"RIFF" && &body[8..12] == b"WEBP" {
        Some("image/webp")
    } else if body.starts_with(b"GIF8") {
        Some("image/gif")
    } else if body.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    };
    sniffed
        .map(str::to_string)
        .or_else(|| {
            file_name
                .and_then(|n| mime_guess::from_path(n).first_raw())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "application/octet-stream".to_string())
}

pub fn is_webp(body: &[u8]) -> bool {
    body.len() >= 12 && &body[..4] == b"RIFF" && &body[8..12] == b"WEBP"
}

/// The extension for a saved file: from the document name if it has one, else the mimetype.
pub fn extension_for(mimetype: &str, file_name: Option<&str>) -> String {
    let from_name = file_name
        .and_then(|n| Path::new(n).extension())
        .and_then(|e| e.to_str())
        .filter(|e| !e.is_empty() && e.len() <= 10 && e.chars().all(|c| c.is_ascii_alphanumeric()));
    if let Some(ext) = from_name {
        return ext.to_ascii_lowercase();
    }
    let base = mimetype.split(';').next().unwrap_or(mimetype).trim();
    let preferred = match base {
        "image/jpeg" => Some("jpg"),
        "audio/ogg" => Some("ogg"),
        "video/mp4" => Some("mp4"),
        "audio/mpeg" => Some("mp3"),
        "text/plain" => Some("txt"),
        _ => None,
    };
    preferred
        .map(str::to_string)
        .or_else(|| {
            mime_guess::get_mime_extensions_str(base)
                .and_then(|e| e.first())
                .map(|e| e.to_string())
        })
        .unwrap_or_else(|| "bin".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_from_names_then_mimetypes() {
        assert_eq!(extension_for("application/pdf", Some("Report.PDF")), "pdf");
        assert_eq!(extension_for("image/jpeg", None), "jpg");
        assert_eq!(extension_for("audio/ogg; codecs=opus", None), "ogg");
        assert_eq!(extension_for("image/webp", Some("noext")), "webp");
        assert_eq!(extension_for("x-unknown/thing", None), "bin");
        assert_eq!(extension_for("image/png", Some("../../evil.p/ng")), "png");
    }

    #[test]
    fn sniffing_beats_names() {
        assert_eq!(
            guess_mimetype(Some("a.txt"), b"\x89PNG\r\n\x1a\nrest"),
            "image/png"
        );
        assert_eq!(
            guess_mimetype(Some("a.docx"), b"PK.."),
            mime_guess::from_path("a.docx").first_raw().unwrap()
        );
        assert_eq!(guess_mimetype(None, b"??"), "application/octet-stream");
        assert!(is_webp(b"RIFF\0\0\0\0WEBPVP8 "));
    }

    fn store(dir: &Path) -> MediaStore {
        let vars = [("MEDIA_DIR", dir.to_str().unwrap())]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        MediaStore::new(&Config::from_vars(&vars).unwrap(), [7; 32]).unwrap()
    }

    proptest::proptest! {
        #[test]
        fn media_paths_stay_directly_under_the_directory(file in "\\PC{0,40}|[a-zA-Z0-9._/-]{0,20}") {
            let dir = Path::new("/srv/media");
            let media = MediaStore {
                dir: dir.to_path_buf(),
                max_bytes: 1,
                file_root: None,
                http: reqwest::Client::new(),
                link_key: [1; 32],
            };
            if let Some(path) = media.path_of(&file) {
                proptest::prop_assert_eq!(path.parent(), Some(dir));
                proptest::prop_assert_eq!(path.file_name().and_then(|n| n.to_str()), Some(file.as_str()));
                proptest::prop_assert!(!file.starts_with('.'));
            }
        }

        #[test]
        fn extensions_are_short_plain_words(mimetype in "\\PC{0,30}", name in proptest::option::of("\\PC{0,30}")) {
            let ext = extension_for(&mimetype, name.as_deref());
            proptest::prop_assert!(!ext.is_empty() && ext.len() <= 16, "{}", ext);
            proptest::prop_assert!(!ext.contains(['/', '\\', '.', '\0']), "{}", ext);
        }

        #[test]
        fn sniffing_never_panics(name in proptest::option::of("\\PC{0,20}"), body in proptest::collection::vec(proptest::num::u8::ANY, 0..32)) {
            proptest::prop_assert!(!guess_mimetype(name.as_deref(), &body).is_empty());
        }

        /// Only http(s) reaches the network; for users every other URL is refused up front.
        #[test]
        fn users_cannot_fetch_anything_but_http(url in "(file|ftp|gopher|data|javascript|jar|unix):\\PC{0,30}|\\PC{0,30}") {
            proptest::prop_assume!(!url.trim_start().to_ascii_lowercase().starts_with("http"));
            let dir = tempfile::tempdir().unwrap();
            let media = store(dir.path());
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let result = runtime.block_on(media.fetch(&url, false));
            proptest::prop_assert!(matches!(result, Err(MediaError::InvalidUrl(_) | MediaError::Refused(_))), "{:?}", result.map(|f| f.mimetype));
        }

        #[test]
        fn link_signatures_never_panic_and_bind_their_file(file in "[a-z0-9]{1,10}\\.jpg", signature in "\\PC{0,60}") {
            let dir = tempfile::tempdir().unwrap();
            let media = store(dir.path());
            let later = crate::store::now() + 60;
            proptest::prop_assert!(media.verify(&file, later, &media.sign(&file, later)));
            proptest::prop_assume!(signature != media.sign(&file, later));
            proptest::prop_assert!(!media.verify(&file, later, &signature));
        }
    }

    #[test]
    fn media_names_cannot_escape() {
        let dir = tempfile::tempdir().unwrap();
        let media = store(dir.path());
        assert!(media.path_of("3A50.jpg").is_some());
        for bad in ["../x", "a/b.jpg", ".hidden", "", "x\0.jpg", "..", "a%2f"] {
            assert!(media.path_of(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn signed_links_expire_and_bind_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let media = store(dir.path());
        let later = crate::store::now() + 60;
        let sig = media.sign("a.jpg", later);
        assert!(media.verify("a.jpg", later, &sig));
        assert!(!media.verify("b.jpg", later, &sig));
        assert!(!media.verify("a.jpg", later + 1, &sig));
        let past = crate::store::now() - 1;
        assert!(!media.verify("a.jpg", past, &media.sign("a.jpg", past)));
    }

    #[tokio::test]
    async fn file_urls_follow_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        let media = store(dir.path());
        let err = media
            .fetch("file:///etc/hostname", false)
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::Refused(_)), "{err}");
        let err = media.fetch("file:///etc/hostname", true).await.unwrap_err();
        assert!(err.to_string().contains("WAGW_FILE_URL_ROOT"), "{err}");
        assert!(matches!(
            media.fetch("gopher://x", true).await,
            Err(MediaError::InvalidUrl(_))
        ));
    }

    #[tokio::test]
    async fn a_failed_save_is_reported_and_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let media = store(dir.path());
        // A disk-full write without privileges: the partial file is a link to /dev/full, where
        // every write fails with ENOSPC (even for root).
        std::os::unix::fs::symlink("/dev/full", dir.path().join("3A51.part")).unwrap();
        let err = media
            .save("3A51", "image/png", None, b"png")
            .await
            .unwrap_err();
        assert!(matches!(err, MediaError::Io(_)), "{err}");
        assert!(err.to_string().contains("No space left"), "{err}");
        assert!(err.to_string().contains(&dir.path().display().to_string()));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn saved_files_are_private_and_named_by_id() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let media = store(dir.path());
        let name = media
            .save("3A/../50", "image/jpeg", None, b"jpeg")
            .await
            .unwrap();
        assert_eq!(name, "3A50.jpg");
        let mode = std::fs::metadata(dir.path().join(&name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
}
