-- Typed settings (issue 17): every setting the server reads has a row, so it can be
-- listed and set. `allow.user.expunge.recover.vm` was read but had no row (it could not
-- be set); CloudStack's name, default and account scope.
INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('allow.user.expunge.recover.vm', 'Advanced', 'Determines whether users can expunge or recover their vm', 'false', 'Boolean', '{account}', true, 'Allow user expunge recover vm')
ON CONFLICT (name) DO NOTHING;
