"""Courses, sessions, their seats and their waitlists.

Owns ``courses``, ``sessions`` and ``waitlist``; a session's seat fields (``seats_taken``,
``holders``, ``held_for``, ``waiting``) are changed only by the seat ledger (``seats.py``).
Invariants: seats taken plus seats held for the waitlist never exceed the capacity; ``holders`` are
the seat-holding enrollments, ``held_for`` the offered entries, ``waiting`` the waiting ones (what
``reconcile.py`` checks and repairs); a freed seat goes to the first in line.
"""
