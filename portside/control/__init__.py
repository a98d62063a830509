"""Use cases: what RunTask, StartTask, the service scheduler and the agent's
reports share (look up, place, launch, report, release), and the transactions
around them.

Layers point one way: server → api → control → scheduler (placement) /
domain / store.  `api/` maps a request to a call here and shapes the answer;
the service scheduler (scheduler/service_reconciler.py) starts and stops tasks
through here too.  Nothing in this package imports `api/` or `server/`.
"""
