-- Project invitations by email (issue 22): CloudStack's mail relay settings for them.
-- With no host the invitation is refused (CloudStack would store one nobody receives).
INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('project.smtp.host', 'Project Defaults', 'SMTP hostname used for sending out email project invitations', '', 'String', '{}', true, 'Project SMTP host'),
('project.smtp.port', 'Project Defaults', 'Port the SMTP server is listening on', '465', 'Integer', '{}', true, 'Project SMTP port'),
('project.smtp.useAuth', 'Advanced', 'If true, use SMTP authentication when sending emails (over TLS: implicit, or STARTTLS with project.smtp.useStartTLS)', 'false', 'Boolean', '{}', true, 'Project SMTP use auth'),
('project.smtp.useStartTLS', 'Advanced', 'If set to true and if we enable security via project.smtp.useAuth, this will enable StartTLS to secure the connection.', 'false', 'Boolean', '{}', true, 'Project SMTP use StartTLS'),
('project.smtp.username', 'Project Defaults', 'Username for SMTP authentication (applies only if project.smtp.useAuth is true)', '', 'String', '{}', true, 'Project SMTP username'),
('project.smtp.password', 'Secure', 'Password for SMTP authentication (applies only if project.smtp.useAuth is true)', '', 'String', '{}', true, 'Project SMTP password'),
('project.email.sender', 'Project Defaults', 'Sender of project invitation email (will be in the From header of the email)', '', 'String', '{}', true, 'Project email sender')
ON CONFLICT (name) DO NOTHING;
