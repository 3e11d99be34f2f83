"""Scheduled runs: a run kicked off each time a cron expression comes due (ScheduleService, and
the loop that fires due schedules)."""
