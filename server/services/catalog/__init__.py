"""Courses, sessions, their seats and their waitlists.

Owns ``courses``, ``sessions`` and ``waitlist``. Invariants: seats taken plus seats held for the
waitlist never exceed the capacity; a freed seat goes to the first in line.
"""
