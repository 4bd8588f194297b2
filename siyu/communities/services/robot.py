"""The group robot: welcome on join, announcements, and ``post_to_group`` for other capabilities.

Implementation owned by the web-channel work; the signatures below are the contract other services call.
"""
