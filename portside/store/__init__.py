"""Persistent state.  Layers above type against `interface.Store`; `sqlite/`
is the embedded backend (one module per aggregate, the unit of work in
`sqlite/database.py`, the schema's numbered steps in `sqlite/migrations.py`)."""
