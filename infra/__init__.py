"""Starting and stopping the embedded broker and database, and the foreground launcher of the whole stack."""
