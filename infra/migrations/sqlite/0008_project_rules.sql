-- Per-project output-checking rules (issue 4). A project starts from its preset
-- (projects.rules); a rules file may tighten it, and only an administrator may loosen it
-- (policy: Request::SetOutputRules; every change is audited as admin.project.rules with
-- the list of loosenings). The full rule set is stored as printed by RuleSet::to_toml, so a
-- later change to a preset's defaults in code never silently changes a project's rules.
-- No row: the project's preset as it is.
CREATE TABLE project_rules (
    project     TEXT PRIMARY KEY REFERENCES projects(name),
    rules_toml  TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    loosenings  TEXT NOT NULL,      -- JSON array of {parameter, message} against the preset
    set_by      TEXT NOT NULL,
    set_at      TEXT NOT NULL
);
