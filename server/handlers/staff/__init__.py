"""HTTP adapters of a unit's staff: list, add, bind, edit, import, bulk photos.
"""
