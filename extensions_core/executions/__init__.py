"""A run's life. Follow one from start to end in four modules:

- `extensions_core.services.executions`: `execution_start` checks the task and its parameters, writes the
  pending row and publishes its message after commit;
- `extensions_core.tasks`: `execution_run_task`, the Celery task a worker runs for that message;
- `extensions_core.services.running`: `execution_run` claims the row, runs the task (in the worker or in a
  sandbox) and records how it ended;
- `extensions_core.executions.transitions`: every status change those make, each one conditional UPDATE.

`states` holds the statuses, failure reasons and triggers they share with the model, the runner and the sandbox.
"""
