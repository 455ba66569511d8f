"""The embedded broker and database, the launcher, the Kafka adapter, key and head files, the `revos` command line and the benchmark."""
