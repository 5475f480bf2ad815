"""The jobs layer: the same CLI command, run on a remote Ray cluster through the Ray Jobs API."""

from raylight.jobs.submit import job_info, job_logs, list_jobs, stop_job, submit_job, wait_for_job

__all__ = ["job_info", "job_logs", "list_jobs", "stop_job", "submit_job", "wait_for_job"]
