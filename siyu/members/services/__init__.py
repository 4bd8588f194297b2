"""Member services. Import from the submodule that holds the rule:

- ``profiles``: scoped reads, filters, create, update, reveal mobile
- ``tags``: tag groups, tagging, rule-based tags
- ``consent``: marketing consent and ``can_market``
- ``privacy``: export and erasure
- ``notes``: staff notes
- ``imports``: CSV/XLSX import and export
- ``signin``: one-time codes and WeChat authorization for the H5 pages
- ``identities``: channel identities (who a WeCom/Telegram user is; linking WeCom contacts after sign-in)
"""
