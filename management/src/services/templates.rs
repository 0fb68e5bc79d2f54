//! Templates for the work above the database: their copies are downloaded by the shared
//! image downloader (`services::images`, kind `Template`), and the deploy path asks here
//! for the file a VM's root disk is based on.
//!
//! **Deploy from a template**: [`ready_file`] answers, for a caller, a template and a
//! zone, the Ready copy ([`TemplateFile`]: image store URL/server/path, install path,
//! format, virtual size, password/SSH key support, names, OS type), or the CloudStack
//! error to give: 431 for a template the caller may not use (unknown, deleted, or
//! private and not shared with it: the same answer, so ids are not probed), 431 naming
//! the state when it is not Ready in that zone.

use std::time::Duration;

use crate::ids::{
    AccountId, DomainId, ImageStoreId, JobId, OsTypeId, TemplateId, VmId, VolumeId, ZoneId,
};
use serde_json::{json, Value};
use stratus_api::{ApiError, ErrorCode};

use crate::clients::nfs::{NfsClient, NfsUrl};
use crate::ctx::Ctx;
use crate::db;
use crate::db::events::{EventResource, ResourceType};
pub use crate::db::templates::TemplateFile;
use crate::error::{Error, Result};
use crate::rules::states::VolumeState;
use crate::rules::vmstate::VmState;
use crate::services::auth::Caller;
use crate::services::downloads::ImageFormat;
use crate::services::images::{self, Kind};
use crate::services::snapshots;
use crate::services::vms::volumes;
use crate::services::workflow::{self, Outputs, Resource, Steps, Workflow};

/// The Ready file of `template_id` in `zone_id` that `caller` may deploy (see the
/// module's documentation).
/// `owner` is the account the VM is for (the caller's, or a project's it is a member
/// of): a template either may see will do.
pub async fn ready_file(
    ctx: &Ctx,
    caller: &Caller,
    owner: AccountId,
    template_id: TemplateId,
    zone_id: ZoneId,
) -> Result<TemplateFile> {
    let unknown = || {
        ApiError::param(format!(
            "Unable to find a template with id {template_id} that you may use"
        ))
    };
    if !caller.is_root_admin()
        && !db::images::visible_to(
            &ctx.pool,
            db::images::Kind::Template,
            template_id.into(),
            caller.account_id(),
        )
        .await?
        && (owner == caller.account_id()
            || !db::images::visible_to(
                &ctx.pool,
                db::images::Kind::Template,
                template_id.into(),
                owner,
            )
            .await?)
    {
        return Err(unknown().into());
    }
    if let Some(file) =
        db::templates::template_ready_in_zone(&ctx.pool, template_id, zone_id).await?
    {
        return Ok(file);
    }
    let t = db::templates::template_fetch(&ctx.pool, template_id)
        .await?
        .ok_or_else(unknown)?;
    let copies = db::templates::template_zone_list(&ctx.pool, template_id).await?;
    let text = match copies.iter().find(|c| c.zone_id == zone_id) {
        None => format!(
            "Template {} is not available in that zone (copyTemplate)",
            t.name
        ),
        Some(c) => format!(
            "Template {} is not ready in that zone: {}",
            t.name,
            images::status_text(
                c.state,
                c.bytes_done,
                c.bytes_total,
                c.error_text.as_deref(),
                true
            )
        ),
    };
    Err(ApiError::param(text).into())
}

/// Removes a template's copy in one zone (its files and its row). Idempotent.
pub async fn remove_copy(ctx: &Ctx, template_id: TemplateId, zone_id: ZoneId) -> Result<()> {
    images::remove_copy(ctx, Kind::Template, template_id.into(), zone_id).await
}

// --- createTemplate ---------------------------------------------------------------

/// createTemplate's job: a stopped VM's root volume, flattened (its template base read
/// through) into a new standalone qcow2 in the zone's image store, which then deploys
/// like any downloaded template.
///
/// It runs on the engine with the *VM* as its resource, so the VM cannot be started
/// (nor restored, nor expunged) while its disk is being read: one workflow per resource.
///
/// | step | do | undo |
/// |---|---|---|
/// | Record | the template row and its zone copy (Creating, with the store and path) | delete both |
/// | Copy | `qemu-img convert` volume → `<path>.part`, checked by its header, renamed | remove the files |
/// | Ready | the copy Ready with its sizes | — |
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Create {
    pub vm: VmId,
    pub volume: VolumeId,
    pub zone_id: ZoneId,
    pub template: NewTemplate,
    /// From this volume snapshot (issue 16: createTemplate with `snapshotid`) rather than
    /// from the stopped VM's volume: its file in secondary storage is copied, no VM is
    /// involved (`vm` is then the volume's VM or nil), and the volume is the resource.
    #[serde(default)]
    pub snapshot: Option<crate::ids::SnapshotId>,
}

/// The new template's fields (createTemplate's parameters, checked by the command).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NewTemplate {
    pub id: TemplateId,
    pub name: String,
    pub display_text: String,
    pub os_type_id: OsTypeId,
    pub is_public: bool,
    pub is_featured: bool,
    pub password_enabled: bool,
    pub sshkey_enabled: bool,
    pub requires_hvm: bool,
    pub is_dynamically_scalable: bool,
    pub bits: i32,
    pub details: serde_json::Value,
    pub account_id: AccountId,
    pub domain_id: DomainId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateStep {
    Record,
    Copy,
    Ready,
}

impl Steps for CreateStep {
    const ALL: &'static [Self] = &[CreateStep::Record, CreateStep::Copy, CreateStep::Ready];
    fn name(self) -> &'static str {
        match self {
            CreateStep::Record => "Record",
            CreateStep::Copy => "Copy",
            CreateStep::Ready => "Ready",
        }
    }
}

/// Record's output: where the copy goes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Placement {
    pub store_id: ImageStoreId,
    pub install_path: String,
}

/// Copy's output: the file's sizes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Written {
    pub size: i64,
    pub virtual_size: i64,
}

/// How long flattening a volume may take.
const CREATE_TIMEOUT: Duration = Duration::from_secs(3600);

fn unavailable(text: String) -> Error {
    ApiError::new(ErrorCode::ResourceUnavailable, text).into()
}

impl Create {
    async fn store(&self, ctx: &Ctx, out: &Outputs) -> Result<Option<(NfsUrl, Placement)>> {
        let Some(place) = out.get::<Placement>(CreateStep::Record) else {
            return Ok(None);
        };
        let Some(store) = db::storage::store_fetch(&ctx.pool, place.store_id).await? else {
            return Ok(None);
        };
        let url = NfsUrl::parse(&store.url)
            .map_err(|e| Error::internal(format!("image store {} URL: {e}", store.name)))?;
        Ok(Some((url, place)))
    }

    async fn check_stopped(&self, ctx: &Ctx) -> Result<db::vms::VmRow> {
        let vm = db::vms::vm_fetch(&ctx.pool, self.vm)
            .await?
            .ok_or_else(|| Error::internal("the VM vanished"))?;
        if vm.state != VmState::Stopped {
            return Err(ApiError::param(format!(
                "VM {} must be Stopped to create a template from its volume (it is {})",
                vm.display_name, vm.state
            ))
            .into());
        }
        Ok(vm)
    }

    async fn copy(&self, ctx: &Ctx, out: &Outputs) -> Result<Written> {
        if self.snapshot.is_none() {
            self.check_stopped(ctx).await?;
        }
        let (store_url, place) = self
            .store(ctx, out)
            .await?
            .ok_or_else(|| Error::internal("the template's image store vanished"))?;
        if let Some(sid) = self.snapshot {
            return self.copy_snapshot(ctx, sid, &store_url, &place).await;
        }
        let vol = db::volumes::volume_fetch(&ctx.pool, self.volume)
            .await?
            .filter(|v| v.removed.is_none() && v.state == VolumeState::Ready)
            .ok_or_else(|| unavailable("The volume is no longer there".into()))?;
        let pool = db::storage::pool_fetch(&ctx.pool, vol.pool_id)
            .await?
            .ok_or_else(|| Error::internal("the volume's pool vanished"))?;
        let pool_url = NfsUrl::parse(&pool.url)
            .map_err(|e| Error::internal(format!("pool {} URL: {e}", pool.name)))?;
        let part = format!("{}.part", place.install_path);
        let mut nfs = volumes::open_place(&store_url, &place.install_path)
            .await
            .map_err(|e| snapshots::published("the copy", e))?;
        let src = volumes::nfs_file_url(&pool_url, &vol.path);
        let dst = volumes::nfs_file_url(&store_url, &part);
        // An overlay's base is named by its full URL while it is read (see
        // `volumes::set_backing`), and by its relative name again after.
        let base = match vol.template_id {
            Some(t) => db::bases::base_fetch(&ctx.pool, t.into(), vol.pool_id)
                .await?
                .map(|b| b.path),
            None => None,
        };
        let failed = |why: String| {
            unavailable(format!(
                "Copying volume {} to secondary storage failed: {why}",
                vol.name
            ))
        };
        if let Some(b) = &base {
            volumes::set_backing(&src, &volumes::nfs_file_url(&pool_url, b))
                .await
                .map_err(failed)?;
        }
        let converted = volumes::convert_to_qcow2(&src, "qcow2", &dst, CREATE_TIMEOUT).await;
        if let Some(b) = &base {
            volumes::set_backing(&src, b).await.map_err(failed)?;
        }
        converted.map_err(failed)?;
        let (size, virtual_size) =
            volumes::publish_standalone(&mut nfs, &part, &place.install_path)
                .await
                .map_err(|e| snapshots::published("the flattened volume", e))?;
        Ok(Written {
            size: size as i64,
            virtual_size: virtual_size as i64,
        })
    }
}

impl Create {
    /// The snapshot's file copied into the template's place (a standalone qcow2 already).
    async fn copy_snapshot(
        &self,
        ctx: &Ctx,
        sid: crate::ids::SnapshotId,
        store_url: &NfsUrl,
        place: &Placement,
    ) -> Result<Written> {
        let s = db::snapshots::snapshot_fetch(&ctx.pool, sid)
            .await?
            .filter(|s| s.removed.is_none())
            .ok_or_else(|| unavailable("The snapshot was deleted".into()))?;
        let src = snapshots::file_url(ctx, &s).await?;
        let part = format!("{}.part", place.install_path);
        let mut nfs = volumes::open_place(store_url, &place.install_path)
            .await
            .map_err(|e| snapshots::published("the copy", e))?;
        volumes::convert_chain(
            &src,
            &volumes::nfs_file_url(store_url, &part),
            None,
            CREATE_TIMEOUT,
        )
        .await
        .map_err(|why| {
            unavailable(format!(
                "Copying snapshot {} into a template failed: {why}",
                s.name
            ))
        })?;
        let (size, virtual_size) =
            volumes::publish_standalone(&mut nfs, &part, &place.install_path)
                .await
                .map_err(|e| snapshots::published("the snapshot's copy", e))?;
        Ok(Written {
            size: size as i64,
            virtual_size: virtual_size as i64,
        })
    }
}

impl Workflow for Create {
    const KIND: workflow::Kind = workflow::Kind::TemplateCreate;
    type Step = CreateStep;
    fn resource(&self) -> Resource {
        match self.snapshot {
            Some(_) => Resource::volume(self.volume.into_uuid()),
            None => Resource::vm(self.vm.into_uuid()),
        }
    }
    async fn check(&self, ctx: &Ctx) -> Result<()> {
        if self.snapshot.is_some() {
            return Ok(());
        }
        self.check_stopped(ctx).await.map(|_| ())
    }
    async fn do_step(&self, ctx: &Ctx, step: CreateStep, out: &Outputs) -> Result<Value> {
        match step {
            CreateStep::Record => {
                // Again after a crash: the copy row says where it went.
                if let Some(c) = db::templates::template_zone_list(&ctx.pool, self.template.id)
                    .await?
                    .into_iter()
                    .find(|c| c.zone_id == self.zone_id)
                {
                    if let (Some(store_id), Some(install_path)) = (c.image_store_id, c.install_path)
                    {
                        return Ok(json!(Placement {
                            store_id,
                            install_path
                        }));
                    }
                }
                let store = db::storage::store_pick_for_zone(&ctx.pool, self.zone_id)
                    .await?
                    .ok_or_else(|| {
                        unavailable("The VM's zone has no writable secondary storage".into())
                    })?;
                let install_path = images::install_path(
                    Kind::Template,
                    self.template.id.into(),
                    ImageFormat::Qcow2,
                );
                let t = &self.template;
                let row = db::templates::TemplateRow {
                    id: t.id,
                    name: t.name.clone(),
                    display_text: t.display_text.clone(),
                    url: None,
                    format: "QCOW2".into(),
                    hypervisor: "KVM".into(),
                    os_type_id: t.os_type_id,
                    checksum: None,
                    is_public: t.is_public,
                    is_featured: t.is_featured,
                    is_extractable: false,
                    password_enabled: t.password_enabled,
                    sshkey_enabled: t.sshkey_enabled,
                    requires_hvm: t.requires_hvm,
                    is_dynamically_scalable: t.is_dynamically_scalable,
                    bits: t.bits,
                    template_type: "USER".into(),
                    details: t.details.clone(),
                    cross_zones: false,
                    account_id: t.account_id,
                    domain_id: t.domain_id,
                    created: chrono::Utc::now(),
                    removed: None,
                    source_volume_id: Some(self.volume),
                };
                let mut tx = ctx.pool.begin().await?;
                crate::services::limits::admit(
                    ctx,
                    &mut tx,
                    t.account_id,
                    &[(crate::rules::limits::ResourceKind::Template, 1)],
                )
                .await?;
                db::templates::template_insert(&mut *tx, &row).await?;
                db::templates::template_zone_insert_creating(
                    &mut *tx,
                    t.id,
                    self.zone_id,
                    store.id,
                    &install_path,
                )
                .await?;
                tx.commit().await?;
                Ok(json!(Placement {
                    store_id: store.id,
                    install_path
                }))
            }
            CreateStep::Copy => Ok(json!(self.copy(ctx, out).await?)),
            CreateStep::Ready => {
                let w = out
                    .get::<Written>(CreateStep::Copy)
                    .ok_or_else(|| Error::internal("the copy's sizes are missing"))?;
                if !db::templates::template_zone_created(
                    &ctx.pool,
                    self.template.id,
                    self.zone_id,
                    w.size,
                    w.virtual_size,
                )
                .await?
                {
                    return Err(unavailable(format!(
                        "Template {} was deleted while it was being created",
                        self.template.name
                    )));
                }
                Ok(Value::Null)
            }
        }
    }
    async fn undo_step(&self, ctx: &Ctx, step: CreateStep, out: &Outputs) -> Result<()> {
        match step {
            CreateStep::Record => {
                db::templates::template_delete_created(&ctx.pool, self.template.id).await
            }
            CreateStep::Copy => {
                let Some((url, place)) = self.store(ctx, out).await? else {
                    return Ok(());
                };
                let mut nfs = NfsClient::connect(&url, Duration::from_secs(10))
                    .await
                    .map_err(|e| unavailable(format!("Secondary storage: {e}")))?;
                let dir = images::install_dir(Kind::Template, self.template.id.into());
                match nfs.remove_dir_all(&dir).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) => Err(unavailable(format!(
                        "Removing {} from secondary storage: {e}",
                        place.install_path
                    ))),
                }
            }
            CreateStep::Ready => Ok(()),
        }
    }
    async fn succeeded(&self, ctx: &Ctx, _: &Outputs) -> Result<()> {
        let mut tx = ctx.pool.begin().await?;
        db::events::system_event(
            &mut tx,
            "TEMPLATE.CREATE",
            "INFO",
            format!(
                "Template {} created from the root volume of VM {}",
                self.template.name, self.vm
            ),
            Some(EventResource::new(
                ResourceType::Template,
                self.template.id,
                self.template.name.clone(),
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
    async fn failed(&self, ctx: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        let mut tx = ctx.pool.begin().await?;
        db::events::system_event(
            &mut tx,
            "TEMPLATE.CREATE",
            "ERROR",
            format!(
                "Creating template {} from VM {} failed and was undone: {}",
                self.template.name, self.vm, why.text
            ),
            Some(EventResource::new(
                ResourceType::VirtualMachine,
                self.vm,
                self.vm.to_string(),
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Runs createTemplate's workflow (see [`Create`]).
pub async fn create(ctx: &Ctx, job: Option<JobId>, c: Create) -> Result<()> {
    workflow::run(ctx, job, c).await
}
