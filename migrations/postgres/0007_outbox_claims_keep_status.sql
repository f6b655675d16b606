-- A claim no longer writes the status `sending`: it leaves the row
-- `pending` and sets its lease (`lease_until`), and readers show a pending
-- row with a lease as sending. A claim so changes no indexed column, and
-- the queue's index need not move the row. Applied migrations are never
-- edited: add a new file instead. Conventions as in 0001.

-- Rows claimed before this migration keep their lease: they are due again
-- when it lapses, as before.
UPDATE outbox SET status = 'pending' WHERE status = 'sending';

-- Room on each page for the new version of a row, so that a claim (and a
-- retry's lease being cleared) can write it in place, without new entries
-- in the outbox's indexes (a heap-only tuple update).
ALTER TABLE outbox SET (fillfactor = 80);
