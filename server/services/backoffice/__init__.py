"""Read-only views of the back office over several areas: the dashboard, a session's enrollments."""
