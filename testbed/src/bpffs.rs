//! A bpffs of a test's own, mounted outside /sys: `ip netns exec` gives its
//! command a fresh /sys but keeps other mounts, so a galette inside a test
//! namespace and the test itself see the same pins, and two chains of one
//! name in two such mounts do not share theirs.

use std::io;
use std::path::PathBuf;
use std::process::Command;

/// A mounted bpffs, unmounted and removed on drop.
pub struct TestBpffs {
    pub path: PathBuf,
}

impl TestBpffs {
    /// Mounts a new bpffs at `/run/galette-test-TAG-PID`.
    pub fn mount(tag: &str) -> io::Result<TestBpffs> {
        let path = PathBuf::from(format!("/run/galette-test-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        let status = Command::new("mount").args(["-t", "bpf", "bpf"]).arg(&path).status()?;
        if !status.success() {
            let _ = std::fs::remove_dir(&path);
            return Err(io::Error::other(format!("mount -t bpf bpf {} failed ({status})", path.display())));
        }
        Ok(TestBpffs { path })
    }
}

impl Drop for TestBpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}
