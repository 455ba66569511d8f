-- Agent ids are globally unique (agt_<uuid>); the widget endpoints look agents up by id alone.
CREATE UNIQUE INDEX assistants_by_id ON assistants (agent_id);
