"""HTTP adapters of the accounts area: registration, login, SMS codes, admin accounts.
"""
