//! `td-oauth api` and `td-oauth whoami` against the testkit over sockets: a call and its body, a list
//! followed to its end, `--include`, `-f` fields as a JSON body, Talkdesk errors printed readably with the
//! exit status table kept, userinfo with a user's refresh token and the 400 without one; and the README's
//! commands against `td-oauth serve`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{Scratch, assert_exit, connected, run, stderr, stdout};
use td_oauth_testkit::{
    Acknowledgement, Algorithm, ClientCredentials, Fault, FaultTarget, TEST_USER_ID, TestServer, USERS_PATH,
    talkdesk_error_body,
};

struct Setup {
    server: TestServer,
    client: ClientCredentials,
    scratch: Scratch,
}

fn setup(name: &str) -> Setup {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    Setup { server, client, scratch: Scratch::new(name) }
}

impl Setup {
    fn command(&self, subcommand: &str) -> Command {
        let key = self.scratch.file("key", &self.client.private_key);
        let mut command = connected(subcommand, &self.server, &self.client, &key);
        command.args(["--api-url", self.server.base_url()]);
        command
    }
}

#[test]
fn api_prints_the_answer_and_paginates() {
    let setup = setup("api-paginate");
    setup.server.set_user_count(7);
    let output = run(setup.command("api").args(["/users?per_page=5"]));
    assert_exit(&output, 0);
    let page: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(page["count"], 5);

    let output = run(setup.command("api").args(["--paginate", "/users?per_page=3"]));
    assert_exit(&output, 0);
    let lines: Vec<serde_json::Value> = stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 7, "every item, one per line");
    assert_eq!(lines[6]["id"], format!("{:024x}", 6));
    assert_eq!(setup.server.count_path(USERS_PATH), 4, "3 + 3 + 1, then no next");

    let output = run(setup.command("api").args(["--include", "/users"]));
    assert_exit(&output, 0);
    assert!(stdout(&output).starts_with("HTTP/1.1 200 OK\n"), "{}", stdout(&output));
    assert!(stdout(&output).contains("content-type: application/json"));
}

#[test]
fn fields_make_a_json_body_and_a_post() {
    let setup = setup("api-fields");
    let output = run(setup.command("api").args([
        "/apps/app1/installations/inst1/state",
        "-f",
        "state=approve",
        "-f",
        "reason=provisioned",
    ]));
    assert_exit(&output, 0);
    assert_eq!(
        setup.server.acknowledgements(),
        vec![Acknowledgement::InstallationState {
            app_id: "app1".into(),
            installation_id: "inst1".into(),
            state: "approve".into(),
            reason: Some("provisioned".into()),
        }]
    );
    let body = setup.scratch.file("body.json", r#"{"state":"acknowledged"}"#);
    let path = "/apps/app1/installations/inst1/credentials/c1/state";
    let output = run(setup.command("api").args(["post", path, "--input"]).arg(&body));
    assert_exit(&output, 0);
    // The second acknowledgement is a 409: the Talkdesk error, readably, exit 3.
    let output = run(setup.command("api").args(["POST", path, "--input"]).arg(&body));
    assert_exit(&output, 3);
    assert!(
        stderr(&output).contains("HTTP 409") && stderr(&output).contains("already acknowledged"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn talkdesk_errors_keep_the_exit_status_table() {
    let setup = setup("api-errors");
    let body = talkdesk_error_body("0330001", "Invalid parameters", &[("per_page", "must be at most 100")]);
    setup.server.inject_on(FaultTarget::Path(USERS_PATH), Fault::body(400, "application/json", body), 1);
    let output = run(setup.command("api").args(["/users"]));
    assert_exit(&output, 3);
    let text = stderr(&output);
    assert!(
        text.starts_with("td-oauth: the Talkdesk API answered HTTP 400 Bad Request (code 0330001): Invalid parameters"),
        "{text}"
    );
    assert!(text.contains("field `per_page`: must be at most 100"), "{text}");

    setup.server.inject_on(FaultTarget::Path(USERS_PATH), Fault::status(503), 1);
    assert_exit(&run(setup.command("api").args(["/users"])), 1);
    // Refused before anything is sent: exit 2.
    let before = setup.server.request_count();
    assert_exit(&run(setup.command("api").args(["//evil.example/users"])), 2);
    assert_exit(&run(setup.command("api").args(["FETCH", "/users"])), 2);
    assert_exit(&run(setup.command("api").args(["--paginate", "POST", "/users"])), 2);
    assert_eq!(setup.server.request_count(), before);
    // No gateway: --token-url says nothing about the API.
    let key = setup.scratch.file("key2", &setup.client.private_key);
    let output = run(connected("api", &setup.server, &setup.client, &key).arg("/users"));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--api-url"), "{}", stderr(&output));
}

#[test]
fn whoami_needs_a_user_token() {
    let setup = setup("whoami");
    let output = run(&mut setup.command("whoami"));
    assert_exit(&output, 3);
    assert!(
        stderr(&output).contains("no user context") && stderr(&output).contains("refresh token"),
        "{}",
        stderr(&output)
    );

    let refresh = setup.server.issue_refresh_token(&setup.client.client_id, &["openid"]);
    let file = setup.scratch.file("refresh", &refresh);
    let output = run(setup.command("whoami").arg("--refresh-token-file").arg(&file).arg("--json"));
    assert_exit(&output, 0);
    let me: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(me["id"], TEST_USER_ID);
    assert!(!stdout(&output).contains(&refresh) && !stderr(&output).contains(&refresh));

    let refresh = setup.server.issue_refresh_token(&setup.client.client_id, &["openid"]);
    let output = run(setup.command("api").args(["/users/me"]).env("TALKDESK_REFRESH_TOKEN", &refresh));
    assert_exit(&output, 0);
    assert!(stdout(&output).contains(TEST_USER_ID));
}
