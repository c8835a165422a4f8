//! End to end: the control socket of `galette run`, and `galette status`
//! and `galette reload` through it, with the chain attached to a veth pair
//! in test namespaces. Every test has its own control directory
//! (`--run-dir`), which it owns so it can look at what is left there.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use galette::control::{AttachedInterface, ReloadOutcome, StatusReport};
use galette_bundle::Bundle;
use galette_testbed::{VethPair, VethSide, attach_xdp_pass, probe_reflector, xdp_program_attached};

use crate::support::{RunningGalette, example_bundle, galette};

const FRAMES: u32 = 200;

/// `galette ARGS...` with `run_dir` as its control directory.
fn galette_in(run_dir: &Path, arguments: &[&str]) -> Output {
    galette().env("GALETTE_RUN_DIR", run_dir).args(arguments).output().unwrap()
}

fn reload_in(run_dir: &Path, bundle: &Path, arguments: &[&str]) -> Output {
    galette().env("GALETTE_RUN_DIR", run_dir).arg("reload").arg(bundle).args(arguments).output().unwrap()
}

/// `galette status --json ARGS...`, read back.
fn status_in(run_dir: &Path, arguments: &[&str]) -> StatusReport {
    let output = galette_in(run_dir, &[&["status", "--json"], arguments].concat());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "galette status: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|err| panic!("galette status --json printed {stdout:?}: {err}"))
}

/// `galette run BUNDLE --iface IF --run-dir DIR` in `side`'s namespace,
/// attached.
fn run_on(side: &VethSide, bundle: &Path, run_dir: &Path) -> RunningGalette {
    let arguments = ["--run-dir", run_dir.to_str().unwrap()];
    let mut running = RunningGalette::start_with(side.namespace(), bundle, side.interface(), &arguments);
    running.wait_attached(side.namespace(), side.interface());
    running
}

fn assert_fails_with(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(expected), "expected {expected:?} in:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn assert_stops_cleanly(running: RunningGalette) -> String {
    let output = running.stop_with(libc::SIGINT);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A copy of `bundle` with the last byte of its object flipped.
fn tampered_copy(bundle: &Path, into: &Path) -> PathBuf {
    let copy = into.join("tampered.bundle");
    std::fs::create_dir_all(copy.join("xdp")).unwrap();
    for file in ["manifest.json", "xdp/chain.o"] {
        std::fs::copy(bundle.join(file), copy.join(file)).unwrap();
    }
    let mut object = std::fs::read(copy.join("xdp/chain.o")).unwrap();
    let last = object.len() - 1;
    object[last] ^= 0xff;
    std::fs::write(copy.join("xdp/chain.o"), object).unwrap();
    copy
}

#[test]
fn status_answers_with_the_bundle_digest_and_interfaces_and_the_files_go_with_the_run() {
    let bundle = example_bundle("macswap");
    let pair = VethPair::create("e2e-cstat").unwrap();
    let side = pair.a();
    let temp = tempfile::tempdir().unwrap();
    // Not there yet: `galette run` makes it, for root alone.
    let run_dir = temp.path().join("galette");
    let running = run_on(side, &bundle, &run_dir);

    assert_eq!(mode(&run_dir), 0o700);
    assert_eq!(mode(&run_dir.join("macswap.sock")), 0o600);
    assert!(run_dir.join("macswap.json").is_file());
    let digest = Bundle::open(&bundle).unwrap().digest;
    // The only chain running, the one on the interface, the one named.
    for which in [&[][..], &["--iface", side.interface()], &["--chain", "macswap"]] {
        let status = status_in(&run_dir, which);
        assert_eq!(status.chain, "macswap");
        assert_eq!(status.digest, digest, "{which:?}");
        assert_eq!(status.bundle, std::fs::canonicalize(&bundle).unwrap());
        assert_eq!(status.interfaces, [AttachedInterface { interface: side.interface().into(), role: None }]);
        assert!(status.reloads.is_empty(), "{status:?}");
    }
    let text = galette_in(&run_dir, &["status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("digest:        {digest}\n")), "{text}");
    assert!(text.contains(&format!("interfaces:    {}\n", side.interface())), "{text}");
    assert!(text.contains("reloads:       none\n"), "{text}");

    let stdout = assert_stops_cleanly(running);
    assert!(
        stdout.contains(&format!("galette: control socket {}", run_dir.join("macswap.sock").display())),
        "{stdout}"
    );
    assert_eq!(files_in(&run_dir), Vec::<PathBuf>::new(), "the socket and the state file are gone");
    assert_fails_with(&galette_in(&run_dir, &["status"]), "no chain is running");
}

#[test]
fn a_tampered_bundle_is_refused_before_the_runtime_is_asked_and_traffic_flows() {
    let bundle = example_bundle("macswap");
    let pair = VethPair::create("e2e-ctamp").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    // XDP_TX frames only reach a veth peer that has an XDP program itself.
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let run_dir = tempfile::tempdir().unwrap();
    let running = run_on(gateway, &bundle, run_dir.path());
    let copies = tempfile::tempdir().unwrap();
    let tampered = tampered_copy(&bundle, copies.path());

    for which in [&[][..], &["--chain", "macswap"]] {
        let output = reload_in(run_dir.path(), &tampered, which);
        assert_fails_with(&output, "cannot use bundle: artifact xdp/chain.o does not match its sha256");
    }
    // The running chain never heard of it.
    assert!(status_in(run_dir.path(), &[]).reloads.is_empty());
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    assert_eq!(report.swapped, FRAMES, "{report:?}");
    let stdout = assert_stops_cleanly(running);
    assert!(!stdout.contains("galette: reload"), "{stdout}");
}

#[test]
fn without_a_running_chain_reload_and_status_say_what_they_looked_for_and_where() {
    let run_dir = tempfile::tempdir().unwrap();
    let dir = run_dir.path().display();
    let output = reload_in(run_dir.path(), &example_bundle("macswap"), &[]);
    assert_fails_with(
        &output,
        &format!("no chain `macswap` is running: there is no control socket {dir}/macswap.sock"),
    );
    let output = reload_in(run_dir.path(), &example_bundle("macswap"), &["--iface", "veth9"]);
    assert_fails_with(
        &output,
        &format!("no chain attached to `veth9` is running: no state file in {dir} names that interface"),
    );
    assert_fails_with(&galette_in(run_dir.path(), &["status"]), &format!("no chain is running: {dir} holds no"));
    assert_fails_with(&galette_in(run_dir.path(), &["status", "--chain", "../etc"]), "`../etc` cannot name a chain");
}

#[test]
fn a_second_run_of_a_running_chain_is_refused_and_a_killed_runs_socket_is_replaced() {
    let bundle = example_bundle("macswap");
    let pair = VethPair::create("e2e-ctwice").unwrap();
    let (first_side, second_side) = (pair.a(), pair.b());
    let run_dir = tempfile::tempdir().unwrap();
    let socket = run_dir.path().join("macswap.sock");
    let first = run_on(first_side, &bundle, run_dir.path());
    let first_pid = status_in(run_dir.path(), &[]).pid;

    // On another interface, in another namespace: refused all the same,
    // before anything is attached.
    let second = Command::new("ip")
        .args(["netns", "exec", second_side.namespace()])
        .arg(env!("CARGO_BIN_EXE_galette"))
        .arg("run")
        .arg(&bundle)
        .args(["--iface", second_side.interface()])
        .arg("--run-dir")
        .arg(run_dir.path())
        .output()
        .unwrap();
    assert_fails_with(
        &second,
        &format!("chain `macswap` is running already: its control socket {} answers", socket.display()),
    );
    assert!(!xdp_program_attached(second_side.namespace(), second_side.interface()).unwrap());
    assert_eq!(status_in(run_dir.path(), &[]).pid, first_pid, "the first one still answers");

    // SIGKILL leaves the files; nothing answers on the socket.
    first.stop_with(libc::SIGKILL);
    assert!(socket.exists());
    assert_fails_with(
        &galette_in(run_dir.path(), &["status", "--chain", "macswap"]),
        &format!("chain `macswap` is not running: nothing answers on its socket {}", socket.display()),
    );
    let third = run_on(second_side, &bundle, run_dir.path());
    let status = status_in(run_dir.path(), &[]);
    assert_ne!(status.pid, first_pid);
    assert_eq!(status.interfaces, [AttachedInterface { interface: second_side.interface().into(), role: None }]);
    assert_stops_cleanly(third);
    assert_eq!(files_in(run_dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_run_that_fails_to_start_leaves_no_socket_or_state_file() {
    let pair = VethPair::create("e2e-cfail").unwrap();
    let side = pair.a();
    let run_dir = tempfile::tempdir().unwrap();
    let rules = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(rules.path(), "198.18.0.0/40 1\n").unwrap();
    let load = format!("acl_v4={}", rules.path().display());
    // The bad line is found once the socket is there and the chain loaded.
    let output = Command::new("ip")
        .args(["netns", "exec", side.namespace()])
        .arg(env!("CARGO_BIN_EXE_galette"))
        .arg("run")
        .arg(example_bundle("filtered_router"))
        .args(["--iface", side.interface(), "--load", &load])
        .arg("--run-dir")
        .arg(run_dir.path())
        .output()
        .unwrap();
    assert_fails_with(&output, "loading `acl_v4`: line 1");
    assert_eq!(files_in(run_dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn reloads_are_answered_one_at_a_time_and_kept_in_the_status_with_refusals() {
    let bundle = example_bundle("macswap");
    let pair = VethPair::create("e2e-creload").unwrap();
    let (gateway, client) = (pair.a(), pair.b());
    let _peer_program = attach_xdp_pass(client.namespace(), client.interface()).unwrap();
    let run_dir = tempfile::tempdir().unwrap();
    let running = run_on(gateway, &bundle, run_dir.path());
    let digest = Bundle::open(&bundle).unwrap().digest;

    // Two at once, by name and by interface: both are done, one after the
    // other.
    let reloads: Vec<_> = [&[][..], &["--iface", gateway.interface()]]
        .into_iter()
        .map(|which| {
            let mut command = galette();
            command.env("GALETTE_RUN_DIR", run_dir.path()).arg("reload").arg(&bundle).args(which);
            command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    for reload in reloads {
        let output = reload.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.starts_with("reloaded chain `macswap` from "), "{stdout}");
        assert!(stdout.contains(&format!("{digest} -> {digest}, kept maps none")), "{stdout}");
    }
    // Another chain, sent to this one by name: the runtime refuses it.
    let other = example_bundle("counted_reflector");
    let refused = reload_in(run_dir.path(), &other, &["--chain", "macswap"]);
    assert_fails_with(
        &refused,
        "reload refused; the running chain is unchanged: the bundle is the chain `counted_reflector`, but this process runs `macswap`",
    );

    let status = status_in(run_dir.path(), &[]);
    assert_eq!(status.digest, digest);
    let outcomes: Vec<&ReloadOutcome> = status.reloads.iter().map(|record| &record.outcome).collect();
    assert!(
        matches!(outcomes[..], [ReloadOutcome::Ok { .. }, ReloadOutcome::Ok { .. }, ReloadOutcome::Refused { .. }]),
        "{status:?}"
    );
    let ReloadOutcome::Refused { error } = outcomes[2] else { unreachable!() };
    assert!(error.to_string().contains("is the chain `counted_reflector`"), "{error}");
    assert_eq!(status.reloads[2].bundle, std::fs::canonicalize(&other).unwrap());
    let report = probe_reflector(client, gateway, FRAMES, Duration::from_secs(2)).unwrap();
    assert_eq!(report.swapped, FRAMES, "the reloaded chain runs: {report:?}");

    let stdout = assert_stops_cleanly(running);
    assert_eq!(stdout.matches("galette: reloaded chain `macswap` from ").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("galette: reload of chain `macswap` from ").count(), 1, "{stdout}");
    assert!(stdout.contains("refused: reload refused; the running chain is unchanged: the bundle is the chain"));
}

#[test]
fn as_another_user_reload_and_status_say_they_need_root() {
    use std::os::unix::fs::PermissionsExt;
    let bundle = example_bundle("macswap");
    let pair = VethPair::create("e2e-croot").unwrap();
    let side = pair.a();
    let run_dir = tempfile::Builder::new().prefix("galette-run-").tempdir_in("/tmp").unwrap();
    let running = run_on(side, &bundle, run_dir.path());
    // `nobody` must reach the binary: a copy in a readable place.
    let readable = tempfile::Builder::new().prefix("galette-nobody-").tempdir_in("/tmp").unwrap();
    let open = |path: &Path, mode| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    open(readable.path(), 0o755);
    let binary = readable.path().join("galette");
    std::fs::copy(env!("CARGO_BIN_EXE_galette"), &binary).unwrap();
    open(&binary, 0o755);
    let as_nobody = |arguments: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
            .arg(&binary)
            .args(arguments)
            .arg("--run-dir")
            .arg(run_dir.path())
            .output()
            .unwrap()
    };
    let socket = run_dir.path().join("macswap.sock");
    open(run_dir.path(), 0o700);
    let needs_root = |path: &Path| format!("permission denied on {}: the control socket is root's", path.display());
    // The directory is root's alone (0700, as `galette run` makes it) ...
    assert_fails_with(&as_nobody(&["status", "--chain", "macswap"]), &needs_root(&socket));
    assert_fails_with(&as_nobody(&["status", "--iface", side.interface()]), &needs_root(run_dir.path()));
    // ... and so is the socket (0600), in a directory anyone may enter.
    open(run_dir.path(), 0o755);
    assert_fails_with(&as_nobody(&["status"]), &needs_root(&run_dir.path().join("macswap.json")));
    assert_fails_with(&as_nobody(&["status", "--chain", "macswap"]), &needs_root(&socket));
    let output = as_nobody(&["status", "--chain", "macswap"]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("run it as root"), "{output:?}");
    // A bundle `nobody` can read and verify, so that the refusal is the
    // socket's.
    let readable_bundle = readable.path().join("macswap.bundle");
    std::fs::create_dir_all(readable_bundle.join("xdp")).unwrap();
    for file in ["manifest.json", "xdp/chain.o"] {
        std::fs::copy(bundle.join(file), readable_bundle.join(file)).unwrap();
        open(&readable_bundle.join(file), 0o644);
    }
    open(&readable_bundle, 0o755);
    open(&readable_bundle.join("xdp"), 0o755);
    assert_fails_with(&as_nobody(&["reload", readable_bundle.to_str().unwrap()]), &needs_root(&socket));
    assert!(status_in(run_dir.path(), &[]).reloads.is_empty(), "the running chain was never asked");
    assert_stops_cleanly(running);
}
