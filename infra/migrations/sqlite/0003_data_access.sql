-- The data-access record of a finished job: a JSON array of {path, opens, bytes_read}
-- for each file under /data the job opened (NULL when the job never ran).
ALTER TABLE jobs ADD COLUMN data_access TEXT;
