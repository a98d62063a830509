"""The SQL both backends share: repositories written once, with SQLite's `?`
placeholders (the PostgreSQL connection translates them, see
`store.postgres.database.pyformat`) and the few words the dialects spell
differently as class attributes of `SqlRepository`.  Each backend's class
is the shared one over its own database class (e.g. `SqliteTasks(SharedTasks,
SqliteDatabase)`), so its unit of work, helpers and schema stay its own."""
