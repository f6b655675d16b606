-- A claim no longer writes the status `sending`: it leaves the row
-- `pending` and sets its lease (`lease_until`), and readers show a pending
-- row with a lease as sending. A claim so changes no indexed column, and
-- the queue's index need not move the row. Applied migrations are never
-- edited: add a new file instead. Conventions as in 0001.

-- Rows claimed before this migration keep their lease: they are due again
-- when it lapses, as before.
UPDATE outbox SET status = 'pending' WHERE status = 'sending';

-- No query looks outbox rows up by event or by idea (the integrity check
-- reads the whole outbox), yet every row written, and every sent row
-- recorded on PostgreSQL (where a new row version gets new entries in every
-- index), paid for these two.
DROP INDEX outbox_by_event;
DROP INDEX outbox_by_idea;
