//! Which interface gets which entry program: `--iface IF` for a chain
//! without interface roles, `--iface ROLE=IF` for each role of one with.

use galette_bundle::{Bundle, Manifest, ResolvedManifest};

use crate::RunError;

/// One `--iface` argument: an interface, for a role or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceArg {
    pub role: Option<String>,
    pub name: String,
}

impl std::str::FromStr for InterfaceArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (role, name) = match text.split_once('=') {
            Some((role, name)) => (Some(role.to_owned()), name),
            None => (None, text),
        };
        if name.is_empty() || role.as_deref() == Some("") {
            return Err(format!("expected IF or ROLE=IF, found {text:?}"));
        }
        Ok(InterfaceArg { role, name: name.to_owned() })
    }
}

/// An interface to attach to, the program to attach there, and the role's
/// index (for the DEVMAP) when the chain has roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub interface: String,
    pub program: String,
    pub role: Option<u32>,
}

/// Matches `--iface` arguments with the roles of `bundle`'s chain.
pub fn plan(bundle: &Bundle, interfaces: &[InterfaceArg]) -> Result<Vec<Attachment>, RunError> {
    plan_for(&bundle.manifest, &bundle.resolved, interfaces)
}

fn plan_for(
    manifest: &Manifest,
    resolved: &ResolvedManifest,
    interfaces: &[InterfaceArg],
) -> Result<Vec<Attachment>, RunError> {
    let xdp = manifest.xdp.as_ref().ok_or(RunError::NoXdpPart)?;
    if manifest.roles.is_empty() {
        return match interfaces {
            [InterfaceArg { role: None, name }] => {
                Ok(vec![Attachment { interface: name.clone(), program: xdp.entry_program.clone(), role: None }])
            }
            _ => Err(InterfaceUsage::OneInterface.into()),
        };
    }
    let roles = manifest.roles.join(", ");
    let mut plan = Vec::new();
    for (index, role) in manifest.roles.iter().enumerate() {
        let given: Vec<&InterfaceArg> = interfaces.iter().filter(|arg| arg.role.as_deref() == Some(role)).collect();
        let [arg] = given.as_slice() else {
            return Err(InterfaceUsage::RoleOnce { role: role.clone(), roles }.into());
        };
        let program = resolved.role_programs[index].clone();
        plan.push(Attachment { interface: arg.name.clone(), program, role: Some(index as u32) });
    }
    if let Some(stray) =
        interfaces.iter().find(|arg| arg.role.as_ref().is_none_or(|role| !manifest.roles.contains(role)))
    {
        let given = stray.role.as_ref().map_or(stray.name.clone(), |role| format!("{role}={}", stray.name));
        return Err(InterfaceUsage::NoSuchRole { given, roles }.into());
    }
    Ok(plan)
}

/// `--iface` arguments that do not fit the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterfaceUsage {
    #[error("this chain has no interface roles: give exactly one `--iface IF`")]
    OneInterface,
    #[error("give `--iface {role}=IF` exactly once (the chain's roles: {roles})")]
    RoleOnce { role: String, roles: String },
    #[error("`--iface {given}` names no role of the chain (its roles: {roles}; write ROLE=IF)")]
    NoSuchRole { given: String, roles: String },
    #[error("no interface to attach to")]
    NoInterface,
}

#[cfg(test)]
mod tests {
    use super::*;
    use galette_bundle::{PortAction, RoleEntry, testing};

    fn manifest(roles: &[&str], per_role: bool) -> Manifest {
        let mut manifest = Manifest { roles: testing::roles(roles), ..testing::manifest("c", vec![]) };
        if per_role {
            let xdp = manifest.xdp.as_mut().expect("an XDP part");
            xdp.role_entries = roles
                .iter()
                .map(|role| RoleEntry { role: (*role).into(), program: format!("rx_{role}"), action: PortAction::Tx })
                .collect();
        }
        manifest
    }

    /// The plan for `manifest`, resolved as `Bundle::open` resolves it.
    fn planned(manifest: &Manifest, interfaces: &[InterfaceArg]) -> Result<Vec<Attachment>, RunError> {
        plan_for(manifest, &ResolvedManifest::resolve(manifest).unwrap(), interfaces)
    }

    fn args(text: &[&str]) -> Vec<InterfaceArg> {
        text.iter().map(|arg| arg.parse().unwrap()).collect()
    }

    #[test]
    fn a_chain_without_roles_takes_one_interface() {
        let plan = planned(&manifest(&[], false), &args(&["eth0"])).unwrap();
        assert_eq!(plan, [Attachment { interface: "eth0".into(), program: "galette_rx".into(), role: None }]);
        assert!(planned(&manifest(&[], false), &args(&["eth0", "eth1"])).is_err());
        assert!(planned(&manifest(&[], false), &args(&["lan=eth0"])).is_err());
    }

    #[test]
    fn every_role_gets_its_interface_and_entry_program() {
        let plan = planned(&manifest(&["lan", "wan"], true), &args(&["wan=eth1", "lan=eth0"])).unwrap();
        // The programs the manifest names, however the compiler named them.
        assert_eq!(plan[0], Attachment { interface: "eth0".into(), program: "rx_lan".into(), role: Some(0) });
        assert_eq!(plan[1], Attachment { interface: "eth1".into(), program: "rx_wan".into(), role: Some(1) });
        let common = planned(&manifest(&["lan", "wan"], false), &args(&["lan=a", "wan=b"])).unwrap();
        assert_eq!(common[1].program, "galette_rx");
    }

    #[test]
    fn missing_doubled_or_unknown_roles_are_explained() {
        let chain = manifest(&["lan", "wan"], true);
        let error = |text: &[&str]| planned(&chain, &args(text)).unwrap_err().to_string();
        assert!(error(&["lan=a"]).contains("`--iface wan=IF` exactly once"));
        assert!(error(&["lan=a", "lan=b", "wan=c"]).contains("`--iface lan=IF` exactly once"));
        assert!(error(&["lan=a", "wan=b", "dmz=c"]).contains("`--iface dmz=c` names no role"));
        assert!(error(&["lan=a", "wan=b", "c"]).contains("`--iface c` names no role"));
        assert!("=x".parse::<InterfaceArg>().is_err());
    }
}
