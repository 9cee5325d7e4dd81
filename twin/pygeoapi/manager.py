"""The process manager: each process runs at once, its answer is its result, no job is kept.

pygeoapi's process managers are a documented plugin point (``server.manager.name`` in the
config), but ours overrides ``execute_process`` of pygeoapi's ``DummyManager``, whose
signature and 5-tuple result are pygeoapi's internals: :func:`twin.pygeoapi.compat.check`
verifies them at start-up. Compared with the dummy manager, a process's own errors keep their
status (400 for bad inputs, 503 when the database is away) instead of all becoming 400 "Error
executing process", and no callback URL is ever called.
"""

from __future__ import annotations

import uuid
from typing import Any

from pygeoapi.process.base import JobNotFoundError
from pygeoapi.process.manager.dummy import DummyManager
from pygeoapi.util import JobStatus, RequestedProcessExecutionMode, RequestedResponse

from twin.processes import InvalidInputError

#: The manager's name in the config: a dotted path pygeoapi imports.
MANAGER = "twin.pygeoapi.manager.SynchronousManager"


class SynchronousManager(DummyManager):
    """Runs each process at once and answers with its result; keeps no jobs.

    pygeoapi's config schema requires ``connection`` and ``output_dir`` for a manager; this
    one uses neither.
    """

    def __init__(self, manager_def: dict) -> None:
        super().__init__({**manager_def, "connection": None, "output_dir": None})

    def execute_process(self, process_id: str, data_dict: dict,
                        execution_mode: RequestedProcessExecutionMode | None = None,
                        requested_outputs: dict | None = None, subscriber: Any = None,
                        requested_response: str | None = RequestedResponse.raw.value,
                        ) -> tuple[str, str, Any, JobStatus, dict[str, str] | None]:
        if subscriber is not None:
            raise InvalidInputError(user_msg="callbacks (subscriber) are not supported; the "
                                             "result is the response")
        processor = self.get_processor(process_id)
        mime_type, outputs = processor.execute(data_dict, outputs=requested_outputs)
        if requested_response == RequestedResponse.document.value:
            # OGC API Processes 1.0 results document: output id -> value; a value that is
            # no JSON (CSV) as a qualified value with its media type.
            if isinstance(outputs, bytes | str):
                text = outputs.decode("utf-8") if isinstance(outputs, bytes) else outputs
                outputs = {"value": text, "mediaType": mime_type.split(";")[0]}
            outputs = {next(iter(processor.metadata["outputs"])): outputs}
            mime_type = "application/json"
        headers = None
        if execution_mode is not None:
            # Asked for async or not, the answer is synchronous: say so.
            headers = {"Preference-Applied": RequestedProcessExecutionMode.wait.value}
        return str(uuid.uuid4()), mime_type, outputs, JobStatus.successful, headers

    def get_job(self, job_id: str) -> dict:
        raise JobNotFoundError(f"no job '{job_id}': processes run synchronously, no job is kept")

    def __repr__(self) -> str:
        return f"<SynchronousManager> {self.name}"
