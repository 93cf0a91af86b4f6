//! `td-oauth token` through a proxy that refuses or is down, with the proxy variables set on the command
//! only: a 407 or 403 to CONNECT is exit status 4, asked once; a proxy that is down is exit status 1 and
//! named; a proxy URL with a bare `@` in its password is exit status 2 before anything is sent, without
//! the password.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use td_oauth_testkit::{Algorithm, ConnectProxy, TOKEN_PATH, TestServer};

mod common;

use common::{Scratch, assert_exit, connected, run, stderr};

/// No proxy variable from the test's own environment reaches the command.
fn without_proxies(command: &mut Command) -> &mut Command {
    for name in
        ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"]
    {
        command.env_remove(name);
    }
    command
}

#[test]
fn a_refusing_proxy_is_exit_status_4_a_down_one_1_and_a_bad_url_2() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("proxy");
    let key_file = scratch.file("client.key", &client.private_key);
    // The testkit's token URL is http://127.0.0.1: http_proxy is the variable for it.
    for status in [407, 403] {
        let proxy = ConnectProxy::start_refusing(status).unwrap();
        let mut command = connected("token", &server, &client, &key_file);
        let output = run(without_proxies(&mut command).env("http_proxy", proxy.url()));
        assert_exit(&output, 4);
        assert!(stderr(&output).contains(&format!("HTTP {status}")) && stderr(&output).contains(&proxy.url()));
        assert_eq!(proxy.connects().len(), 1, "not retried");
    }

    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let down_url = format!("http://127.0.0.1:{}", down.port());
    let mut command = connected("token", &server, &client, &key_file);
    let output = run(without_proxies(&mut command).env("http_proxy", &down_url));
    assert_exit(&output, 1);
    assert!(stderr(&output).contains(&format!("the proxy {down_url} failed")), "{}", stderr(&output));

    let proxy = ConnectProxy::start().unwrap();
    let bad = proxy.url().replacen("http://", "http://bob:pa@ss@", 1);
    let mut command = connected("token", &server, &client, &key_file);
    let output = run(without_proxies(&mut command).env("ALL_PROXY", &bad));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("%40") && !stderr(&output).contains("pa@ss"), "{}", stderr(&output));
    assert!(proxy.connects().is_empty() && proxy.refused().is_empty());
    assert_eq!(server.count_path(TOKEN_PATH), 0, "no request reached the token endpoint");
}
