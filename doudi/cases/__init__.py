"""Case work: the alert loop, applications, recipients, payment rolls and periodic reviews.

Every service function takes the acting :class:`doudi.auth.Actor` first, checks the role's
permission and the division scope, changes the case row under optimistic locking and appends
the change to the case ledger (``case_events``) in the same transaction.
"""
