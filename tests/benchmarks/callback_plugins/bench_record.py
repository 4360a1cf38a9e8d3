"""Callback of `make bench`: appends what each timed shm_connection run reports about itself to a JSON-lines file.

The timed playbooks run the shared_memory role as a user would; this callback reads the shm_connection
task's own result (transport, api_requests, remote_commands, changed) without adding a task to the timed run.
The file is $SNAPFLEET_BENCH_RECORD; bench.py enables the callback only for its own runs.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

RECORDED_ACTION = "snapfleet.snapd.shm_connection"
FIELDS = ("transport", "api_requests", "remote_commands", "changed")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_record"
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_on_ok(self, result):
        if result.task.resolved_action != RECORDED_ACTION:
            return
        record = {field: result.result.get(field) for field in FIELDS}
        record["host"] = result.host.get_name()
        with open(os.environ["SNAPFLEET_BENCH_RECORD"], "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
