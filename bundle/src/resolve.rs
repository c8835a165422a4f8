//! The manifest resolved once, when a bundle is opened: every instance, role
//! and map a port, an entry or a binding names becomes its index, and every
//! rule the runtime relies on is checked. A bundle that opens can then be
//! loaded without looking anything up by name again, and a manifest that
//! contradicts itself is refused up front, saying what is wrong.

use std::collections::HashMap;

use crate::{Manifest, Placement, PortAction};

/// Where a packet goes, by index into the manifest's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Tx,
    Pass,
    Drop,
    Abort,
    /// On to the instance with this index in `Manifest::instances`.
    Instance(usize),
    /// Out of the interface of the role with this index in `Manifest::roles`.
    Redirect(usize),
}

/// The manifest's links and bindings as indices. Built by
/// [`ResolvedManifest::resolve`], which [`crate::Bundle::open`] calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedManifest {
    /// By instance: where it runs.
    pub placements: Vec<Placement>,
    /// By instance: where each of its ports leads, in port order.
    pub ports: Vec<Vec<Target>>,
    /// By instance: the chain maps it binds, as indices into
    /// `Manifest::maps`, in the NF's field order.
    pub bindings: Vec<Vec<usize>>,
    /// Where `rx` leads, for a chain with an XDP part.
    pub entry: Option<Target>,
    /// By role: where `rx.ROLE` leads, for a chain that says it per role
    /// (else empty).
    pub role_entries: Vec<Target>,
    /// By role: the program attached to the role's interface, its entry's
    /// when the chain has role entries, else the common entry program.
    pub role_programs: Vec<String>,
    /// The XDP part's `max_ports` (0 without one).
    pub max_ports: u32,
}

/// What makes a manifest contradict itself (a bundle written by galettec
/// never does; one edited by hand, or by another tool, might).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("two instances are called `{0}`")]
    DuplicateInstance(String),
    #[error("two roles are called `{0}`")]
    DuplicateRole(String),
    #[error("{from} leads to `{name}`, which is not an instance of the chain")]
    UnknownInstance { from: String, name: String },
    #[error("{from} leads out of `{role}`, which is not a role of the chain")]
    UnknownRole { from: String, role: String },
    #[error("{from} runs in userland and leads to `{to}` in XDP; packets never return to XDP")]
    UserlandToXdp { from: String, to: String },
    #[error("`{instance}` has {ports} ports, more than the XDP part's max_ports ({max_ports})")]
    TooManyPorts { instance: String, ports: usize, max_ports: u32 },
    #[error("userland instance `{0}` has no library")]
    NoLibrary(String),
    #[error("the bundle lists no platform")]
    NoPlatform,
    #[error("`{instance}` binds `{map}`, which is not a map of the chain")]
    UnknownMap { instance: String, map: String },
    #[error("`rx.{0}` names a role the chain does not declare")]
    UnknownEntryRole(String),
    #[error("`rx.{0}` is given twice")]
    DuplicateEntryRole(String),
    #[error("the chain has entries for some roles but none for `{0}`")]
    MissingEntryRole(String),
    #[error("the chain has instances that run in XDP but no XDP part")]
    NoXdpPart,
}

impl ResolvedManifest {
    /// Resolves every name of `manifest`, or says the first thing wrong.
    pub fn resolve(manifest: &Manifest) -> Result<ResolvedManifest, ManifestError> {
        let instances = index_of(manifest.instances.iter().map(|i| i.name.as_str()), ManifestError::DuplicateInstance)?;
        let roles = index_of(manifest.roles.iter().map(String::as_str), ManifestError::DuplicateRole)?;
        let maps: HashMap<&str, usize> =
            manifest.maps.iter().enumerate().map(|(index, map)| (map.name.as_str(), index)).collect();
        let names = Names { instances: &instances, roles: &roles };
        let max_ports = manifest.xdp.as_ref().map_or(0, |xdp| xdp.max_ports);
        if manifest.platforms.is_empty() {
            return Err(ManifestError::NoPlatform);
        }

        let mut ports = Vec::with_capacity(manifest.instances.len());
        let mut bindings = Vec::with_capacity(manifest.instances.len());
        for instance in &manifest.instances {
            match instance.placement {
                Placement::Xdp if manifest.xdp.is_none() => return Err(ManifestError::NoXdpPart),
                Placement::Xdp if instance.ports.len() > max_ports as usize => {
                    return Err(ManifestError::TooManyPorts {
                        instance: instance.name.clone(),
                        ports: instance.ports.len(),
                        max_ports,
                    });
                }
                Placement::Userland if instance.library.is_none() => {
                    return Err(ManifestError::NoLibrary(instance.name.clone()));
                }
                _ => {}
            }
            let targets = instance
                .ports
                .iter()
                .map(|port| {
                    let from = format!("port `{}` of `{}`", port.name, instance.name);
                    let target = names.target(&port.action, &from)?;
                    if let Target::Instance(next) = target
                        && instance.placement == Placement::Userland
                        && manifest.instances[next].placement == Placement::Xdp
                    {
                        return Err(ManifestError::UserlandToXdp { from, to: manifest.instances[next].name.clone() });
                    }
                    Ok(target)
                })
                .collect::<Result<Vec<_>, _>>()?;
            ports.push(targets);
            let bound = instance
                .maps
                .iter()
                .map(|map| {
                    maps.get(map.as_str())
                        .copied()
                        .ok_or_else(|| ManifestError::UnknownMap { instance: instance.name.clone(), map: map.clone() })
                })
                .collect::<Result<Vec<_>, _>>()?;
            bindings.push(bound);
        }

        let (entry, role_entries, role_programs) = match &manifest.xdp {
            None => (None, Vec::new(), Vec::new()),
            Some(xdp) => {
                let entry = names.target(&xdp.entry, "`rx`")?;
                let mut by_role: Vec<Option<(Target, &str)>> = vec![None; manifest.roles.len()];
                for role_entry in &xdp.role_entries {
                    let role = *roles
                        .get(role_entry.role.as_str())
                        .ok_or_else(|| ManifestError::UnknownEntryRole(role_entry.role.clone()))?;
                    if by_role[role].is_some() {
                        return Err(ManifestError::DuplicateEntryRole(role_entry.role.clone()));
                    }
                    let target = names.target(&role_entry.action, &format!("`rx.{}`", role_entry.role))?;
                    by_role[role] = Some((target, role_entry.program.as_str()));
                }
                if xdp.role_entries.is_empty() {
                    (Some(entry), Vec::new(), vec![xdp.entry_program.clone(); manifest.roles.len()])
                } else {
                    // Either every role has its entry or none does (the
                    // compiler refuses anything else), so no interface is
                    // left without a program to attach.
                    let complete = by_role
                        .into_iter()
                        .zip(&manifest.roles)
                        .map(|(given, role)| given.ok_or_else(|| ManifestError::MissingEntryRole(role.clone())))
                        .collect::<Result<Vec<_>, _>>()?;
                    let targets = complete.iter().map(|(target, _)| *target).collect();
                    let programs = complete.iter().map(|(_, program)| (*program).to_owned()).collect();
                    (Some(entry), targets, programs)
                }
            }
        };
        Ok(ResolvedManifest {
            placements: manifest.instances.iter().map(|instance| instance.placement).collect(),
            ports,
            bindings,
            entry,
            role_entries,
            role_programs,
            max_ports,
        })
    }
}

/// The manifest's names and their indices.
struct Names<'a> {
    instances: &'a HashMap<&'a str, usize>,
    roles: &'a HashMap<&'a str, usize>,
}

impl Names<'_> {
    /// `action`, found at `from` (for the error), by index.
    fn target(&self, action: &PortAction, from: &str) -> Result<Target, ManifestError> {
        Ok(match action {
            PortAction::Tx => Target::Tx,
            PortAction::Pass => Target::Pass,
            PortAction::Drop => Target::Drop,
            PortAction::Abort => Target::Abort,
            PortAction::Instance(name) => Target::Instance(
                *self
                    .instances
                    .get(name.as_str())
                    .ok_or_else(|| ManifestError::UnknownInstance { from: from.to_owned(), name: name.clone() })?,
            ),
            PortAction::Redirect(role) => Target::Redirect(
                *self
                    .roles
                    .get(role.as_str())
                    .ok_or_else(|| ManifestError::UnknownRole { from: from.to_owned(), role: role.clone() })?,
            ),
        })
    }
}

/// Each name's index, refusing a name given twice.
fn index_of<'a>(
    names: impl Iterator<Item = &'a str>,
    duplicate: impl Fn(String) -> ManifestError,
) -> Result<HashMap<&'a str, usize>, ManifestError> {
    let mut indices = HashMap::new();
    for (index, name) in names.enumerate() {
        if indices.insert(name, index).is_some() {
            return Err(duplicate(name.to_owned()));
        }
    }
    Ok(indices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, instance};
    use crate::{Instance, MapEntry, MapKind, RoleEntry};

    fn manifest(instances: Vec<Instance>, roles: &[&str]) -> Manifest {
        Manifest { roles: testing::roles(roles), ..testing::manifest("c", instances) }
    }

    fn error(manifest: &Manifest) -> String {
        ResolvedManifest::resolve(manifest).unwrap_err().to_string()
    }

    #[test]
    fn names_become_indices() {
        let mut chain = manifest(
            vec![
                instance(
                    "a",
                    Placement::Xdp,
                    vec![PortAction::Instance("b".into()), PortAction::Redirect("wan".into())],
                ),
                instance("b", Placement::Userland, vec![PortAction::Tx]),
            ],
            &["lan", "wan"],
        );
        chain.maps.push(MapEntry {
            name: "m".into(),
            kind: MapKind::Hash,
            key_type: "u32".into(),
            value_type: "u64".into(),
            key_size: 4,
            value_size: 8,
            capacity: 1,
            pin_name: "galette/c/m".into(),
        });
        chain.instances[1].maps = vec!["m".into()];
        let resolved = ResolvedManifest::resolve(&chain).unwrap();
        assert_eq!(resolved.ports, [vec![Target::Instance(1), Target::Redirect(1)], vec![Target::Tx]]);
        assert_eq!(resolved.bindings, [vec![], vec![0]]);
        assert_eq!(resolved.entry, Some(Target::Instance(0)));
        assert_eq!(resolved.placements, [Placement::Xdp, Placement::Userland]);
        assert!(resolved.role_entries.is_empty());
        assert_eq!(resolved.role_programs, ["galette_rx", "galette_rx"], "one entry program for every role");
    }

    #[test]
    fn role_entries_give_each_role_its_program() {
        let mut chain = manifest(vec![instance("a", Placement::Xdp, vec![PortAction::Tx])], &["lan", "wan"]);
        let xdp = chain.xdp.as_mut().unwrap();
        xdp.role_entries = vec![
            RoleEntry { role: "wan".into(), program: "rx_wan".into(), action: PortAction::Drop },
            RoleEntry { role: "lan".into(), program: "rx_lan".into(), action: PortAction::Instance("a".into()) },
        ];
        let resolved = ResolvedManifest::resolve(&chain).unwrap();
        assert_eq!(resolved.role_entries, [Target::Instance(0), Target::Drop]);
        assert_eq!(resolved.role_programs, ["rx_lan", "rx_wan"]);

        chain.xdp.as_mut().unwrap().role_entries.pop();
        assert_eq!(error(&chain), "the chain has entries for some roles but none for `lan`");
        chain.xdp.as_mut().unwrap().role_entries[0].role = "dmz".into();
        assert_eq!(error(&chain), "`rx.dmz` names a role the chain does not declare");
    }

    #[test]
    fn a_manifest_that_contradicts_itself_is_explained() {
        let unknown = manifest(vec![instance("a", Placement::Xdp, vec![PortAction::Instance("zz".into())])], &[]);
        assert_eq!(error(&unknown), "port `p0` of `a` leads to `zz`, which is not an instance of the chain");
        let no_role = manifest(vec![instance("a", Placement::Xdp, vec![PortAction::Redirect("wan".into())])], &[]);
        assert_eq!(error(&no_role), "port `p0` of `a` leads out of `wan`, which is not a role of the chain");
        let back_to_xdp = manifest(
            vec![
                instance("a", Placement::Xdp, vec![PortAction::Instance("b".into())]),
                instance("b", Placement::Userland, vec![PortAction::Instance("a".into())]),
            ],
            &[],
        );
        assert!(error(&back_to_xdp).contains("packets never return to XDP"));
        let twice = manifest(vec![instance("a", Placement::Xdp, vec![]), instance("a", Placement::Xdp, vec![])], &[]);
        assert_eq!(error(&twice), "two instances are called `a`");
        let wide = manifest(vec![instance("a", Placement::Xdp, vec![PortAction::Tx; 3])], &[]);
        assert!(error(&wide).contains("more than the XDP part's max_ports (2)"));
        let mut unbound = manifest(vec![instance("a", Placement::Xdp, vec![])], &[]);
        unbound.instances[0].maps = vec!["nowhere".into()];
        assert_eq!(error(&unbound), "`a` binds `nowhere`, which is not a map of the chain");
        let mut no_entry = manifest(vec![instance("b", Placement::Xdp, vec![])], &[]);
        no_entry.xdp.as_mut().unwrap().entry = PortAction::Instance("a".into());
        assert_eq!(error(&no_entry), "`rx` leads to `a`, which is not an instance of the chain");
    }
}
