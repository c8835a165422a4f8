//! A fleet for real, with the infrastructure of `galette-fleet-testbed`:
//! Mosquitto and docker-registry in an infrastructure namespace, two
//! devices each with its own veth testbed and traffic, each running
//! `galette agent`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use galette_fleet::acl::{group_desired_topic, reported_topic};
use galette_fleet_testbed::{FleetNetwork, GROUP, PROBE_FRAMES};
use galette_test_servers::{mosquitto_pub, mosquitto_sub};

use crate::support::project_root;

fn fleet_network(tag: &str) -> FleetNetwork {
    FleetNetwork::create(tag, 2, Path::new(env!("CARGO_BIN_EXE_galette")), &project_root())
}

#[test]
fn a_fleet_follows_publishes_and_map_changes_live_and_refuses_replays() {
    let network = fleet_network("flt");
    let once = network.publish_bundle("tests/reload/marks_once.gal", "once");
    let twice = network.publish_bundle("tests/reload/marks_twice.gal", "twice");

    // A publish reaches both devices within 5 s; the empty allow list lets
    // nothing through yet.
    let once_digest = network.publish(&once);
    let took = network.wait_all_running(&once_digest, Duration::from_secs(5));
    eprintln!("both devices ran the first bundle {took:?} after the publish");
    network.set_acl("198.18.0.0/15 1\n");
    network
        .wait_traffic("after allowing the test prefix", Duration::from_secs(2), |_, swapped| swapped == PROBE_FRAMES);

    // The desired state as it is now, for replaying later.
    let (admin_cert, admin_key) = network.admin_identity();
    let ca = network.ca_file();
    let identity = (admin_cert.as_path(), admin_key.as_path());
    let address: SocketAddr = network.broker.address();
    let old = mosquitto_sub(
        address,
        Some(network.infra.name()),
        identity,
        &ca,
        &group_desired_topic(GROUP),
        1,
        Duration::from_secs(3),
    )
    .unwrap();
    assert_eq!(old.len(), 1, "the retained desired state");

    // An update under steady traffic loses no frame on either device.
    let (reports, twice_digest) = network.publish_under_traffic(&twice).unwrap();
    for (device, report) in network.devices.iter().zip(reports) {
        assert!(report.lost().is_empty(), "{}: {} of {} frames lost", device.id, report.lost().len(), report.sent);
        assert!(report.duplicated().is_empty(), "{}: frames came back twice", device.id);
        assert_eq!(report.ttl_histogram().len(), 2, "{}: frames ran in both chains", device.id);
    }

    // A bundle the devices' kernel verifier rejects (built without asking
    // this machine's): each reports the verifier's refusal and keeps
    // running what it ran.
    let unverified = galettec::CompileOptions { verify: false, ..galettec::CompileOptions::from_env() };
    let rejected = network.publish_bundle_with("tests/reload/verifier_rejects.gal", "rejected", &unverified);
    network.publish(&rejected);
    network.wait_all_reporting("the verifier's refusal", "could not be loaded");
    network.wait_traffic("after the rejected bundle", Duration::from_secs(1), |_, swapped| swapped == PROBE_FRAMES);
    assert!(network.devices_view().values().all(|view| {
        view.report
            .as_ref()
            .and_then(|r| r.running.as_ref())
            .is_some_and(|running| running.bundle_digest == twice_digest)
    }));
    // The admin goes back to the good bundle (a new version of it).
    network.publish(&twice);
    network.wait_all_reporting_no_error();

    // Denying the prefix stops its traffic on both within 2 s.
    network.set_acl("198.18.0.0/15 2\n");
    let took = network.wait_traffic("after denying the test prefix", Duration::from_secs(2), |_, swapped| swapped == 0);
    eprintln!("traffic stopped {took:?} after the deny");

    // A client nobody here wrote reads the documented report.
    let reported = mosquitto_sub(
        address,
        Some(network.infra.name()),
        identity,
        &ca,
        &reported_topic("gw1"),
        1,
        Duration::from_secs(3),
    )
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&reported[0]).unwrap();
    assert_eq!(report["format"], "galette-reported-v1");
    assert_eq!(report["device"], "gw1");
    assert_eq!(report["running"]["bundle_digest"], twice_digest.as_str());
    assert!(report["counters"]["instances"].is_array(), "{report}");

    // The old desired state replayed: refused by both, and reported.
    mosquitto_pub(address, Some(network.infra.name()), identity, &ca, &group_desired_topic(GROUP), &old[0], true)
        .unwrap();
    network.wait_all_reporting("the replay's refusal", "not newer");

    // A newer state signed by another key (one a broker intruder holds):
    // refused by both, and reported.
    let mut forged: galette_fleet::state::SignedDesiredState = serde_json::from_str(&old[0]).unwrap();
    forged.state.version += 1_000_000_000;
    forged.state.maps.insert("acl_v4".into(), vec!["198.18.0.0/15 1".into()]);
    let intruder = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let forged = galette_fleet::state::SignedDesiredState::sign(forged.state, &intruder);
    let payload = String::from_utf8(forged.to_json()).unwrap();
    mosquitto_pub(address, Some(network.infra.name()), identity, &ca, &group_desired_topic(GROUP), &payload, true)
        .unwrap();
    network.wait_all_reporting("the forged state's refusal", "not by the fleet key");
    network.wait_traffic("after the replay", Duration::from_secs(1), |_, swapped| swapped == 0);
}

#[test]
fn without_a_broker_devices_keep_forwarding_resume_from_their_cache_and_catch_up() {
    let mut network = fleet_network("flb");
    let once = network.publish_bundle("tests/reload/marks_once.gal", "once");
    let digest = network.publish(&once);
    network.wait_all_running(&digest, Duration::from_secs(5));
    network.set_acl("198.18.0.0/15 1\n");
    network.wait_traffic("allowed", Duration::from_secs(2), |_, swapped| swapped == PROBE_FRAMES);

    network.broker.stop();
    network.wait_traffic("with the broker stopped", Duration::from_secs(1), |_, swapped| swapped == PROBE_FRAMES);
    // An agent restarted while the broker is away resumes its cached chain.
    network.stop_agent(0);
    network.wait_traffic("with gw1's agent stopped", Duration::from_secs(1), |index, swapped| {
        swapped == if index == 0 { 0 } else { PROBE_FRAMES }
    });
    network.start_agent(0);
    network.wait_traffic("gw1 resumed from its cache", Duration::from_secs(20), |_, swapped| swapped == PROBE_FRAMES);

    network.broker.restart();
    network.set_acl("198.18.0.0/15 2\n");
    let took =
        network.wait_traffic("caught up after the broker returned", Duration::from_secs(30), |_, swapped| swapped == 0);
    eprintln!("both devices applied the change {took:?} after the broker returned");
}
