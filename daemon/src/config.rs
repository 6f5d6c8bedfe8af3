//! Configuration: environment variables, with a `.env` file in the working directory filling in
//! whatever the real environment does not set. Every variable is documented in
//! `packaging/.env.example`; a bad value names the variable and stops the daemon.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

/// Which WhatsApp implementation sessions run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// The real network, through whatsapp-rust.
    Whatsapp,
    /// The simulated network inside the daemon.
    Sandbox,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Whatsapp => "whatsapp",
            EngineKind::Sandbox => "sandbox",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration of one wagwd process.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub admin_user: String,
    /// `None` when `ADMIN_PASSWORD` is unset: the default password, accepted from loopback only.
    pub admin_password: Option<String>,
    pub db_path: PathBuf,
    pub media_dir: PathBuf,
    pub credentials_dir: PathBuf,
    pub engine: EngineKind,
    pub socket_path: PathBuf,
    /// A group whose members may use the control socket besides root and wagwd's own uid.
    pub socket_group: Option<SocketGroup>,
    pub webhook_base_url: Option<Url>,
    /// The address applications reach wagwd on; used in signed media links.
    pub public_url: Url,
    pub auth_cache_ttl: Duration,
    pub message_retention: Duration,
    pub media_max_bytes: u64,
    pub media_fetch_timeout: Duration,
    /// The only directory admin may send `file://` media from; `None` refuses `file://`.
    pub file_url_root: Option<PathBuf>,
    pub sandbox_autoscan: Option<Duration>,
    /// Sandbox only: a fixed lifetime for every QR code instead of WhatsApp's 60 s then 20 s.
    pub sandbox_qr_ttl: Option<Duration>,
    pub restore_concurrency: usize,
    pub log_format: LogFormat,
    /// A bearer token that may read `/metrics` besides admin.
    pub metrics_token: Option<String>,
    pub webhooks: WebhookConfig,
}

/// The group `WAGW_SOCKET_GROUP` names, resolved when the configuration is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketGroup {
    pub name: String,
    pub gid: u32,
}

impl SocketGroup {
    /// Looks a group up by name, or by number when `raw` is all digits; it must exist.
    pub fn lookup(raw: &str) -> Result<SocketGroup, ConfigError> {
        use nix::unistd::{Gid, Group};
        let var = "WAGW_SOCKET_GROUP";
        let found = match raw.parse::<u32>() {
            Ok(gid) => Group::from_gid(Gid::from_raw(gid)),
            Err(_) => Group::from_name(raw),
        }
        .map_err(|e| problem(var, format!("cannot look up group '{raw}': {e}")))?;
        let group = found.ok_or_else(|| {
            problem(
                var,
                format!("there is no group '{raw}' on this system (see `getent group`)"),
            )
        })?;
        Ok(SocketGroup {
            name: group.name,
            gid: group.gid.as_raw(),
        })
    }
}

/// How webhooks are delivered.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// How long a delivery is retried before it is kept as failed.
    pub retry_for: Duration,
    /// How long delivered events are kept, for listing.
    pub retention: Duration,
    /// The first retry's delay; later ones double.
    pub first_retry: Duration,
    /// Requests in flight at once to one receiver.
    pub concurrency: usize,
    /// Signs deliveries to WEBHOOK_BASE_URL when set (`whsec_…`).
    pub base_secret: Option<String>,
    /// Whether callback URLs may point at loopback or private addresses.
    pub allow_private: bool,
}

/// The default admin password, accepted only from loopback clients.
pub const DEFAULT_ADMIN_PASSWORD: &str = "admin";

/// A configuration problem, always tied to the variable that caused it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

fn problem(var: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        problem: problem.into(),
    }
}

impl Config {
    /// Reads the process environment, then `.env` in the working directory for unset variables.
    pub fn from_env() -> Result<Config, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        if let Ok(iter) = dotenvy::from_path_iter(".env") {
            for item in iter {
                let (key, value) = item.map_err(|e| problem("(.env)", e.to_string()))?;
                vars.insert(key, value);
            }
        }
        // The real environment wins over the file.
        vars.extend(std::env::vars());
        Config::from_vars(&vars)
    }

    /// Parses and validates a set of variables, so tests need not touch the environment. Only
    /// `WAGW_SOCKET_GROUP` looks outside them (the system's group database).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let port = match get("PORT") {
            None => 5001,
            Some(raw) => raw
                .parse::<u16>()
                .map_err(|_| problem("PORT", format!("'{raw}' is not a port number (0-65535)")))?,
        };
        let host = match get("HOST") {
            None => IpAddr::from([0, 0, 0, 0]),
            Some(raw) => raw.parse().map_err(|_| {
                problem(
                    "HOST",
                    format!("'{raw}' is not an IP address (try 0.0.0.0 or 127.0.0.1)"),
                )
            })?,
        };
        let admin_user = get("ADMIN_USER").unwrap_or("admin").to_string();
        if admin_user.contains(':') {
            return Err(problem(
                "ADMIN_USER",
                "must not contain ':' (HTTP Basic auth splits on it)",
            ));
        }
        let admin_password = get("ADMIN_PASSWORD").map(str::to_string);

        let engine = match get("WAGW_ENGINE").unwrap_or("whatsapp") {
            "whatsapp" => EngineKind::Whatsapp,
            "sandbox" => EngineKind::Sandbox,
            other => {
                return Err(problem(
                    "WAGW_ENGINE",
                    format!("unknown engine '{other}' (use 'whatsapp' or 'sandbox')"),
                ));
            }
        };

        let webhook_base_url = get("WEBHOOK_BASE_URL")
            .map(|raw| parse_http_url("WEBHOOK_BASE_URL", raw))
            .transpose()?;
        let public_url = match get("WAGW_PUBLIC_URL") {
            Some(raw) => parse_http_url("WAGW_PUBLIC_URL", raw)?,
            None => {
                let shown = if host.is_unspecified() {
                    "127.0.0.1".to_string()
                } else {
                    host.to_string()
                };
                let shown = if host.is_ipv6() {
                    format!("[{shown}]")
                } else {
                    shown
                };
                Url::parse(&format!("http://{shown}:{port}/"))
                    .map_err(|e| problem("WAGW_PUBLIC_URL", e.to_string()))?
            }
        };

        let sandbox_autoscan = get("WAGW_SANDBOX_AUTOSCAN_MS")
            .map(|raw| parse_u64("WAGW_SANDBOX_AUTOSCAN_MS", raw).map(Duration::from_millis))
            .transpose()?;
        if sandbox_autoscan.is_some() && engine != EngineKind::Sandbox {
            return Err(problem(
                "WAGW_SANDBOX_AUTOSCAN_MS",
                "only applies with WAGW_ENGINE=sandbox",
            ));
        }
        let sandbox_qr_ttl = get("WAGW_SANDBOX_QR_TTL_MS")
            .map(|raw| parse_u64("WAGW_SANDBOX_QR_TTL_MS", raw).map(Duration::from_millis))
            .transpose()?;
        if sandbox_qr_ttl.is_some_and(|ttl| ttl.is_zero()) {
            return Err(problem("WAGW_SANDBOX_QR_TTL_MS", "must be at least 1"));
        }

        let log_format = match get("LOG_FORMAT").unwrap_or("text") {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(problem(
                    "LOG_FORMAT",
                    format!("'{other}' is not 'text' or 'json'"),
                ));
            }
        };

        let restore_concurrency = parse_u64(
            "WAGW_RESTORE_CONCURRENCY",
            get("WAGW_RESTORE_CONCURRENCY").unwrap_or("64"),
        )?;
        if restore_concurrency == 0 {
            return Err(problem("WAGW_RESTORE_CONCURRENCY", "must be at least 1"));
        }

        let webhooks = webhook_config(&get)?;

        Ok(Config {
            host,
            port,
            admin_user,
            admin_password,
            db_path: PathBuf::from(get("DB_PATH").unwrap_or("./wa_gateway.db")),
            media_dir: PathBuf::from(get("MEDIA_DIR").unwrap_or("./media")),
            credentials_dir: PathBuf::from(get("CREDENTIALS_DIR").unwrap_or("./wa_credentials")),
            engine,
            socket_path: get("WAGW_SOCKET")
                .map(PathBuf::from)
                .unwrap_or_else(wagw_proto::socket_path),
            socket_group: get("WAGW_SOCKET_GROUP")
                .map(SocketGroup::lookup)
                .transpose()?,
            webhook_base_url,
            public_url,
            auth_cache_ttl: Duration::from_secs(parse_u64(
                "WAGW_AUTH_CACHE_SECS",
                get("WAGW_AUTH_CACHE_SECS").unwrap_or("60"),
            )?),
            message_retention: Duration::from_secs(
                parse_u64(
                    "WAGW_MESSAGE_RETENTION_DAYS",
                    get("WAGW_MESSAGE_RETENTION_DAYS").unwrap_or("30"),
                )? * 86_400,
            ),
            media_max_bytes: parse_u64(
                "WAGW_MEDIA_MAX_BYTES",
                get("WAGW_MEDIA_MAX_BYTES").unwrap_or("104857600"),
            )?,
            media_fetch_timeout: Duration::from_secs(parse_u64(
                "WAGW_MEDIA_FETCH_TIMEOUT_SECS",
                get("WAGW_MEDIA_FETCH_TIMEOUT_SECS").unwrap_or("60"),
            )?),
            file_url_root: get("WAGW_FILE_URL_ROOT").map(PathBuf::from),
            sandbox_autoscan,
            sandbox_qr_ttl,
            restore_concurrency: restore_concurrency as usize,
            log_format,
            metrics_token: get("WAGW_METRICS_TOKEN").map(str::to_string),
            webhooks,
        })
    }

    /// Checks that every path the daemon writes to is usable, creating missing directories
    /// with owner-only permissions. Run before anything else so a bad path fails at once.
    pub fn prepare_directories(&self) -> Result<(), ConfigError> {
        let db_dir = match self.db_path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        ensure_private_dir("DB_PATH", &db_dir)?;
        if self.db_path.is_dir() {
            return Err(problem(
                "DB_PATH",
                format!("{} is a directory, not a file", self.db_path.display()),
            ));
        }
        ensure_private_dir("MEDIA_DIR", &self.media_dir)?;
        ensure_private_dir("CREDENTIALS_DIR", &self.credentials_dir)?;
        if let Some(root) = &self.file_url_root
            && !root.is_dir()
        {
            return Err(problem(
                "WAGW_FILE_URL_ROOT",
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(())
    }

    /// Whether admin is still on the built-in default password.
    pub fn admin_uses_default_password(&self) -> bool {
        self.admin_password.is_none()
    }
}

fn webhook_config<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<WebhookConfig, ConfigError> {
    let hours = parse_u64(
        "WAGW_WEBHOOK_RETRY_HOURS",
        get("WAGW_WEBHOOK_RETRY_HOURS").unwrap_or("24"),
    )?;
    if !(1..=720).contains(&hours) {
        return Err(problem(
            "WAGW_WEBHOOK_RETRY_HOURS",
            format!("{hours} is outside 1-720 hours"),
        ));
    }
    let days = parse_u64(
        "WAGW_WEBHOOK_RETENTION_DAYS",
        get("WAGW_WEBHOOK_RETENTION_DAYS").unwrap_or("7"),
    )?;
    if !(1..=3650).contains(&days) {
        return Err(problem(
            "WAGW_WEBHOOK_RETENTION_DAYS",
            format!("{days} is outside 1-3650 days"),
        ));
    }
    let first_ms = parse_u64(
        "WAGW_WEBHOOK_FIRST_RETRY_MS",
        get("WAGW_WEBHOOK_FIRST_RETRY_MS").unwrap_or("1000"),
    )?;
    if !(10..=3_600_000).contains(&first_ms) {
        return Err(problem(
            "WAGW_WEBHOOK_FIRST_RETRY_MS",
            format!("{first_ms} is outside 10-3600000 ms"),
        ));
    }
    let concurrency = parse_u64(
        "WAGW_WEBHOOK_CONCURRENCY",
        get("WAGW_WEBHOOK_CONCURRENCY").unwrap_or("16"),
    )?;
    if !(1..=1024).contains(&concurrency) {
        return Err(problem(
            "WAGW_WEBHOOK_CONCURRENCY",
            format!("{concurrency} is outside 1-1024"),
        ));
    }
    let base_secret = get("WAGW_WEBHOOK_BASE_SECRET").map(str::to_string);
    if let Some(secret) = &base_secret {
        use base64::Engine as _;
        let key = secret
            .strip_prefix("whsec_")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        if key.is_none_or(|k| !(24..=64).contains(&k.len())) {
            return Err(problem(
                "WAGW_WEBHOOK_BASE_SECRET",
                "must be 'whsec_' followed by base64 of 24 to 64 bytes",
            ));
        }
    }
    let allow_private = match get("WAGW_WEBHOOK_ALLOW_PRIVATE").unwrap_or("true") {
        "true" | "1" | "yes" => true,
        "false" | "0" | "no" => false,
        other => {
            return Err(problem(
                "WAGW_WEBHOOK_ALLOW_PRIVATE",
                format!("'{other}' is not true or false"),
            ));
        }
    };
    Ok(WebhookConfig {
        retry_for: Duration::from_secs(hours * 3600),
        retention: Duration::from_secs(days * 86_400),
        first_retry: Duration::from_millis(first_ms),
        concurrency: concurrency as usize,
        base_secret,
        allow_private,
    })
}

fn parse_u64(var: &'static str, raw: &str) -> Result<u64, ConfigError> {
    raw.parse()
        .map_err(|_| problem(var, format!("'{raw}' is not a whole number")))
}

fn parse_http_url(var: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| problem(var, format!("'{raw}' is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(problem(
            var,
            format!("'{raw}' must be an http:// or https:// URL"),
        ));
    }
    Ok(url)
}

/// Creates `dir` (0700) if needed and proves it writable by creating and removing a file.
fn ensure_private_dir(var: &'static str, dir: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                problem(
                    var,
                    format!("cannot create directory {}: {e}", dir.display()),
                )
            })?;
    }
    if !dir.is_dir() {
        return Err(problem(
            var,
            format!("{} is not a directory", dir.display()),
        ));
    }
    let probe = dir.join(format!(".wagw-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| {
        problem(
            var,
            format!("directory {} is not writable: {e}", dir.display()),
        )
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    proptest::proptest! {
        /// Any value of any variable gives a config or an error naming the variable; never a panic.
        #[test]
        fn any_value_is_accepted_or_named(
            name in proptest::sample::select(vec![
                "PORT", "HOST", "ADMIN_USER", "WAGW_ENGINE", "WAGW_AUTH_CACHE_SECS",
                "WAGW_MEDIA_MAX_BYTES", "WAGW_MEDIA_FETCH_TIMEOUT_SECS", "WEBHOOK_BASE_URL",
                "WAGW_PUBLIC_URL", "WAGW_WEBHOOK_CONCURRENCY", "WAGW_WEBHOOK_RETRY_HOURS",
                "WAGW_WEBHOOK_FIRST_RETRY_MS", "WAGW_WEBHOOK_RETENTION_DAYS", "WAGW_WEBHOOK_BASE_SECRET",
                "WAGW_WEBHOOK_ALLOW_PRIVATE", "WAGW_SANDBOX_AUTOSCAN_MS", "WAGW_SANDBOX_QR_TTL_MS",
                "LOG_FORMAT",
            ]),
            value in "\\PC{0,30}|[0-9]{1,25}|-[0-9]{1,5}",
        ) {
            if let Err(error) = Config::from_vars(&vars(&[("WAGW_ENGINE", "sandbox"), (name, value.as_str())])) {
                proptest::prop_assert!(error.to_string().contains(name) || name == "WAGW_ENGINE", "{}", error);
            }
        }

        #[test]
        fn ports_round_trip(port in proptest::num::u16::ANY) {
            let config = Config::from_vars(&vars(&[("PORT", &format!(" {port} "))])).unwrap();
            proptest::prop_assert_eq!(config.port, port);
        }
    }

    #[test]
    fn defaults_match_the_seed_gateway() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.port, 5001);
        assert_eq!(config.admin_user, "admin");
        assert!(config.admin_uses_default_password());
        assert_eq!(config.db_path, PathBuf::from("./wa_gateway.db"));
        assert_eq!(config.engine, EngineKind::Whatsapp);
        assert_eq!(config.public_url.as_str(), "http://127.0.0.1:5001/");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            ("PORT", "abc"),
            ("PORT", "70000"),
            ("HOST", "example.com"),
            ("WAGW_ENGINE", "baileys"),
            ("WEBHOOK_BASE_URL", "ftp://x"),
            ("WEBHOOK_BASE_URL", "not a url"),
            ("LOG_FORMAT", "xml"),
            ("WAGW_AUTH_CACHE_SECS", "-1"),
            ("WAGW_RESTORE_CONCURRENCY", "0"),
            ("ADMIN_USER", "a:b"),
        ];
        for (var, value) in cases {
            let err = Config::from_vars(&vars(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var, "{var}={value} blamed {err}");
        }
    }

    #[test]
    fn webhook_settings_have_defaults_and_bounds() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.webhooks.retry_for, Duration::from_secs(24 * 3600));
        assert_eq!(config.webhooks.retention, Duration::from_secs(7 * 86_400));
        assert!(config.webhooks.allow_private);
        assert!(config.webhooks.base_secret.is_none());
        let set = Config::from_vars(&vars(&[
            ("WAGW_WEBHOOK_RETRY_HOURS", "2"),
            ("WAGW_WEBHOOK_ALLOW_PRIVATE", "false"),
        ]))
        .unwrap();
        assert_eq!(set.webhooks.retry_for, Duration::from_secs(7200));
        assert!(!set.webhooks.allow_private);
        let cases = [
            ("WAGW_WEBHOOK_RETRY_HOURS", "0"),
            ("WAGW_WEBHOOK_RETRY_HOURS", "721"),
            ("WAGW_WEBHOOK_RETRY_HOURS", "x"),
            ("WAGW_WEBHOOK_RETENTION_DAYS", "0"),
            ("WAGW_WEBHOOK_FIRST_RETRY_MS", "1"),
            ("WAGW_WEBHOOK_CONCURRENCY", "0"),
            ("WAGW_WEBHOOK_BASE_SECRET", "whsec_short"),
            ("WAGW_WEBHOOK_ALLOW_PRIVATE", "maybe"),
        ];
        for (var, value) in cases {
            let err = Config::from_vars(&vars(&[(var, value)])).unwrap_err();
            assert_eq!(err.var, var, "{var}={value} blamed {err}");
        }
    }

    #[test]
    fn the_socket_group_must_exist() {
        assert_eq!(Config::from_vars(&vars(&[])).unwrap().socket_group, None);
        // Group 0 is root on every Unix; look it up by number and by its name.
        let by_gid = Config::from_vars(&vars(&[("WAGW_SOCKET_GROUP", "0")])).unwrap();
        let root = by_gid.socket_group.unwrap();
        assert_eq!(root.gid, 0);
        let by_name =
            Config::from_vars(&vars(&[("WAGW_SOCKET_GROUP", root.name.as_str())])).unwrap();
        assert_eq!(by_name.socket_group, Some(root));
        for missing in ["no-such-group-wagw", "4294967290"] {
            let err = Config::from_vars(&vars(&[("WAGW_SOCKET_GROUP", missing)])).unwrap_err();
            assert_eq!(err.var, "WAGW_SOCKET_GROUP");
            assert!(
                err.problem.contains(&format!("no group '{missing}'")),
                "{err}"
            );
        }
    }

    #[test]
    fn autoscan_requires_the_sandbox() {
        let err = Config::from_vars(&vars(&[("WAGW_SANDBOX_AUTOSCAN_MS", "10")])).unwrap_err();
        assert_eq!(err.var, "WAGW_SANDBOX_AUTOSCAN_MS");
        let ok = Config::from_vars(&vars(&[
            ("WAGW_ENGINE", "sandbox"),
            ("WAGW_SANDBOX_AUTOSCAN_MS", "10"),
        ]))
        .unwrap();
        assert_eq!(ok.sandbox_autoscan, Some(Duration::from_millis(10)));
    }

    #[test]
    fn unwritable_directory_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let config = Config::from_vars(&vars(&[
            ("DB_PATH", dir.path().join("db").to_str().unwrap()),
            ("MEDIA_DIR", file.to_str().unwrap()),
        ]))
        .unwrap();
        let err = config.prepare_directories().unwrap_err();
        assert_eq!(err.var, "MEDIA_DIR");
    }

    #[test]
    fn directories_are_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("m/n");
        let config = Config::from_vars(&vars(&[
            ("DB_PATH", dir.path().join("db/x.db").to_str().unwrap()),
            ("MEDIA_DIR", media.to_str().unwrap()),
            ("CREDENTIALS_DIR", dir.path().join("c").to_str().unwrap()),
        ]))
        .unwrap();
        config.prepare_directories().unwrap();
        let mode = std::fs::metadata(&media).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
