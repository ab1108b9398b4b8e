-- Python jobs (`submit --python`): the SHA-256 of the researcher's script, stored under
-- modules/<sha256>.py. NULL for WebAssembly jobs. For a Python job `module_sha256` is the
-- SHA-256 of the trusted runner component that executed the script.
ALTER TABLE jobs ADD COLUMN script_sha256 TEXT;
