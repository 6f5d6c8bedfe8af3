//! Start-up, configuration errors, the error shape and authentication, against the real wagwd.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::{ADMIN, Daemon, base_env, wagwd};
use serde_json::json;

/// Runs wagwd with the test environment plus `extra`; returns (exit code, stderr).
fn run_wagwd(extra: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut env = base_env(dir.path());
    for (k, v) in extra {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    let output = Command::new(wagwd())
        .env_clear()
        .envs(env)
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_configuration_stops_with_the_variable_named_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let cases = [
        ("PORT", "abc"),
        ("WAGW_ENGINE", "baileys"),
        ("MEDIA_DIR", file.to_str().unwrap()),
        ("WEBHOOK_BASE_URL", "not-a-url"),
    ];
    for (var, value) in cases {
        let (code, stderr) = run_wagwd(&[(var, value)], &[]);
        assert_eq!(code, Some(2), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(var), "{var} named in: {stderr}");
    }
}

#[test]
fn check_config_validates_and_exits() {
    let (code, stderr) = run_wagwd(&[], &["--check-config"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, _) = run_wagwd(&[("PORT", "99999")], &["--check-config"]);
    assert_eq!(code, Some(2));
}

#[test]
fn dotenv_fills_in_but_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "WAGW_ENGINE=sandbox\nPORT=not-a-port\n",
    )
    .unwrap();
    let run = |env: &[(&str, &str)]| {
        Command::new(wagwd())
            .env_clear()
            .envs(env.iter().copied())
            .arg("--check-config")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let from_file = run(&[]);
    assert_eq!(from_file.status.code(), Some(2), "PORT from .env is read");
    let overridden = run(&[("PORT", "5999")]);
    assert_eq!(
        overridden.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&overridden.stderr)
    );
    assert!(String::from_utf8_lossy(&overridden.stdout).contains("engine=sandbox"));
}

#[tokio::test]
async fn health_errors_and_unknown_routes_have_one_shape() {
    let daemon = Daemon::start(&[]).await;
    let (status, body) = daemon.call("GET", "/health", None, None).await;
    assert_eq!((status, body), (200, json!({ "status": "ok" })));

    let (status, body) = daemon.call("GET", "/no/such/route", None, None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({ "message": "Route not found", "code": "not_found" })
    );

    let response = daemon
        .http
        .get(daemon.url("/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Basic realm=\"wagw\""), "{challenge}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");

    let response = daemon.http.get(daemon.url("/health")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn wrong_passwords_are_locked_out_with_retry_after() {
    let daemon = Daemon::start(&[]).await;
    daemon.create_user("john", "password123").await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = daemon
            .http
            .get(daemon.url("/session"))
            .basic_auth("john", Some("wrong"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // Even the right password waits out the lock when it was not verified recently.
    let (status, body) = daemon.get("/session", ("john", "password123")).await;
    assert_eq!(status, 429, "{body}");
}

#[tokio::test]
async fn a_verified_login_survives_a_lock_and_a_password_change_forgets_it() {
    let daemon = Daemon::start(&[]).await;
    let john = daemon.create_user("john", "password123").await;
    let (status, _) = daemon.get("/session", ("john", "password123")).await;
    assert_eq!(status, 200);
    for _ in 0..6 {
        daemon.get("/session", ("john", "guess")).await;
    }
    let (status, _) = daemon.get("/session", ("john", "password123")).await;
    assert_eq!(
        status, 200,
        "the owner keeps working during an attack on the name"
    );

    let id = john["id"].as_i64().unwrap();
    let (status, _) = daemon
        .call(
            "PUT",
            &format!("/admin/users/{id}/password"),
            Some(ADMIN),
            Some(json!({ "password": "newpass" })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = daemon.get("/session", ("john", "password123")).await;
    assert_ne!(status, 200, "the old password is forgotten at once");
}

/// The default admin password works only from loopback: checked through the real router with a
/// remote peer address, since a test cannot connect from another machine.
#[tokio::test]
async fn default_admin_is_refused_from_a_remote_address() {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let vars = base_env(dir.path()).into_iter().collect();
    let config = wagw_daemon::config::Config::from_vars(&vars).unwrap();
    config.prepare_directories().unwrap();
    let app = wagw_daemon::daemon::build_app(config).unwrap();
    let router = wagw_daemon::http::router(app);
    let request = |peer: &str| {
        let mut request = axum::http::Request::get("/admin/users")
            .header("authorization", "Basic YWRtaW46YWRtaW4=")
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        request
    };
    let remote = router
        .clone()
        .oneshot(request("203.0.113.9:5555"))
        .await
        .unwrap();
    assert_eq!(remote.status(), 401);
    let body = axum::body::to_bytes(remote.into_body(), 10_000)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).contains("ADMIN_PASSWORD"));
    let local = router.oneshot(request("127.0.0.1:5555")).await.unwrap();
    assert_eq!(local.status(), 200);
}
