//! The Java class CloudStack reports as an async job's `cmd` (queryAsyncJobResult,
//! listAsyncJobs), for each async command of the catalog. Clients and scripts match on
//! it, and the classes do not follow from the verb (`migrateVirtualMachine` is
//! `admin.vm.MigrateVMCmd`, `enableStorageMaintenance` is
//! `admin.storage.PreparePrimaryStorageForMaintenanceCmd`), so they are written out once
//! here, as named in apache/cloudstack's
//! `api/src/main/java/org/apache/cloudstack/api/command/`: the user class where CloudStack
//! has both a user and a `…ByAdmin` one. A test holds every async command of the catalog
//! against this table, so a new async verb without its class fails it instead of getting
//! a made-up name.

/// The package every command class lives under.
pub const PACKAGE: &str = "org.apache.cloudstack.api.command";

/// Async verb → its class below [`PACKAGE`].
pub const JOB_CLASSES: &[(&str, &str)] = &[
    // accounts, users, domains
    ("deleteDomain", "admin.domain.DeleteDomainCmd"),
    ("disableAccount", "admin.account.DisableAccountCmd"),
    ("deleteAccount", "admin.account.DeleteAccountCmd"),
    ("disableUser", "admin.user.DisableUserCmd"),
    // networks (issue 15)
    ("updateNetwork", "user.network.UpdateNetworkCmd"),
    ("deleteNetwork", "user.network.DeleteNetworkCmd"),
    ("restartNetwork", "user.network.RestartNetworkCmd"),
    ("stopRouter", "admin.router.StopRouterCmd"),
    ("startRouter", "admin.router.StartRouterCmd"),
    ("rebootRouter", "admin.router.RebootRouterCmd"),
    ("destroyRouter", "admin.router.DestroyRouterCmd"),
    (
        "createPhysicalNetwork",
        "admin.network.CreatePhysicalNetworkCmd",
    ),
    (
        "updatePhysicalNetwork",
        "admin.network.UpdatePhysicalNetworkCmd",
    ),
    (
        "deletePhysicalNetwork",
        "admin.network.DeletePhysicalNetworkCmd",
    ),
    ("addTrafficType", "admin.usage.AddTrafficTypeCmd"),
    ("updateTrafficType", "admin.usage.UpdateTrafficTypeCmd"),
    ("deleteTrafficType", "admin.usage.DeleteTrafficTypeCmd"),
    (
        "updateNetworkServiceProvider",
        "admin.network.UpdateNetworkServiceProviderCmd",
    ),
    // public IP addresses and their rules (issue 15)
    ("associateIpAddress", "user.address.AssociateIPAddrCmd"),
    (
        "disassociateIpAddress",
        "user.address.DisassociateIPAddrCmd",
    ),
    ("disableStaticNat", "user.nat.DisableStaticNatCmd"),
    (
        "createPortForwardingRule",
        "user.firewall.CreatePortForwardingRuleCmd",
    ),
    (
        "deletePortForwardingRule",
        "user.firewall.DeletePortForwardingRuleCmd",
    ),
    ("createFirewallRule", "user.firewall.CreateFirewallRuleCmd"),
    ("deleteFirewallRule", "user.firewall.DeleteFirewallRuleCmd"),
    (
        "createEgressFirewallRule",
        "user.firewall.CreateEgressFirewallRuleCmd",
    ),
    (
        "deleteEgressFirewallRule",
        "user.firewall.DeleteEgressFirewallRuleCmd",
    ),
    // hosts
    (
        "prepareHostForMaintenance",
        "admin.host.PrepareForMaintenanceCmd",
    ),
    ("cancelHostMaintenance", "admin.host.CancelMaintenanceCmd"),
    ("reconnectHost", "admin.host.ReconnectHostCmd"),
    // instances
    ("deployVirtualMachine", "user.vm.DeployVMCmd"),
    ("startVirtualMachine", "user.vm.StartVMCmd"),
    ("stopVirtualMachine", "user.vm.StopVMCmd"),
    ("rebootVirtualMachine", "user.vm.RebootVMCmd"),
    ("destroyVirtualMachine", "user.vm.DestroyVMCmd"),
    ("restoreVirtualMachine", "user.vm.RestoreVMCmd"),
    ("scaleVirtualMachine", "user.vm.ScaleVMCmd"),
    (
        "resetPasswordForVirtualMachine",
        "user.vm.ResetVMPasswordCmd",
    ),
    ("resetSSHKeyForVirtualMachine", "user.vm.ResetVMSSHKeyCmd"),
    ("expungeVirtualMachine", "admin.vm.ExpungeVMCmd"),
    ("migrateVirtualMachine", "admin.vm.MigrateVMCmd"),
    // ISOs and templates
    ("attachIso", "user.iso.AttachIsoCmd"),
    ("detachIso", "user.iso.DetachIsoCmd"),
    ("deleteIso", "user.iso.DeleteIsoCmd"),
    ("deleteTemplate", "user.template.DeleteTemplateCmd"),
    ("copyTemplate", "user.template.CopyTemplateCmd"),
    ("createTemplate", "user.template.CreateTemplateCmd"),
    // volumes and primary storage
    ("createVolume", "user.volume.CreateVolumeCmd"),
    ("attachVolume", "user.volume.AttachVolumeCmd"),
    ("detachVolume", "user.volume.DetachVolumeCmd"),
    ("resizeVolume", "user.volume.ResizeVolumeCmd"),
    ("migrateVolume", "user.volume.MigrateVolumeCmd"),
    (
        "enableStorageMaintenance",
        "admin.storage.PreparePrimaryStorageForMaintenanceCmd",
    ),
    (
        "cancelStorageMaintenance",
        "admin.storage.CancelPrimaryStorageMaintenanceCmd",
    ),
    // snapshots (issue 18)
    ("createSnapshot", "user.snapshot.CreateSnapshotCmd"),
    ("deleteSnapshot", "user.snapshot.DeleteSnapshotCmd"),
    ("revertSnapshot", "user.snapshot.RevertSnapshotCmd"),
    ("createVMSnapshot", "user.vmsnapshot.CreateVMSnapshotCmd"),
    ("deleteVMSnapshot", "user.vmsnapshot.DeleteVMSnapshotCmd"),
    (
        "revertToVMSnapshot",
        "user.vmsnapshot.RevertToVMSnapshotCmd",
    ),
    // projects
    ("createProject", "user.project.CreateProjectCmd"),
    ("updateProject", "user.project.UpdateProjectCmd"),
    ("deleteProject", "user.project.DeleteProjectCmd"),
    ("activateProject", "user.project.ActivateProjectCmd"),
    ("suspendProject", "user.project.SuspendProjectCmd"),
    ("addAccountToProject", "user.account.AddAccountToProjectCmd"),
    (
        "deleteAccountFromProject",
        "user.account.DeleteAccountFromProjectCmd",
    ),
    (
        "updateProjectInvitation",
        "user.project.UpdateProjectInvitationCmd",
    ),
    (
        "deleteProjectInvitation",
        "user.project.DeleteProjectInvitationCmd",
    ),
    // security groups
    (
        "authorizeSecurityGroupIngress",
        "user.securitygroup.AuthorizeSecurityGroupIngressCmd",
    ),
    (
        "authorizeSecurityGroupEgress",
        "user.securitygroup.AuthorizeSecurityGroupEgressCmd",
    ),
    (
        "revokeSecurityGroupIngress",
        "user.securitygroup.RevokeSecurityGroupIngressCmd",
    ),
    (
        "revokeSecurityGroupEgress",
        "user.securitygroup.RevokeSecurityGroupEgressCmd",
    ),
    // tags
    ("createTags", "user.tag.CreateTagsCmd"),
    ("deleteTags", "user.tag.DeleteTagsCmd"),
];

/// The full class name of an async verb's job, if the table knows it.
pub fn class_of(verb: &str) -> Option<String> {
    JOB_CLASSES
        .iter()
        .find(|(v, _)| *v == verb)
        .map(|(_, c)| format!("{PACKAGE}.{c}"))
}

/// The verb whose job reports `class` (full, or below [`PACKAGE`]), if any.
pub fn verb_of(class: &str) -> Option<&'static str> {
    let short = class
        .strip_prefix(PACKAGE)
        .and_then(|c| c.strip_prefix('.'))
        .unwrap_or(class);
    JOB_CLASSES
        .iter()
        .find(|(_, c)| *c == short)
        .map(|(v, _)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::find;

    #[test]
    fn every_async_command_has_its_cloudstack_class() {
        let missing: Vec<&str> = crate::command::COMMANDS
            .iter()
            .filter(|c| c.is_async())
            .map(|c| c.name)
            .filter(|n| class_of(n).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "async commands without a CloudStack class in JOB_CLASSES: {missing:?}"
        );
    }

    #[test]
    fn the_table_names_async_commands_once_each_with_a_well_formed_class() {
        let mut seen = std::collections::BTreeSet::new();
        for (verb, class) in JOB_CLASSES {
            assert!(seen.insert(*verb), "{verb} is in the table twice");
            assert!(
                class.starts_with("user.") || class.starts_with("admin."),
                "{verb}: {class} is in neither the user nor the admin package"
            );
            assert!(class.ends_with("Cmd"), "{verb}: {class}");
            assert_eq!(verb_of(&format!("{PACKAGE}.{class}")), Some(*verb));
            // A verb of the catalog is async there (the snapshot verbs may not be in
            // this build's catalog yet).
            if let Some(spec) = find(verb) {
                assert!(spec.is_async(), "{verb} is in the table but not async");
            }
        }
    }

    #[test]
    fn classes_are_cloudstacks_in_their_admin_or_user_package() {
        for (verb, class) in [
            ("migrateVirtualMachine", "admin.vm.MigrateVMCmd"),
            ("deployVirtualMachine", "user.vm.DeployVMCmd"),
            ("attachVolume", "user.volume.AttachVolumeCmd"),
            ("resizeVolume", "user.volume.ResizeVolumeCmd"),
            (
                "prepareHostForMaintenance",
                "admin.host.PrepareForMaintenanceCmd",
            ),
            (
                "enableStorageMaintenance",
                "admin.storage.PreparePrimaryStorageForMaintenanceCmd",
            ),
            ("addAccountToProject", "user.account.AddAccountToProjectCmd"),
        ] {
            assert_eq!(
                class_of(verb).as_deref(),
                Some(format!("org.apache.cloudstack.api.command.{class}").as_str()),
                "{verb}"
            );
        }
        assert_eq!(class_of("listZones"), None);
        assert_eq!(
            verb_of("org.apache.cloudstack.api.command.user.vm.StopVMCmd"),
            Some("stopVirtualMachine")
        );
        assert_eq!(
            verb_of("org.apache.cloudstack.api.command.admin.NoSuchCmd"),
            None
        );
    }
}
