"""HTTP adapters of enrollment: enroll, cancel, waitlist, templates.
"""
