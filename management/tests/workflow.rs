//! The workflow engine itself (`services::workflow`), with a toy workflow of four steps
//! whose "world" is a set of things each step makes and its undo takes away:
//! - every step twice: a finished workflow rewound and run again ends the same;
//! - a failure at step N (each N) undoes N..1 in reverse, each undo seeing the outputs of
//!   the steps before it, and the outcome is recorded;
//! - a server that dies at step N (its task dropped while the step hangs) holds the
//!   workflow until its lease lapses; then another server resumes it at step N;
//! - a server that lost its claim cannot record a step or an outcome;
//! - a step Postgres rolled back as a deadlock is done again, up to the retries;
//! - listWorkflows shows the step and state;
//! - the production schema admits every kind but the toy's (`Test`), which these tests
//!   admit in their own throwaway database only.

use stratus_testkit::db as common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use stratus_api::ApiError;
use stratus_management::ctx::Ctx;
use stratus_management::db;
use stratus_management::error::Result;
use stratus_management::ids::{ManagementServerId, WorkflowId};
use stratus_management::services::workflow::{
    self, Kind, Outputs, Resource, State, Steps, Workflow,
};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToyStep {
    One,
    Two,
    Three,
    Four,
}

impl Steps for ToyStep {
    const ALL: &'static [Self] = &[ToyStep::One, ToyStep::Two, ToyStep::Three, ToyStep::Four];
    fn name(self) -> &'static str {
        match self {
            ToyStep::One => "ToyOne",
            ToyStep::Two => "ToyTwo",
            ToyStep::Three => "ToyThree",
            ToyStep::Four => "ToyFour",
        }
    }
}

/// Per toy: what exists in its world, and what happened, in order.
#[derive(Debug, Default, Clone)]
struct World {
    things: BTreeSet<String>,
    log: Vec<String>,
    outcome: Option<String>,
    /// How many more times step `.0`'s do is rolled back by Postgres as a deadlock.
    collisions: Option<(ToyStep, u32)>,
}

static WORLDS: Mutex<Option<HashMap<Uuid, World>>> = Mutex::new(None);

fn world(id: Uuid) -> World {
    WORLDS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .get(&id)
        .cloned()
        .unwrap_or_default()
}

fn change(id: Uuid, f: impl FnOnce(&mut World)) {
    let mut g = WORLDS.lock().unwrap();
    f(g.get_or_insert_with(HashMap::new).entry(id).or_default());
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Toy {
    id: Uuid,
}

/// The output of step i names the thing it made; each step checks that the outputs of
/// every step before it are there (a resumed run must see them too).
impl Workflow for Toy {
    const KIND: Kind = Kind::Test;
    type Step = ToyStep;
    fn resource(&self) -> Resource {
        Resource {
            kind: "Toy",
            id: self.id,
        }
    }
    async fn check(&self, _: &Ctx) -> Result<()> {
        Ok(())
    }
    async fn do_step(&self, ctx: &Ctx, step: ToyStep, out: &Outputs) -> Result<Value> {
        if let Some((at, left)) = world(self.id).collisions {
            if at == step && left > 0 {
                change(self.id, |w| {
                    w.collisions = Some((at, left - 1));
                    w.log.push(format!("collide {}", step.name()));
                });
                // What Postgres answers the loser of a deadlock, from Postgres itself.
                sqlx::query(
                    "DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01'; END $$",
                )
                .execute(&ctx.pool)
                .await?;
            }
        }
        let before = earlier(step, out);
        let thing = format!("{}-thing", step.name());
        change(self.id, |w| {
            w.things.insert(thing.clone()); // idempotent: a set
            w.log.push(format!("do {} seeing {before:?}", step.name()));
        });
        Ok(json!({ "thing": thing }))
    }
    async fn undo_step(&self, _: &Ctx, step: ToyStep, out: &Outputs) -> Result<()> {
        let before = earlier(step, out);
        change(self.id, |w| {
            w.things.remove(&format!("{}-thing", step.name()));
            w.log
                .push(format!("undo {} seeing {before:?}", step.name()));
        });
        Ok(())
    }
    async fn succeeded(&self, _: &Ctx, out: &Outputs) -> Result<()> {
        let all = earlier(ToyStep::Four, out).len() + usize::from(out.is_done(ToyStep::Four));
        change(self.id, |w| {
            w.outcome = Some(format!("succeeded with {all} outputs"))
        });
        Ok(())
    }
    async fn failed(&self, _: &Ctx, _: &Outputs, why: &ApiError) -> Result<()> {
        let why = why.text.clone();
        change(self.id, |w| w.outcome = Some(format!("failed: {why}")));
        Ok(())
    }
}

/// The things the steps before `step` made, read from their outputs.
fn earlier(step: ToyStep, out: &Outputs) -> Vec<String> {
    ToyStep::ALL
        .iter()
        .take_while(|s| **s != step)
        .filter_map(|s| out.get::<Value>(*s))
        .map(|v| v["thing"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn names() -> Vec<&'static str> {
    ToyStep::ALL.iter().map(|s| s.name()).collect()
}

/// A fresh database whose `workflows` CHECK also admits the toy's kind `Test` (the
/// production CHECK, migration 0026, does not).
async fn toy_ctx() -> Ctx {
    let ctx = common::fresh_ctx().await;
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("'{}'", k.as_str()))
        .collect();
    sqlx::query(&format!(
        "ALTER TABLE workflows DROP CONSTRAINT workflows_kind_check,
         ADD CONSTRAINT workflows_kind_check CHECK (kind IN ({}))",
        kinds.join(", ")
    ))
    .execute(&ctx.pool)
    .await
    .unwrap();
    ctx
}

#[tokio::test]
async fn the_schema_admits_every_production_kind_and_not_the_toy() {
    let ctx = common::fresh_ctx().await;
    for kind in Kind::ALL {
        let id = WorkflowId::new_v4();
        let new = db::workflows::NewWorkflow {
            id,
            kind,
            resource_type: "Nothing",
            resource_id: id.into_uuid(),
            job_id: None,
            step_count: 1,
            first_step: "One",
            input: json!({}),
        };
        let r = db::workflows::workflow_insert(&ctx.pool, &new, ctx.ms_id, 30).await;
        if kind == Kind::Test {
            let e = r.expect_err("the toy kind is refused");
            assert!(format!("{e}").contains("workflows_kind_check"), "{e}");
        } else {
            r.unwrap_or_else(|e| panic!("{} refused: {e}", kind.as_str()));
        }
    }
}

async fn row_of(ctx: &Ctx, id: Uuid) -> db::workflows::WorkflowRow {
    let (mut rows, _) = db::workflows::workflow_list(
        &ctx.pool,
        &db::workflows::WorkflowFilter {
            resource_id: Some(id),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    rows.remove(0)
}

async fn other_server(ctx: &Ctx, name: &str) -> Ctx {
    let ms = ManagementServerId::new_v4();
    db::mgmt::ms_register(&ctx.pool, ms, name, "0")
        .await
        .unwrap();
    Ctx::new(ctx.pool.clone(), ms, ctx.secrets.clone())
        .await
        .unwrap()
}

#[tokio::test]
async fn every_step_twice_ends_the_same() {
    let ctx = toy_ctx().await;
    let toy = Toy { id: Uuid::new_v4() };
    workflow::run(&ctx, None, toy.clone()).await.unwrap();
    let once = world(toy.id);
    let row = row_of(&ctx, toy.id).await;
    assert_eq!(row.state, State::Succeeded);
    assert_eq!((row.step_index, row.step.as_deref()), (4, None));
    let all: BTreeSet<String> = names().iter().map(|n| format!("{n}-thing")).collect();
    assert_eq!(once.things, all);
    assert_eq!(once.outcome.as_deref(), Some("succeeded with 4 outputs"));

    // Rewound to step 0 (as after a crash right before the first step was recorded):
    // every do runs a second time.
    sqlx::query(
        "UPDATE workflows SET state = 'Running', step_index = 0, step = 'ToyOne' WHERE id = $1",
    )
    .bind(row.id)
    .execute(&ctx.pool)
    .await
    .unwrap();
    workflow::run(&ctx, None, toy.clone()).await.unwrap();
    let twice = world(toy.id);
    assert_eq!(twice.things, once.things, "the same world");
    assert_eq!(twice.log.len(), 8, "every do ran twice: {:?}", twice.log);
    assert_eq!(
        twice.log[4..],
        once.log[..],
        "the same steps seeing the same outputs"
    );
    let again = row_of(&ctx, toy.id).await;
    assert_eq!(again.state, State::Succeeded);
    assert_eq!(again.outputs, row.outputs, "the same outputs");

    // A finished workflow answers what it came to, with no step run again.
    let c = common::Client::for_user(ctx.clone(), "admin").await;
    let l = c
        .ok("listWorkflows", &[("resourceid", &toy.id.to_string())])
        .await;
    let w = &l["workflow"][0];
    assert_eq!(l["count"], 1, "{l}");
    assert_eq!(w["kind"], "Test");
    assert_eq!(w["state"], "Succeeded");
    assert_eq!(w["stepcount"], 4);
    assert_eq!(w["managementserverid"], ctx.ms_id.to_string());
}

#[tokio::test]
async fn a_failure_at_each_step_unwinds_in_reverse_with_the_outputs() {
    let ctx = toy_ctx().await;
    for (n, name) in names().into_iter().enumerate() {
        let toy = Toy { id: Uuid::new_v4() };
        ctx.faults.set(&format!("fail:{name}"));
        let e = workflow::run(&ctx, None, toy.clone()).await.unwrap_err();
        ctx.faults.clear();
        let text = e.to_api().text;
        assert!(text.contains(&format!("step {name}")), "{text}");
        let w = world(toy.id);
        assert!(w.things.is_empty(), "step {name}: everything undone: {w:?}");
        // The steps before N were done; then N..1 undone in reverse (N's do may have half
        // happened), each undo seeing the outputs of the steps before it.
        let made = |k: usize| -> Vec<String> {
            names()[..k].iter().map(|n| format!("{n}-thing")).collect()
        };
        let mut want: Vec<String> = (0..n)
            .map(|k| format!("do {} seeing {:?}", names()[k], made(k)))
            .collect();
        want.extend(
            (0..=n)
                .rev()
                .map(|k| format!("undo {} seeing {:?}", names()[k], made(k))),
        );
        assert_eq!(w.log, want, "step {name}");
        assert_eq!(w.outcome, Some(format!("failed: {text}")));
        let row = row_of(&ctx, toy.id).await;
        assert_eq!(row.state, State::Failed);
        assert_eq!(row.error.as_deref(), Some(text.as_str()));
        assert_eq!(row.step_index, 0);
    }
}

#[tokio::test]
async fn a_step_rolled_back_by_a_deadlock_is_done_again_and_fails_only_past_the_retries() {
    let ctx = toy_ctx().await;
    // Three collisions: done a fourth time, and the workflow succeeds.
    let toy = Toy { id: Uuid::new_v4() };
    change(toy.id, |w| w.collisions = Some((ToyStep::Two, 3)));
    workflow::run(&ctx, None, toy.clone()).await.unwrap();
    let w = world(toy.id);
    assert_eq!(w.outcome.as_deref(), Some("succeeded with 4 outputs"));
    let collided = w.log.iter().filter(|l| *l == "collide ToyTwo").count();
    assert_eq!(collided, 3, "{:?}", w.log);
    assert_eq!(w.things.len(), 4, "{w:?}");
    assert_eq!(row_of(&ctx, toy.id).await.state, State::Succeeded);

    // Four: the retries are spent; it unwinds and says what happened, not "internal error".
    let toy = Toy { id: Uuid::new_v4() };
    change(toy.id, |w| w.collisions = Some((ToyStep::Three, 4)));
    let e = workflow::run(&ctx, None, toy.clone()).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    let api = e.to_api();
    assert_eq!(api.text, stratus_management::error::CONFLICTED);
    let w = world(toy.id);
    assert!(w.things.is_empty(), "everything undone: {w:?}");
    assert_eq!(w.outcome, Some(format!("failed: {}", api.text)));
    let row = row_of(&ctx, toy.id).await;
    assert_eq!(row.state, State::Failed);
    assert_eq!(row.error.as_deref(), Some(api.text.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dying_at_each_step_is_resumed_by_another() {
    let ctx = toy_ctx().await;
    for (n, name) in names().into_iter().enumerate() {
        let toy = Toy { id: Uuid::new_v4() };
        let a = other_server(&ctx, "a").await;
        a.faults.set(&format!("hang:{name}"));
        let running = {
            let (a, toy) = (a.clone(), toy.clone());
            tokio::spawn(async move { workflow::run(&a, None, toy).await })
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let rows = db::workflows::workflow_list(
                &ctx.pool,
                &db::workflows::WorkflowFilter {
                    resource_id: Some(toy.id),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .0;
            if rows
                .first()
                .is_some_and(|r| r.step.as_deref() == Some(name))
            {
                break;
            }
            assert!(Instant::now() < deadline, "never reached {name}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        running.abort(); // A dies mid-step: no renewals, no record
        let b = other_server(&ctx, "b").await;
        // A's lease still holds: B is told who runs it.
        let e = workflow::run(&b, None, toy.clone()).await.unwrap_err();
        let text = e.to_api().text;
        assert!(
            text.contains(&a.ms_id.to_string()) && text.contains(name),
            "{text}"
        );
        // The lease lapses; B resumes at the step A was in, with A's outputs.
        sqlx::query(
            "UPDATE workflows SET lease_until = now() - interval '1 second' WHERE resource_id = $1",
        )
        .bind(toy.id)
        .execute(&ctx.pool)
        .await
        .unwrap();
        workflow::run(&b, None, toy.clone()).await.unwrap();
        let w = world(toy.id);
        assert_eq!(w.things.len(), 4, "{w:?}");
        assert_eq!(
            w.log.len(),
            4,
            "steps before {name} by A, the rest by B: {w:?}"
        );
        assert!(
            w.log[n].starts_with(&format!("do {name} seeing")),
            "{:?}",
            w.log
        );
        assert_eq!(w.outcome.as_deref(), Some("succeeded with 4 outputs"));
        let row = row_of(&ctx, toy.id).await;
        assert_eq!(row.state, State::Succeeded);
        assert_eq!(row.owner_ms, Some(b.ms_id));
    }
}

#[tokio::test]
async fn a_server_that_lost_its_claim_cannot_record() {
    let ctx = toy_ctx().await;
    let a = other_server(&ctx, "a").await;
    let b = other_server(&ctx, "b").await;
    let id = WorkflowId::new_v4();
    let new = db::workflows::NewWorkflow {
        id,
        kind: Kind::Test,
        resource_type: "Toy",
        resource_id: Uuid::new_v4(),
        job_id: None,
        step_count: 4,
        first_step: "ToyOne",
        input: json!({"id": Uuid::new_v4()}),
    };
    db::workflows::workflow_insert(&ctx.pool, &new, a.ms_id, 30)
        .await
        .unwrap();
    // B cannot take it while A's lease holds.
    let taken = db::workflows::workflow_claim(&ctx.pool, id, b.ms_id, 30)
        .await
        .unwrap();
    assert!(taken.is_none());
    sqlx::query("UPDATE workflows SET lease_until = now() - interval '1 second' WHERE id = $1")
        .bind(id)
        .execute(&ctx.pool)
        .await
        .unwrap();
    let taken = db::workflows::workflow_claim(&ctx.pool, id, b.ms_id, 30)
        .await
        .unwrap()
        .expect("a lapsed lease is taken over");
    assert_eq!(taken.owner_ms, Some(b.ms_id));
    // A wakes up: none of its writes land.
    let p = &ctx.pool;
    assert!(!db::workflows::workflow_renew(p, id, a.ms_id, 30)
        .await
        .unwrap());
    assert!(
        !db::workflows::workflow_set_step(p, id, a.ms_id, 1, Some("ToyTwo"))
            .await
            .unwrap()
    );
    assert!(!db::workflows::workflow_step_done(
        p,
        id,
        a.ms_id,
        "ToyOne",
        &json!(1),
        1,
        Some("ToyTwo")
    )
    .await
    .unwrap());
    assert!(
        !db::workflows::workflow_set_unwinding(p, id, a.ms_id, 1, "x", 530)
            .await
            .unwrap()
    );
    assert!(!db::workflows::workflow_finish(p, id, a.ms_id, true, None)
        .await
        .unwrap());
    let row = db::workflows::workflow_fetch(p, id).await.unwrap().unwrap();
    assert_eq!((row.state.as_str(), row.step_index), ("Running", 0));
    assert_eq!(row.outputs, json!({}));
    // B's do.
    assert!(db::workflows::workflow_step_done(
        p,
        id,
        b.ms_id,
        "ToyOne",
        &json!(1),
        1,
        Some("ToyTwo")
    )
    .await
    .unwrap());
    // One operation at a time on a resource.
    let second = db::workflows::NewWorkflow {
        id: Uuid::new_v4().into(),
        ..new
    };
    let e = db::workflows::workflow_insert(p, &second, a.ms_id, 30)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_api().code,
        stratus_api::ErrorCode::ResourceInUse,
        "{e}"
    );
}
