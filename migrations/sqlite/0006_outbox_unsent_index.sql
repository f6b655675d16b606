-- The mail worker's index covers only the mail still to send. Applied
-- migrations are never edited: add a new file instead. Conventions as in 0001.

-- Before, every outbox row stood in the index by status, and a sent mail,
-- nearly every row after a few years, was moved within it once more when
-- recorded. Now a row leaves the index when it is sent or fails for good:
-- the index stays as small as the queue, and recording a mail only removes
-- its entry. The worker's claims name the same condition, so the index
-- serves them.
DROP INDEX outbox_by_status_due;
CREATE INDEX outbox_unsent_by_due ON outbox (status, next_attempt_at) WHERE status IN ('pending', 'sending');
