//! The fixture itself: the registry comes up behind TLS and basic auth,
//! answers a client nobody here wrote (curl), and is gone once dropped.

use std::process::Command;

use galette_test_servers::{Registry, RegistryOptions};

fn curl_status(registry: &Registry, user: Option<&str>) -> String {
    let mut curl = Command::new("curl");
    curl.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"]).arg(registry.ca_file());
    if let Some(user) = user {
        curl.args(["-u", user]);
    }
    let output = curl.arg(format!("{}/v2/", registry.url())).output().expect("running curl");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn registry_serves_tls_with_basic_auth_and_stops() {
    let registry = Registry::start(RegistryOptions::default());
    let (user, password) = registry.credentials().expect("basic auth is on by default");
    assert_eq!(curl_status(&registry, None), "401", "{}", registry.log());
    assert_eq!(curl_status(&registry, Some(&format!("{user}:{password}"))), "200", "{}", registry.log());
    assert_eq!(curl_status(&registry, Some(&format!("{user}:wrong"))), "401");
    assert!(registry.requests("GET", "/v2/") >= 3, "the access log counts requests:\n{}", registry.log());
    let address = registry.address();
    registry.stop();
    let after = Command::new("curl").args(["-s", "-k", &format!("https://{address}/v2/")]).status().expect("curl");
    assert!(!after.success(), "the registry still answers after stop");
}

#[test]
fn registry_serves_plain_http_anonymously() {
    let registry = Registry::start(RegistryOptions { tls: false, basic_auth: false });
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("{}/v2/", registry.url())])
        .output()
        .expect("running curl");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "200", "{}", registry.log());
}

#[test]
fn registry_with_a_token_service_takes_its_tokens() {
    let registry = Registry::start_with_token_service();
    let (user, password) = registry.credentials().unwrap();
    let curl = |args: &[&str]| {
        let output = Command::new("curl")
            .args(["-s", "--cacert"])
            .arg(registry.ca_file())
            .args(args)
            .output()
            .expect("running curl");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let challenge = curl(&["-D", "-", "-o", "/dev/null", &format!("{}/v2/fleet/chain/tags/list", registry.url())]);
    assert!(challenge.contains("Bearer realm="), "{challenge}");
    let realm =
        format!("https://127.0.0.1:{}/token", challenge.split("127.0.0.1:").nth(1).unwrap().split('/').next().unwrap());
    let url = format!("{realm}?service=galette-test-registry&scope=repository:fleet/chain:pull");
    let refused = curl(&["-o", "/dev/null", "-w", "%{http_code}", &url]);
    assert_eq!(refused, "401");
    let answer = curl(&["-u", &format!("{user}:{password}"), &url]);
    let token = answer.split("\"token\":\"").nth(1).and_then(|rest| rest.split('"').next()).expect(&answer).to_owned();
    let status = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!("Authorization: Bearer {token}"),
        &format!("{}/v2/fleet/chain/tags/list", registry.url()),
    ]);
    assert_eq!(status, "404", "the token is accepted (the repository does not exist yet):\n{}", registry.log());
    assert_eq!(registry.token_requests(), 2);
}
