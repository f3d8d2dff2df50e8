-- A purge is two transactions (storage/media.py): the first marks the photo records
-- purged (no one can use them from then on) and keeps here the file keys they had; the
-- second deletes those files that nothing else uses. Between the two, `keys` says the
-- first is done (a purge cut short in the second, then retried, starts there).
ALTER TABLE media_purges ADD COLUMN IF NOT EXISTS keys text[];
