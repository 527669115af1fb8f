-- Where each visit's media lives in the cluster: exactly one node per visit, chosen when
-- its first participant joins (the row is inserted once; a second insert does nothing and
-- reads the winner), moved only away from a dead or draining node. Times: Unix ms.
CREATE TABLE visit_placements (
    visit_id INTEGER PRIMARY KEY REFERENCES visits(id),
    node_id TEXT NOT NULL,
    placed_at INTEGER NOT NULL
);
CREATE INDEX visit_placements_by_node ON visit_placements (node_id);
