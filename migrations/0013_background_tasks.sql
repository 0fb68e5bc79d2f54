-- What each management server's background tasks (reconcilers on a timer) last did, so
-- an admin can see that housekeeping runs and why a pass fails (listBackgroundTasks).
CREATE TABLE background_tasks (
    ms_id            uuid NOT NULL REFERENCES management_servers(id) ON DELETE CASCADE,
    name             text NOT NULL,
    interval_secs    integer NOT NULL CHECK (interval_secs > 0),
    runs             bigint NOT NULL DEFAULT 0,
    failures         bigint NOT NULL DEFAULT 0,
    last_run_at      timestamptz NOT NULL,
    last_duration_ms integer NOT NULL DEFAULT 0,
    last_ok_at       timestamptz,
    last_detail      text,
    last_error       text,
    last_error_at    timestamptz,
    PRIMARY KEY (ms_id, name)
);
