//! `cargo xtask demo-fleet`: a fleet on this machine, live. A broker
//! (Mosquitto, mutual TLS) and a registry in an infrastructure namespace,
//! two devices each with its own test network and `galette agent`; then a
//! publish, a map change that lets traffic through, an update under
//! traffic, and a map change that stops it, each as the admin does it
//! (galette-ctl's code), with the fleet's status between. Everything is
//! removed at the end.

use std::process::Command;
use std::time::Duration;

use galette_ctl::fleet;
use galette_fleet_testbed::{FleetNetwork, PROBE_FRAMES};

use crate::{cargo, project_root, run_command, step, target_dir};

pub fn run() -> Result<(), String> {
    let root = project_root();
    step("Building galettec and galette");
    run_command(
        Command::new(cargo()).args(["build", "--locked", "-p", "galettec", "-p", "galette"]).current_dir(&root),
    )?;
    let galette = target_dir(&root).join("debug/galette");

    step("Creating the fleet: a broker and a registry on 198.18.9.1, two devices with their own test networks");
    let network = FleetNetwork::create("demo", 2, &galette, &root);
    let status = || network.admin(fleet::status).map_err(|err| err.to_string());

    step("Publishing tests/reload/marks_once.gal (signed) to the group `lab`");
    let once = network.publish_bundle("tests/reload/marks_once.gal", "once");
    let digest = network.publish(&once);
    let took = network.wait_all_running(&digest, Duration::from_secs(10));
    println!(
        "    both devices run it, {:.1} s after the publish (nothing passes yet: its allow list is empty)",
        took.as_secs_f64()
    );
    status()?;

    step("galette-ctl maps set acl_v4: allow the test network's prefix");
    network.set_acl("198.18.0.0/15 1\n");
    let took = network.wait_traffic("allowed", Duration::from_secs(5), |_, swapped| swapped == PROBE_FRAMES);
    println!("    both devices reflect frames, {:.2} s after the change", took.as_secs_f64());

    step("Publishing tests/reload/marks_twice.gal while both devices carry 2000 frames/s");
    let twice = network.publish_bundle("tests/reload/marks_twice.gal", "twice");
    let (reports, _) = network.publish_under_traffic(&twice).map_err(|err| format!("cannot carry traffic: {err}"))?;
    for (device, report) in network.devices.iter().zip(reports) {
        println!("    {}: {} frames sent during the update, {} lost", device.id, report.sent, report.lost().len());
    }
    status()?;

    step("galette-ctl maps set acl_v4: deny the prefix");
    network.set_acl("198.18.0.0/15 2\n");
    let took = network.wait_traffic("denied", Duration::from_secs(5), |_, swapped| swapped == 0);
    println!("    both devices drop the prefix's frames, {:.2} s after the change", took.as_secs_f64());

    step("Removing the fleet: agents stopped, namespaces, broker and registry gone");
    drop(network);
    Ok(())
}
