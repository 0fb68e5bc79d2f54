-- Deploy from a template (issue 13): a VM names its template; its root volume is a qcow2
-- overlay on the template's copy ("base") on the volume's primary pool. A base is copied
-- once per pool: the first deploy claims the row (Copying, with a lease it renews while
-- copying), concurrent deploys wait for Ready, and a copier that died is taken over when
-- its lease lapses. A base is removed (by a reconciler) only when no volume is on it.

ALTER TABLE vms ADD COLUMN template_id uuid REFERENCES templates(id) ON DELETE RESTRICT;
ALTER TABLE volumes ADD COLUMN template_id uuid REFERENCES templates(id) ON DELETE RESTRICT;
CREATE INDEX volumes_template_idx ON volumes (template_id, pool_id) WHERE removed IS NULL;

CREATE TABLE template_pool_copies (
    template_id uuid NOT NULL REFERENCES templates(id) ON DELETE RESTRICT,
    pool_id     uuid NOT NULL REFERENCES storage_pools(id) ON DELETE CASCADE,
    state       text NOT NULL CHECK (state IN ('Copying', 'Ready', 'Error')),
    -- The base, relative to the pool's export.
    path        text NOT NULL,
    size_bytes  bigint,
    error_text  text,
    -- The management server copying it, and until when its claim holds.
    owner       uuid,
    lease_until timestamptz,
    created     timestamptz NOT NULL DEFAULT now(),
    updated     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, pool_id)
);
