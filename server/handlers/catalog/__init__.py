"""HTTP adapters of the catalog: the session list and the staff's course and session admin.
"""
