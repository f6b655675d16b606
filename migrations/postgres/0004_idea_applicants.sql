-- Who applies with which idea, on PostgreSQL. Applied migrations are never
-- edited: add a new file instead. See migrations/sqlite/0004_idea_applicants.sql
-- for the comments.

CREATE TABLE idea_applicants (
    idea_id   UUID NOT NULL REFERENCES ideas (id),
    person_id UUID NOT NULL,
    PRIMARY KEY (idea_id, person_id)
);
CREATE INDEX idea_applicants_by_person ON idea_applicants (person_id);

-- Backfill: the `Idea` object is the one, at whatever depth, whose id is the
-- row's and that has a lead. (Lax `.**` may visit an object twice; DISTINCT
-- keeps one row.)
INSERT INTO idea_applicants (idea_id, person_id)
SELECT DISTINCT i.id, p.person::uuid
FROM ideas AS i
CROSS JOIN LATERAL jsonb_path_query(
    i.state::jsonb,
    'lax $.** ? (@.id == $id && exists (@.lead.person))',
    jsonb_build_object('id', i.id::text)
) AS found(idea)
CROSS JOIN LATERAL (
    SELECT found.idea #>> '{lead,person}'
    UNION ALL
    SELECT c ->> 'person' FROM jsonb_array_elements(COALESCE(found.idea #> '{details,co_applicants}', '[]'::jsonb)) AS c
) AS p(person);
