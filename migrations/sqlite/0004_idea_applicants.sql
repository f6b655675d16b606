-- Who applies with which idea, on SQLite. Applied migrations are never
-- edited: add a new file instead. Conventions as in 0001.

-- One row per applicant of an idea: the lead and every co-applicant (the
-- people `Idea::is_applicant` names). "My ideas" reads it by person instead
-- of every call's ideas. The store writes it in the same transaction as the
-- idea, whenever the idea's applicants change; `mops verify` checks it
-- against the state the events replay to.
CREATE TABLE idea_applicants (
    idea_id   BLOB NOT NULL REFERENCES ideas (id),
    person_id BLOB NOT NULL,
    PRIMARY KEY (idea_id, person_id)
);
CREATE INDEX idea_applicants_by_person ON idea_applicants (person_id);

-- Backfill from the ideas already stored. The `Idea` (id, lead, details)
-- sits at a different depth in each stage's state (`Pitched` wraps
-- `Selected`, `Withdrawn` wraps what came before), so it is found by walking
-- the JSON: the object under an `idea` key whose id is the row's.
INSERT INTO idea_applicants (idea_id, person_id)
WITH found AS (
    SELECT i.id AS idea_id, t.value AS idea
    FROM ideas AS i, json_tree(i.state) AS t
    WHERE t.key = 'idea'
      AND t.type = 'object'
      AND replace(json_extract(t.value, '$.id'), '-', '') = lower(hex(i.id))
)
SELECT idea_id, unhex(replace(json_extract(idea, '$.lead.person'), '-', '')) FROM found
UNION
SELECT found.idea_id, unhex(replace(json_extract(c.value, '$.person'), '-', ''))
FROM found, json_each(found.idea, '$.details.co_applicants') AS c;
