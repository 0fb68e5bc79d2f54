-- Projects (issue 22), as CloudStack has them: a project is backed by an account of type
-- 5 (Project) in the project's domain, created with it, which owns what members create
-- with `projectid`; so the project's resource limits are that account's (max.project.*
-- defaults). Members are accounts with a role in the project (Admin or Regular);
-- invitations (project.invite.required) wait for the invited account or email to accept.

ALTER TABLE accounts DROP CONSTRAINT accounts_account_type_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_account_type_check
    CHECK (account_type IN (0, 1, 2, 3, 4, 5));

CREATE TABLE projects (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    display_text text NOT NULL,
    domain_id    uuid NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
    -- The project's own account: removing it (deleteDomain's cleanup) removes the project.
    account_id   uuid NOT NULL UNIQUE REFERENCES accounts(id) ON DELETE CASCADE,
    state        text NOT NULL DEFAULT 'Active' CHECK (state IN ('Active', 'Suspended', 'Disabled')),
    created      timestamptz NOT NULL DEFAULT now(),
    -- deleteProject marks the project removed (as CloudStack): what it owned (a destroyed
    -- VM, a deleted ISO) keeps its rows, which still name the project's account.
    removed      timestamptz
);
-- CloudStack: a project's name is unique in its domain (among projects not removed).
CREATE UNIQUE INDEX projects_name_domain_key ON projects (domain_id, lower(name)) WHERE removed IS NULL;

CREATE TABLE project_accounts (
    project_id  uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('Admin', 'Regular')),
    created     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, account_id)
);
CREATE INDEX project_accounts_account ON project_accounts (account_id);

CREATE TABLE project_invitations (
    id          uuid PRIMARY KEY,
    project_id  uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    account_id  uuid REFERENCES accounts(id) ON DELETE CASCADE,
    email       text,
    -- Email invitations carry a token the invitee presents to accept.
    token       text,
    role        text NOT NULL DEFAULT 'Regular' CHECK (role IN ('Admin', 'Regular')),
    state       text NOT NULL DEFAULT 'Pending' CHECK (state IN ('Pending', 'Completed', 'Declined', 'Expired')),
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT project_invitations_one_invitee CHECK ((account_id IS NULL) <> (email IS NULL))
);
-- One pending invitation per project and invitee.
CREATE UNIQUE INDEX project_invitations_pending_account ON project_invitations (project_id, account_id)
    WHERE state = 'Pending' AND account_id IS NOT NULL;
CREATE UNIQUE INDEX project_invitations_pending_email ON project_invitations (project_id, lower(email))
    WHERE state = 'Pending' AND email IS NOT NULL;

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('project.invite.required', 'Project Defaults', 'If invitation confirmation is required when add account to project. Default value is false', 'false', 'Boolean', '{}', true, 'Project invite required'),
('project.invite.timeout', 'Project Defaults', 'Invitation expiration time (in seconds). Default is 1 day - 86400 seconds', '86400', 'Long', '{}', true, 'Project invite timeout'),
('allow.user.create.projects', 'Project Defaults', 'If regular user can create a project; true by default', 'true', 'Boolean', '{}', true, 'Allow user create projects'),
('max.project.user.vms', 'Project Defaults', 'The default maximum number of user VMs that can be deployed for a project', '20', 'Long', '{}', true, 'Max project user VMs'),
('max.project.public.ips', 'Project Defaults', 'The default maximum number of public IPs that can be consumed by a project', '20', 'Long', '{}', true, 'Max project public IPs'),
('max.project.volumes', 'Project Defaults', 'The default maximum number of volumes that can be created for a project', '20', 'Long', '{}', true, 'Max project volumes'),
('max.project.snapshots', 'Project Defaults', 'The default maximum number of snapshots that can be created for a project', '20', 'Long', '{}', true, 'Max project snapshots'),
('max.project.templates', 'Project Defaults', 'The default maximum number of templates that can be deployed for a project', '20', 'Long', '{}', true, 'Max project templates'),
('max.project.networks', 'Project Defaults', 'The default maximum number of networks that can be created for a project', '20', 'Long', '{}', true, 'Max project networks'),
('max.project.vpcs', 'Project Defaults', 'The default maximum number of vpcs that can be created for a project', '20', 'Long', '{}', true, 'Max project vpcs'),
('max.project.cpus', 'Project Defaults', 'The default maximum number of cpu cores that can be used for a project', '40', 'Long', '{}', true, 'Max project cpus'),
('max.project.memory', 'Project Defaults', 'The default maximum memory (in MB) that can be used for a project', '40960', 'Long', '{}', true, 'Max project memory'),
('max.project.primary.storage', 'Project Defaults', 'The default maximum primary storage space (in GiB) that can be used for a project', '200', 'Long', '{}', true, 'Max project primary storage'),
('max.project.secondary.storage', 'Project Defaults', 'The default maximum secondary storage space (in GiB) that can be used for a project', '400', 'Long', '{}', true, 'Max project secondary storage')
ON CONFLICT (name) DO NOTHING;
