"""Accounts: who may log in, and how.

Owns ``accounts`` (``accounts.py`` is its one repository), ``tokens``, ``sms_codes``, ``rate_limits``
and ``wechat_bind_tickets``. Invariants: one account per login key; only hashes of tokens and
secrets are stored; accounts of an unfinished import are hidden from every reader.
Also owns ``notify_subscriptions`` (``subscriptions.py``: WeChat subscribe-message consent).
"""
