//! Network interfaces by name.

use std::ffi::CString;

use crate::RunError;

/// The index of the interface called `name` in this network namespace.
pub fn interface_index(name: &str) -> Result<u32, RunError> {
    let missing = || RunError::NoSuchInterface(name.to_owned());
    let c_name = CString::new(name).map_err(|_| missing())?;
    // SAFETY: `c_name` is a valid NUL-terminated string for the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 { Err(missing()) } else { Ok(index) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_exists_and_nonsense_does_not() {
        assert!(interface_index("lo").is_ok());
        assert!(matches!(interface_index("no-such-if0"), Err(RunError::NoSuchInterface(_))));
        assert!(interface_index("bad\0name").is_err());
    }
}
