"""A trainee's own data: the profile, the ID photo, qualifications.

Owns the GridFS buckets ``photos`` and ``qualification_images`` and the collection
``qualifications``; profile fields live in ``accounts`` and are written through its repository.
Invariants: a stored photo is a normalized 295×413 JPEG with the consent recorded.
"""
